"""The general DataModule: a dataset source plus a persisted split file.

The split is written once by the pipeline's `prepare` stage (`python -m bench.prepare <task>`)
and committed, so every run of every neuron trains, selects and tests on exactly the same
samples, and the split can be cited.

It also shards the data across DDP processes itself (the Trainer runs with
use_distributed_sampler=False), so that a run's numbers do not depend on the process count:
`batch_size` is the global batch, split evenly across processes; training order comes from one
DistributedSampler permutation per epoch (seeded by the cell's seed), whose every global batch
holds the same samples for any process count; validation and test give each sample to exactly
one process (no padding repeats, which would count some test samples twice).
"""

import json
import os
from pathlib import Path
from typing import Any, Protocol

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

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
        shuffle_seed: int = 0,
    ) -> None:
        super().__init__()
        self.source = source
        self.split_file = Path(split_file)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory  # None: when on GPU
        self.shuffle_seed = shuffle_seed  # bench.train passes the cell's seed
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

    def processes(self) -> tuple[int, int]:
        """(world size, this process's rank) of the attached Trainer; (1, 0) without one."""
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)

    def _loader(self, data: Dataset, batch_size: int, sampler=None) -> DataLoader:
        return DataLoader(
            data,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory,
        )

    def train_dataloader(self) -> DataLoader:
        world, rank = self.processes()
        if self.batch_size % world:
            raise ValueError(
                f"data.batch_size={self.batch_size} is the global batch and must divide evenly across the "
                f"{world} processes; choose trainer.devices x trainer.num_nodes that divides it"
            )
        # Lightning sets the epoch on this sampler, so every epoch has its own permutation.
        sampler = DistributedSampler(self.data["train"], num_replicas=world, rank=rank, shuffle=True, seed=self.shuffle_seed)
        return self._loader(self.data["train"], self.batch_size // world, sampler)

    def _eval_loader(self, split: str) -> DataLoader:
        world, rank = self.processes()
        data = self.data[split]
        if world > 1:
            data = Subset(data, range(rank, len(data), world))  # every sample on exactly one process
        return self._loader(data, max(1, self.eval_batch_size // world))

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")
