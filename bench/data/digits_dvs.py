"""The embedded event-camera task `digits-dvs`: scikit-learn's digits seen by an emulated DVS.

Each 8x8 digit (intensity = pixel / 16) is moved along a saccade path in front of an emulated
8x8 event sensor (bench/data/dvs_emulator.py; seeded by the sample index), which gives a few
hundred ON/OFF events per digit. The `prepare@digits-dvs` stage writes all events once to
`events.npz` in the task's prepared-data folder (tonic-style structured arrays, committed like the
split), and the frames are made by the same code as CIFAR10-DVS (bench/data/events.py): tonic's
ToFrame with equal time bins, then the train augmentation (flip, roll). The split is the `digits`
task's stratified 60/20/20 split.
"""

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from bench.atomic import atomic_path
from bench.data.digits import Digits, digit_images, digits_fingerprint
from bench.data.dvs_emulator import emulate
from bench.data.events import Augmented, EventFrames

SENSOR = (8, 8, 2)
EVENTS_FILE = "events.npz"


def generate_events(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(all events concatenated, offsets) for images [N, 64] with values 0..16."""
    events = [emulate(img.reshape(8, 8) / 16.0, seed=i) for i, img in enumerate(images)]
    offsets = np.cumsum([0] + [len(e) for e in events])
    return np.concatenate(events), offsets


class DigitsDVS:
    num_classes = 10

    def __init__(self, n_time_bins: int, max_shift: int = 1, split_seed: int = 0) -> None:
        self.n_time_bins, self.max_shift, self.split_seed = n_time_bins, max_shift, split_seed
        self.input_shape = (2, 8, 8)
        self.sensor_size = SENSOR

    def fingerprint(self) -> str:
        return digits_fingerprint()

    def make_split(self, folder: Path) -> dict[str, Any]:
        """The digits split; also (re-)generates the events file beside it (deterministic)."""
        images, labels = digit_images()
        events, offsets = generate_events(images)
        with atomic_path(Path(folder) / EVENTS_FILE) as tmp:
            np.savez_compressed(tmp, events=events, offsets=offsets, labels=labels)
        split = Digits(split_seed=self.split_seed).make_split()
        split |= {"dataset": "sklearn-digits-dvs-emulated", "n_events": int(len(events))}
        return split

    @staticmethod
    def _read(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not path.is_file():
            raise FileNotFoundError(f"digits-dvs: {path} not found; create it with `dvc repro prepare@digits-dvs`")
        try:
            with np.load(path) as f:
                return f["events"], f["offsets"], f["labels"]
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:  # truncated or foreign file
            raise ValueError(f"digits-dvs: {path} is not a complete events file ({type(e).__name__}: {e}); "
                             "re-create it with `dvc repro prepare@digits-dvs`") from e

    def datasets(self, split: dict[str, Any], folder: Path) -> dict[str, Dataset]:
        path = Path(folder) / EVENTS_FILE
        events, offsets, event_labels = self._read(path)
        _, labels = digit_images()
        if not np.array_equal(event_labels, labels):
            raise ValueError(f"digits-dvs: {path} does not match scikit-learn's digits; re-create it with `dvc repro prepare`")
        frames = EventFrames(
            read=lambda i: events[offsets[i] : offsets[i + 1]],
            labels=labels.tolist(),
            sensor_size=SENSOR,
            n_time_bins=self.n_time_bins,
            size=8,
        )
        return {
            "train": Augmented(frames, split["train"], self.max_shift),
            "val": Augmented(frames, split["val"], 0),
            "test": Augmented(frames, split["test"], 0),
        }
