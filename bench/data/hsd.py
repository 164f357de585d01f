"""The Heidelberg spiking datasets (Cramer et al. 2020, https://zenkelab.org/datasets/): the
Spiking Heidelberg Digits (SHD: spoken digits 0-9 in English and German, 20 classes) and the
Spiking Speech Commands (SSC: Speech Commands v0.2, 35 classes), each recording turned into the
spikes of 700 channels by a model of the inner ear.

Files: `<root>/shd/shd_{train,test}.h5` and `<root>/ssc/ssc_{train,valid,test}.h5`, the published
HDF5 files (unzipped), which hold per recording `spikes/times` (seconds) and `spikes/units`
(channel 0-699) and `labels`. They are read with h5py, one recording at a time: tonic's SHD/SSC
read the same fields but open the file again for every sample, and fetch the archives when a
file is missing (here a missing file is an error naming the URL and `python -m bench.data check`).

Spikes -> a raster [T, 700 / pool] of spike counts: T bins of window_s / T seconds over
[0, window_s) (spikes after window_s are dropped; window_s = 1.4 s and T = 100 are the values of
Zenke's SpyTorch SHD tutorial, which the Cramer et al. 2020 baselines use), and `pool` adjacent
channels summed into one input (Bittar & Garner 2022 use 5: 140 inputs).

Splits: the published train and test files (SSC also its valid file). SHD has no validation
split, so its protocol is named: `random` (a seeded class-stratified `val_fraction` of the
training file; the 2 speakers of SHD's test file are never in it) or `none` (the test file also
selects the checkpoint: optimistic, and the recorded protocol says so). SSC's default is its
published `valid` file.
"""

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from bench.data.fingerprint import labels_fingerprint
from bench.data.root import dataset_root
from bench.data.splits import stratified_holdout

URL = "https://zenkelab.org/datasets/"
CHANNELS = 700  # the cochlea model's channels in both datasets
VALIDATIONS = ("published", "random", "none")


