"""CIFAR10-DVS through tonic (`<root>/cifar10dvs/CIFAR10DVS/<class>/*.aedat4`, the layout of
tonic's re-hosted AEDAT4 copy).

Events -> frames [T, 2, 128, 128] of event counts, as `slicing` and `normalise` say
(bench.data.events): `time` (T bins of equal duration, tonic's ToFrame; this suite's default),
`number` (T slices of equal event count, the remainder in the last: spikingjelly's
`split_by='number'`, which the SEW-ResNet scripts use) or `number-floor` (N // T events per frame,
the remainder dropped, and `normalise: max`, each frame divided by its maximum: TET's
preprocessing script). Frames are area-resized to `size` x `size` (48 for VGGSNN) and cached on
disk, keyed by every setting that changes them. Train augmentation (after the cache): horizontal
flip and a random roll of up to `max_shift` pixels in x and y.

CIFAR10-DVS has no official split, and accuracy depends on it (paper.md §5), so the protocol is
named and recorded: `first90` (per class, the first 90% of the sorted files train, the last 10%
test; SEW-ResNet/Spikformer through spikingjelly's `split_to_train_test_set`), `tebn` (per class,
sorted files 0-99 test, the rest train; TEBN), `tet70` (per class, recordings 0-699 by their
number train, 700-999 test: `train_test_portion = 0.7` of TET's preprocessing script),
`random` (per class, a seeded random 10% test). Files are sorted by path (plain string order)
before splitting. The validation set is a seeded `val_fraction` of each class's training part;
`val_fraction: 0` is the references' own protocol, which has no validation set: the test split
then serves as the validation split too, so checkpoints are selected on the test set (optimistic,
and the recorded protocol says so). The protocol recorded in every record names the split, the
validation and the framing.
"""

import hashlib
import json
import os
import re
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from bench.data.events import NORMALISATIONS, SLICINGS, Augmented, EventFrames
from bench.data.fingerprint import labels_fingerprint
from bench.data.root import dataset_root

PROTOCOLS = ("first90", "tebn", "tet70", "random")
HOWTO = (
    "download CIFAR10DVS.zip from https://figshare.com/ndownloader/files/38023437 (tonic's copy), extract it and "
    "the per-class zips inside it so that {folder}/<class>/*.aedat4 exist (10 class folders), or set BENCH_DATA_DIR"
)


def _tonic_dataset(save_to: Path):
    """tonic's CIFAR10DVS reading the files in place; its download check is replaced by ours."""
    import tonic

    class CIFAR10DVS(tonic.datasets.CIFAR10DVS):  # same class name: tonic reads <save_to>/<class name>/
        def _check_exists(self) -> bool:
            return True

    return CIFAR10DVS(str(save_to))


