"""Event recordings -> frames, shared by every event-camera task (CIFAR10-DVS, digits-dvs):
tonic's ToFrame with T equal time bins, area-resized to the model's input size, optionally cached
on disk, and the train augmentation (horizontal flip, random roll) on top."""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from bench.atomic import atomic_path


class EventFrames(Dataset):
    """Frames [T, 2, size, size] (float event counts) of event recordings: tonic's ToFrame with T
    equal time bins, area-resized; cached on disk when a cache folder is given."""

    def __init__(self, read, labels, sensor_size, n_time_bins: int, size: int, keys=None, cache: Path | None = None) -> None:
        import tonic

        self.read, self.labels, self.size, self.keys, self.cache = read, labels, size, keys, cache
        self.sensor_size = tuple(sensor_size)
        self.to_frame = tonic.transforms.ToFrame(sensor_size=self.sensor_size, n_time_bins=n_time_bins)

    def __len__(self) -> int:
        return len(self.labels)

    def _convert(self, index: int) -> torch.Tensor:
        frames = torch.from_numpy(self.to_frame(self.read(index)).astype(np.float32))  # [T, 2, H, W]
        if frames.shape[-2:] == (self.size, self.size):
            return frames
        return F.interpolate(frames, size=(self.size, self.size), mode="area")

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if self.cache is None:
            return self._convert(index), self.labels[index]
        cached = self.cache / (self.keys[index] + ".pt")
        if cached.is_file():
            return torch.load(cached, weights_only=True), self.labels[index]
        frames = self._convert(index)
        with atomic_path(cached) as tmp:  # concurrent workers never read a partial file
            torch.save(frames, tmp)
        return frames, self.labels[index]


class Augmented(Dataset):
    """A subset of the frames, with the train augmentation when max_shift > 0."""

    def __init__(self, frames: EventFrames, indices: list[int], max_shift: int) -> None:
        self.frames, self.indices, self.max_shift = frames, list(indices), max_shift

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x, y = self.frames[self.indices[i]]
        if self.max_shift:
            if torch.rand(()) < 0.5:
                x = x.flip(-1)
            dx, dy = torch.randint(-self.max_shift, self.max_shift + 1, (2,)).tolist()
            x = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
        return x, y