class SpikeRaster(Dataset):
    """One published HDF5 file as (raster [T, 700 / pool] float32 of spike counts, label)."""

    def __init__(self, path: Path, steps: int, window_s: float, pool: int) -> None:
        self.path, self.steps, self.window_s, self.pool = path, steps, window_s, pool
        self._file = None  # opened on first use, in the process that reads (h5py handles do not survive fork)
        self.labels = read_labels(path)

    def __len__(self) -> int:
        return len(self.labels)

    def spikes(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(times in seconds, channels) of one recording."""
        if self._file is None:
            import h5py

            self._file = h5py.File(self.path, "r")
        return self._file["spikes/times"][index], self._file["spikes/units"][index]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        times, units = self.spikes(index)
        return bin_spikes(times, units, self.steps, self.window_s, self.pool), int(self.labels[index])

    def __getstate__(self) -> dict:  # DataLoader workers open their own handle
        return {**self.__dict__, "_file": None}


def bin_spikes(times: np.ndarray, units: np.ndarray, steps: int, window_s: float, pool: int) -> torch.Tensor:
    """Spike counts [steps, CHANNELS // pool]: spike k falls into bin floor(times[k] / window_s *
    steps) and input units[k] // pool; spikes at or after window_s are dropped."""
    bins = np.floor(np.asarray(times, np.float64) * (steps / window_s)).astype(np.int64)
    keep = (bins >= 0) & (bins < steps)
    inputs = CHANNELS // pool
    flat = bins[keep] * inputs + np.asarray(units, np.int64)[keep] // pool
    counts = np.bincount(flat, minlength=steps * inputs).reshape(steps, inputs)
    return torch.from_numpy(counts.astype(np.float32))


def read_labels(path: Path) -> np.ndarray:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return f["labels"][()].astype(np.int64)
    except (OSError, KeyError) as e:
        raise ValueError(f"{path}: not a Heidelberg spiking-dataset HDF5 file with `labels` ({e}); download it again "
                         f"from {URL} and check it with `python -m bench.data check <task>`") from e


class _Heidelberg:
    """What SHD and SSC share; the subclasses name the files, the classes and the default validation."""

    name: str
    num_classes: int
    parts: tuple[str, ...]  # the published files' parts
    published_counts: dict[str, int]  # recordings per part (Cramer et al. 2020)

    def __init__(self, steps: int, root: str | None = None, window_s: float = 1.4, pool: int = 1,
                 validation: str = "random", val_fraction: float = 0.1, split_seed: int = 0) -> None:
        if not (isinstance(steps, int) and steps >= 1):
            raise ValueError(f"{self.name}: steps must be an integer >= 1, got {steps!r}")
        if not window_s > 0:
            raise ValueError(f"{self.name}: window_s must be > 0 (seconds), got {window_s!r}")
        if not (isinstance(pool, int) and pool >= 1 and CHANNELS % pool == 0):
            raise ValueError(f"{self.name}: pool must be an integer that divides {CHANNELS}, got {pool!r}")
        allowed = VALIDATIONS if "valid" in self.parts else tuple(v for v in VALIDATIONS if v != "published")
        if validation not in allowed:
            raise ValueError(f"{self.name}: validation must be one of {allowed}, got {validation!r}")
        if validation == "random" and not 0 < val_fraction < 1:
            raise ValueError(f"{self.name}: val_fraction must be in (0, 1) with validation: random, got {val_fraction!r}")
        self.folder = dataset_root(self.name, root)
        self.steps, self.window_s, self.pool = steps, float(window_s), pool
        self.validation, self.val_fraction, self.split_seed = validation, val_fraction, split_seed
        self.input_shape = (CHANNELS // pool,)  # per timestep

    def path(self, part: str) -> Path:
        return self.folder / f"{self.name}_{part}.h5"

    @cached_property
    def files(self) -> dict[str, SpikeRaster]:
        missing = [self.path(p).name for p in self.parts if not self.path(p).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{self.name}: {', '.join(missing)} not found in {self.folder}; download {URL}"
                f"{self.name}_<part>.h5.zip (or .gz), unpack it there (or set BENCH_DATA_DIR), and check the files with "
                f"`python -m bench.data check <task>`")
        return {p: SpikeRaster(self.path(p), self.steps, self.window_s, self.pool) for p in self.parts}

    def fingerprint(self) -> str:
        return labels_fingerprint(*(self.files[p].labels for p in self.parts))

    def make_split(self, folder: Path | None = None) -> dict[str, Any]:
        train = self.files["train"]
        found = int(max(f.labels.max() for f in self.files.values())) + 1
        if found > self.num_classes:
            raise ValueError(f"{self.name}: {train.path} has label {found - 1}, expected {self.num_classes} classes")
        val: str | list[int] = f"{self.name}_valid.h5 (published)"
        if self.validation == "random":
            val = stratified_holdout(train.labels, total=round(self.val_fraction * len(train)), seed=self.split_seed)
        elif self.validation == "none":
            val = f"{self.name}_test.h5: no validation split, selected on test (optimistic)"
        return {
            "dataset": self.name,
            "protocol": self.protocol_name(),
            "n_train_pool": len(train),
            "train": f"{self.name}_train.h5" + (" not in val" if self.validation == "random" else ""),
            "val": val,
            "test": f"{self.name}_test.h5 (published)",
        }

    def protocol_name(self) -> str:
        """What every record and table shows: split, validation and binning."""
        validation = {"published": "val published", "none": "no val: selected on test, optimistic",
                      "random": f"val {self.val_fraction:g} of train, seed {self.split_seed}"}[self.validation]
        return (f"{self.name} train/test published, {validation}, {self.steps} bins over {self.window_s:g} s, "
                f"{CHANNELS // self.pool} inputs")

    def datasets(self, split: dict[str, Any], folder: Path | None = None) -> dict[str, Dataset]:
        train, test = self.files["train"], self.files["test"]
        if self.validation == "random":
            val = np.asarray(split["val"], dtype=np.int64)
            kept = np.setdiff1d(np.arange(len(train)), val)
            return {"train": Subset(train, kept.tolist()), "val": Subset(train, val.tolist()), "test": test}
        return {"train": train, "val": self.files["valid"] if self.validation == "published" else test, "test": test}


class SHD(_Heidelberg):
    name, num_classes, parts = "shd", 20, ("train", "test")
    published_counts = {"train": 8156, "test": 2264}


class SSC(_Heidelberg):
    name, num_classes, parts = "ssc", 35, ("train", "valid", "test")
    published_counts = {"train": 75466, "valid": 9981, "test": 20382}

    def __init__(self, steps: int, root: str | None = None, window_s: float = 1.4, pool: int = 1,
                 validation: str = "published", val_fraction: float = 0.1, split_seed: int = 0) -> None:
        super().__init__(steps, root, window_s, pool, validation, val_fraction, split_seed)
