"""Where datasets live: `root` from the task config, else $BENCH_DATA_DIR, else `data/` in the
checkout; one folder per dataset, laid out as the upstream loader expects. Resolved when a run
starts (never at config composition), so params.yaml stays machine-independent."""

import copy
import hashlib
import os
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset, Subset


def dataset_root(folder: str, root: str | None = None) -> Path:
    base = Path(root) if root else Path(os.environ.get("BENCH_DATA_DIR", "data"))
    return base / folder


def fingerprint(*arrays: np.ndarray) -> str:
    """sha256 of the arrays' bytes (callers fix the dtypes): what a source's fingerprint() hashes."""
    h = hashlib.sha256()
    for array in arrays:
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def labels_fingerprint(*label_sequences) -> str:
    """sha256 of label sequences as int64."""
    return fingerprint(*(np.asarray(labels, dtype=np.int64) for labels in label_sequences))


def stratified_holdout(labels, per_class: int | None = None, total: int | None = None, seed: int = 0) -> list[int]:
    """Indices of a class-stratified held-out subset, drawn with a fixed seed, sorted: `per_class`
    samples of every class, or `total` samples in proportion to the classes (scikit-learn's
    stratified split, which keeps the total exact)."""
    labels = np.asarray(labels)
    if total is not None:
        from sklearn.model_selection import train_test_split

        _, held = train_test_split(np.arange(len(labels)), test_size=total, stratify=labels, random_state=seed)
        return sorted(int(i) for i in held)
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        held += rng.choice(members, size=min(per_class, len(members)), replace=False).tolist()
    return sorted(int(i) for i in held)


def with_transform(dataset, transform):
    """The same loaded torchvision dataset (files listed or arrays read once) with another transform."""
    view = copy.copy(dataset)
    view.transform = transform
    return view


def holdout_splits(split: dict, train_aug, train_eval, test) -> dict[str, Dataset]:
    """train/val/test of a dataset whose validation images are held out of its training set:
    the same training files twice (augmented for training, plain for validation) and the
    official test set."""
    val = np.asarray(split["val"])
    train_ids = np.setdiff1d(np.arange(len(train_aug)), val)
    return {"train": Subset(train_aug, train_ids.tolist()), "val": Subset(train_eval, val.tolist()), "test": test}
