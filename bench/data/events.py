"""Event recordings -> frames, shared by every event-camera task (CIFAR10-DVS, digits-dvs), then
area-resized to the model's input size, optionally cached on disk, with the train augmentation
(horizontal flip, random roll) on top.

How a recording is cut into T frames (`slicing`), each frame the event count per polarity and pixel:
- `time`: T bins of equal duration (tonic's `ToFrame(n_time_bins=T)`);
- `number`: T slices of N // T events in recording order, the last one also taking the remainder
  (spikingjelly's `split_by='number'`, used by the SEW-ResNet scripts);
- `number-floor`: T slices of N // T events, the remainder dropped (TET's preprocessing script).
`normalise`: `none`, or `max`: each frame divided by its maximum count over both polarities (TET's
script; a frame without events stays zero where TET's would divide by zero).
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from bench.atomic import atomic_path

SLICINGS = ("time", "number", "number-floor")
NORMALISATIONS = ("none", "max")


def count_frames(events: np.ndarray, sensor_size: tuple[int, int, int], n_frames: int, slicing: str) -> np.ndarray:
    """Event counts [T, 2, H, W] of one recording (fields t, x, y, p; sensor_size = (W, H, 2))."""
    if slicing == "time":
        import tonic

        return tonic.transforms.ToFrame(sensor_size=sensor_size, n_time_bins=n_frames)(events)
    if slicing not in SLICINGS:
        raise ValueError(f"event slicing must be one of {SLICINGS}, got {slicing!r}")
    width, height, polarities = sensor_size
    n, per = len(events), len(events) // n_frames
    frame = np.minimum(np.arange(n) // max(per, 1), n_frames - 1) if per else np.full(n, n_frames - 1)
    keep = np.ones(n, bool) if slicing == "number" else np.arange(n) < per * n_frames
    flat = ((frame * polarities + events["p"].astype(np.int64)) * height + events["y"].astype(np.int64)) * width
    flat = flat + events["x"].astype(np.int64)
    counts = np.bincount(flat[keep], minlength=n_frames * polarities * height * width)
    return counts.reshape(n_frames, polarities, height, width)


class EventFrames(Dataset):
    """Frames [T, 2, size, size] (float) of event recordings, sliced and normalised as configured
    (module docstring), area-resized; cached on disk when a cache folder is given."""

    def __init__(self, read, labels, sensor_size, n_time_bins: int, size: int, keys=None, cache: Path | None = None,
                 slicing: str = "time", normalise: str = "none") -> None:
        if slicing not in SLICINGS:
            raise ValueError(f"event slicing must be one of {SLICINGS}, got {slicing!r}")
        if normalise not in NORMALISATIONS:
            raise ValueError(f"frame normalisation must be one of {NORMALISATIONS}, got {normalise!r}")
        self.read, self.labels, self.size, self.keys, self.cache = read, labels, size, keys, cache
        self.sensor_size, self.n_time_bins = tuple(sensor_size), n_time_bins
        self.slicing, self.normalise = slicing, normalise

    def __len__(self) -> int:
        return len(self.labels)

    def _convert(self, index: int) -> torch.Tensor:
        counts = count_frames(self.read(index), self.sensor_size, self.n_time_bins, self.slicing)
        frames = torch.from_numpy(counts.astype(np.float32))  # [T, 2, H, W]
        if self.normalise == "max":
            peak = frames.amax(dim=(1, 2, 3), keepdim=True)
            frames = frames / peak.clamp(min=1.0)  # counts are integers: a nonzero peak is >= 1
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
