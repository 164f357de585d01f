"""The embedded default dataset: scikit-learn's 1,797 real 8x8 handwritten digits (UCI optical
recognition of handwritten digits, test part). They ship inside scikit-learn, so the benchmark
runs anywhere with nothing to download."""

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import TensorDataset

from bench.data.fingerprint import fingerprint


@cache
def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """(images [1797, 64] float32 with values 0..16, labels int64), as scikit-learn ships them."""
    images, labels = load_digits(return_X_y=True)
    return images.astype(np.float32), labels.astype(np.int64)


def standardised(split: dict[str, Any], shape: tuple[int, ...]) -> dict[str, TensorDataset]:
    """train/val/test of the split, each image reshaped to `shape` and its pixels (0..16)
    standardised with the training set's mean and std."""
    images, labels = digit_images()
    x = torch.from_numpy(images).reshape(-1, *shape)
    y = torch.from_numpy(labels)
    train = x[split["train"]]
    mean, std = train.mean(), train.std()
    return {name: TensorDataset((x[split[name]] - mean) / std, y[split[name]]) for name in ("train", "val", "test")}


def digits_fingerprint() -> str:
    """sha256 of the raw pixels and labels."""
    return fingerprint(*digit_images())


class Digits:
    """Stratified train/val/test split of sklearn's digits; pixels (0..16) are standardised with
    the training set's mean and std."""

    num_classes = 10
    input_shape = (1, 8, 8)

    def __init__(self, val_fraction: float = 0.2, test_fraction: float = 0.2, split_seed: int = 0) -> None:
        if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
            raise ValueError(
                f"digits: val_fraction ({val_fraction}) and test_fraction ({test_fraction}) must be in (0, 1) "
                "and sum to less than 1"
            )
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed

    def fingerprint(self) -> str:
        return digits_fingerprint()

    def make_split(self, folder: Path | None = None) -> dict[str, Any]:
        _, labels = digit_images()
        ids = np.arange(len(labels))
        rest, test = train_test_split(
            ids, test_size=self.test_fraction, stratify=labels, random_state=self.split_seed
        )
        val_share = self.val_fraction / (1 - self.test_fraction)
        train, val = train_test_split(
            rest, test_size=val_share, stratify=labels[rest], random_state=self.split_seed
        )
        train_pct = round(100 * (1 - self.val_fraction - self.test_fraction))
        return {
            "dataset": "sklearn-digits",
            "protocol": f"stratified-{train_pct}/{round(100 * self.val_fraction)}/{round(100 * self.test_fraction)}"
            f"-seed{self.split_seed}",
            "train": sorted(train.tolist()),
            "val": sorted(val.tolist()),
            "test": sorted(test.tolist()),
        }

    def datasets(self, split: dict[str, Any], folder: Path | None = None) -> dict[str, TensorDataset]:
        return standardised(split, self.input_shape)