class CIFAR10DVS:
    num_classes = 10

    def __init__(
        self,
        n_time_bins: int,
        root: str | None = None,
        size: int = 48,
        protocol: str = "first90",
        split_seed: int = 0,
        val_fraction: float = 0.1,
        max_shift: int = 5,
        cache: bool = True,
        slicing: str = "time",
        normalise: str = "none",
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"cifar10dvs protocol must be one of {PROTOCOLS}, got {protocol!r}")
        if slicing not in SLICINGS or normalise not in NORMALISATIONS:
            raise ValueError(f"cifar10dvs slicing must be one of {SLICINGS} and normalise one of {NORMALISATIONS}, "
                             f"got {slicing!r} and {normalise!r}")
        if not 0 <= val_fraction < 1:
            raise ValueError(f"cifar10dvs val_fraction must be in [0, 1) (0: no validation split), got {val_fraction}")
        self.slicing, self.normalise = slicing, normalise
        self.save_to = dataset_root("cifar10dvs", root)
        self.folder = self.save_to / "CIFAR10DVS"
        self.n_time_bins, self.size, self.protocol = n_time_bins, size, protocol
        self.split_seed, self.val_fraction, self.max_shift, self.cache = split_seed, val_fraction, max_shift, cache
        self.input_shape = (2, size, size)

    @cached_property
    def files(self) -> tuple[list[str], list[int]]:
        """(paths relative to the dataset folder, labels), sorted by path (listed once)."""
        if not self.folder.is_dir():
            raise FileNotFoundError(f"cifar10dvs: {self.folder} not found; {HOWTO.format(folder=self.folder)}")
        import tonic

        strays = sorted(p.name for p in self.folder.iterdir() if p.is_dir() and p.name not in tonic.datasets.CIFAR10DVS.classes)
        if strays:  # e.g. __MACOSX/ from a zip made on a Mac: tonic would fail on it with a bare KeyError
            raise ValueError(f"cifar10dvs: {self.folder} holds folders that are not classes ({', '.join(strays)}); remove them")
        ds = _tonic_dataset(self.save_to)
        classes = {Path(p).parent.name for p in ds.data}
        if len(classes) != self.num_classes:
            raise ValueError(
                f"cifar10dvs: {self.folder} holds AEDAT4 files of {len(classes)} classes, expected {self.num_classes}; "
                f"{HOWTO.format(folder=self.folder)}"
            )
        pairs = sorted(zip((os.path.relpath(p, self.folder) for p in ds.data), ds.targets))
        return [p for p, _ in pairs], [t for _, t in pairs]

    def fingerprint(self) -> str:
        """The labels and the file list: a split is never applied to other recordings."""
        paths, labels = self.files
        return labels_fingerprint(labels) + ":" + hashlib.sha256("\n".join(paths).encode()).hexdigest()[:16]

    def make_split(self, folder: Path | None = None) -> dict[str, Any]:
        paths, labels = self.files
        labels_np = np.asarray(labels)
        rng = np.random.default_rng(self.split_seed)
        train, val, test = [], [], []
        for c in range(self.num_classes):
            members = np.flatnonzero(labels_np == c)  # in sorted-path order
            n_test = len(members) // 10
            if self.protocol == "first90":
                class_test, class_train = members[len(members) - n_test :], members[: len(members) - n_test]
            elif self.protocol == "tebn":
                class_test, class_train = members[:100], members[100:]
            elif self.protocol == "tet70":
                number = np.array([recording_number(paths[i]) for i in members])
                class_test, class_train = np.sort(members[number >= 700]), np.sort(members[number < 700])
            else:
                shuffled = rng.permutation(members)
                class_test, class_train = np.sort(shuffled[:n_test]), np.sort(shuffled[n_test:])
            if self.val_fraction:
                class_val = np.sort(rng.choice(class_train, size=round(self.val_fraction * len(class_train)), replace=False))
                train += np.setdiff1d(class_train, class_val).tolist()
                val += class_val.tolist()
            else:  # the references' protocol: no validation split, the test split selects
                train += class_train.tolist()
                val += class_test.tolist()
            test += class_test.tolist()
        return {
            "dataset": "cifar10dvs",
            "protocol": self.protocol_name(),
            "files": paths,
            "train": sorted(int(i) for i in train),
            "val": sorted(int(i) for i in val),
            "test": sorted(int(i) for i in test),
        }

    def protocol_name(self) -> str:
        """What every record and table shows: split, validation and framing."""
        validation = f"val {self.val_fraction:g} of train" if self.val_fraction else "no val: selected on test, optimistic"
        return f"{self.protocol}, {validation}, frames {self.slicing}/{self.normalise}"

    def read_events(self, relative_path: str) -> np.ndarray:
        from tonic.io import read_aedat4

        path = self.folder / relative_path
        try:
            events = read_aedat4(str(path))
        except Exception as e:
            raise ValueError(f"cifar10dvs: cannot parse {path} as AEDAT4 ({e}); replace the file with a good copy") from e
        events.dtype.names = ["t", "x", "y", "p"]
        return events

    def cache_dir(self) -> Path:
        """One folder per setting that changes the frames, so a cache is never stale."""
        import tonic

        key = {"n_time_bins": self.n_time_bins, "size": self.size, "slicing": self.slicing, "normalise": self.normalise,
               "resize": "area", "tonic": tonic.__version__}
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        return self.save_to / "frames-cache" / digest

    def datasets(self, split: dict[str, Any], folder: Path | None = None) -> dict[str, Dataset]:
        paths, labels = self.files
        frames = EventFrames(
            read=lambda i: self.read_events(paths[i]),
            labels=labels,
            sensor_size=(128, 128, 2),
            n_time_bins=self.n_time_bins,
            size=self.size,
            keys=paths,
            cache=self.cache_dir() if self.cache else None,
            slicing=self.slicing,
            normalise=self.normalise,
        )
        return {
            "train": Augmented(frames, split["train"], self.max_shift),
            "val": Augmented(frames, split["val"], 0),
            "test": Augmented(frames, split["test"], 0),
        }


def recording_number(relative_path: str) -> int:
    """The number a recording's file name ends with (`airplane/cifar10_airplane_42.aedat4` -> 42)."""
    match = re.search(r"(\d+)\.aedat4$", relative_path)
    if not match:
        raise ValueError(f"cifar10dvs: {relative_path} does not end in a recording number; protocol tet70 needs one")
    return int(match.group(1))
