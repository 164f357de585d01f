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
from pathlib import Path
from typing import Any, Protocol

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from bench.atomic import write_text

SPLITS = ("train", "val", "test")


class DataError(ValueError):
    """Prepared data that cannot be used as it is (the message names the file and what to do)."""
SPLIT_FILE = "split.json"


class DatasetSource(Protocol):
    """What a dataset must provide to be benchmarked. `folder` is the task's prepared-data folder
    (data/prepared/<task>/, committed): the split file lies there, and a source that generates its
    data (digits-dvs) writes it there in make_split and reads it back in datasets."""

    num_classes: int
    input_shape: tuple[int, ...]  # one sample (per timestep for event frames): (C, H, W) for images, (C,) for a vector

    def fingerprint(self) -> str:
        """A hash of the data the source reads (e.g. its labels), so that a split is never applied
        to other data silently."""

    def make_split(self, folder: Path) -> dict[str, Any]:
        """A JSON-serialisable split: `protocol` and sample ids per split in SPLITS."""

    def datasets(self, split: dict[str, Any], folder: Path) -> dict[str, Dataset]:
        """The train/val/test datasets (with their transforms) for a split made by `make_split`."""


def stamped(split: dict[str, Any], fingerprint: str) -> dict[str, Any]:
    """The split with the data's fingerprint, placed right after its protocol name."""
    out: dict[str, Any] = {}
    for key, value in split.items():
        out[key] = value
        if key == "protocol":
            out["fingerprint"] = fingerprint
    return out


class ClassificationDataModule(L.LightningDataModule):
    def __init__(
        self,
        source: DatasetSource,
        prepared_dir: str,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        shuffle_seed: int = 0,
        test_every_epoch: bool = True,
    ) -> None:
        super().__init__()
        self.source = source
        self.prepared_dir = Path(prepared_dir)  # bench.config.prepared_dir(task), passed by bench.builder
        self.split_file = self.prepared_dir / SPLIT_FILE
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory  # None: when on GPU
        self.shuffle_seed = shuffle_seed  # bench.builder passes the cell's seed
        # the test split as a second validation loader: the max test top-1 over epochs that the
        # literature reports (optimistic); selection and the headline never see it
        self.test_every_epoch = test_every_epoch
        self.split: dict[str, Any] | None = None
        self.data: dict[str, Dataset] = {}

    @property
    def num_classes(self) -> int:
        return self.source.num_classes

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.source.input_shape)

    def write_split(self) -> dict[str, Any]:
        """Make the split, stamp it with the data's fingerprint and write it atomically."""
        split = self.source.make_split(self.prepared_dir)
        missing = [k for k in ("protocol", *SPLITS) if k not in split]
        if missing:
            raise ValueError(f"{type(self.source).__name__}.make_split() lacks {missing}")
        split = stamped(split, self.source.fingerprint())
        write_text(self.split_file, json.dumps(split, indent=1) + "\n")
        return split

    def read_split(self) -> dict[str, Any]:
        if not self.split_file.is_file():
            raise FileNotFoundError(
                f"split file {self.split_file} not found: create it with `dvc repro prepare` "
                f"(or `python -m bench.prepare <task>`) from the repository root"
            )
        try:
            split = json.loads(self.split_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(
                f"split file {self.split_file} is not valid JSON ({e}); re-create it with `dvc repro prepare`"
            ) from e
        # each split is a list of sample indices, or a description where the dataset fixes it ("official test set")
        parts = [split.get(name) for name in SPLITS if name in split] if isinstance(split, dict) else None
        if parts is None or not all(isinstance(v, str) or (isinstance(v, list) and all(type(i) is int and i >= 0 for i in v))
                                    for v in parts):
            raise DataError(f"split file {self.split_file} is not a split (an object whose train/val/test are lists of "
                             "sample indices, or descriptions); re-create it with `dvc repro prepare`")
        if split.get("fingerprint") != self.source.fingerprint():
            raise ValueError(
                f"split file {self.split_file} was made from other data than {type(self.source).__name__} reads now; "
                "re-create it with `dvc repro prepare` (and re-run the cells that used it)"
            )
        return split

    def setup(self, stage: str | None = None) -> None:
        if not self.data:
            self.split = self.read_split()
            try:
                self.data = self.source.datasets(self.split, self.prepared_dir)
            except IndexError as e:  # a split index beyond the data
                raise DataError(f"{self.split_file}: a split lists a sample the data does not have ({e}); "
                                "re-create it with `dvc repro prepare`") from e
            for name in SPLITS:  # an index beyond the data would fail mid-epoch, far from its cause
                data = self.data[name]
                if isinstance(data, Subset) and len(data.indices) and max(data.indices) >= len(data.dataset):
                    raise DataError(f"{self.split_file}: the {name} split lists sample {max(data.indices)} of a dataset "
                                     f"of {len(data.dataset)}; re-create it with `dvc repro prepare`")
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

    def eval_loader(self, split: str) -> DataLoader:
        world, rank = self.processes()
        data = self.data[split]
        if world > 1:
            data = Subset(data, range(rank, len(data), world))  # every sample on exactly one process
        return self._loader(data, max(1, self.eval_batch_size // world))

    def val_dataloader(self) -> DataLoader | list[DataLoader]:
        if self.test_every_epoch:
            return [self.eval_loader("val"), self.eval_loader("test")]
        return self.eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self.eval_loader("test")
