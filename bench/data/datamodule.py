"""The general DataModule: a dataset source plus a persisted split file.

The split is written once by the pipeline's `prepare` stage (`python -m bench.prepare <task>`)
and committed, so every run of every neuron trains, selects and tests on exactly the same
samples, and the split can be cited.
"""

import json
import os
from pathlib import Path
from typing import Any, Protocol

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

SPLITS = ("train", "val", "test")


class DatasetSource(Protocol):
    """What a dataset must provide to be benchmarked."""

    num_classes: int
    input_shape: tuple[int, ...]  # (C, H, W) of one sample

    def make_split(self) -> dict[str, Any]:
        """A JSON-serialisable split: `protocol`, `fingerprint` and sample ids per split in SPLITS."""

    def datasets(self, split: dict[str, Any]) -> dict[str, Dataset]:
        """The train/val/test datasets (with their transforms) for a split made by `make_split`."""


class ClassificationDataModule(L.LightningDataModule):
    def __init__(
        self,
        source: DatasetSource,
        split_file: str,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.split_file = Path(split_file)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory  # None: when on GPU
        self.split: dict[str, Any] | None = None
        self.data: dict[str, Dataset] = {}

    @property
    def num_classes(self) -> int:
        return self.source.num_classes

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.source.input_shape)

    def write_split(self) -> dict[str, Any]:
        """Make the split and write it atomically (never a half-written file)."""
        split = self.source.make_split()
        missing = [k for k in ("protocol", "fingerprint", *SPLITS) if k not in split]
        if missing:
            raise ValueError(f"{type(self.source).__name__}.make_split() lacks {missing}")
        self.split_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.split_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(split, indent=1) + "\n")
        os.replace(tmp, self.split_file)
        return split

    def read_split(self) -> dict[str, Any]:
        if not self.split_file.is_file():
            raise FileNotFoundError(
                f"split file {self.split_file} not found: create it with `dvc repro prepare` "
                f"(or `python -m bench.prepare <task>`) from the repository root"
            )
        try:
            return json.loads(self.split_file.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"split file {self.split_file} is not valid JSON ({e}); re-create it with `dvc repro prepare`") from e

    def setup(self, stage: str | None = None) -> None:
        if not self.data:
            self.split = self.read_split()
            self.data = self.source.datasets(self.split)
            empty = [name for name in SPLITS if len(self.data[name]) == 0]
            if empty:
                raise ValueError(f"{self.split_file}: the {empty} split(s) are empty; check the dataset and the split settings")

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.data[split],
            batch_size=self.batch_size if shuffle else self.eval_batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
