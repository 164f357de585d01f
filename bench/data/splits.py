"""Train/validation splits of datasets that have none: a class-stratified held-out subset of the
training set, drawn with a fixed seed, and the three datasets it gives."""

import copy

import numpy as np
from torch.utils.data import Dataset, Subset


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
