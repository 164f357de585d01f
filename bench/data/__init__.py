"""Datasets as LightningDataModules. A dataset *source* knows how to read one dataset and how to
split it; `ClassificationDataModule` is the one DataModule every task uses."""

from bench.data.datamodule import ClassificationDataModule, DatasetSource

__all__ = ["ClassificationDataModule", "DatasetSource"]
