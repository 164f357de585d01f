import json

import pytest
import torch

from bench.data import ClassificationDataModule
from bench.data.digits import Digits


def datamodule(tmp_path, **source):
    return ClassificationDataModule(Digits(**source), prepared_dir=str(tmp_path), batch_size=16)


def test_digits_split_sizes_stratified_and_disjoint(tmp_path):
    dm = datamodule(tmp_path)
    split = dm.write_split()
    ids = {name: set(split[name]) for name in ("train", "val", "test")}
    assert {k: len(v) for k, v in ids.items()} == {"train": 1077, "val": 360, "test": 360}
    assert sum(map(len, ids.values())) == 1797
    assert set.union(*ids.values()) == set(range(1797))
    dm.setup("fit")
    labels = {name: dm.data[name].tensors[1] for name in ids}
    for name, y in labels.items():
        counts = torch.bincount(y, minlength=10).float() / len(y)
        assert (counts - 0.1).abs().max() < 0.02, f"{name} is not stratified: {counts}"


def test_split_is_deterministic_and_persisted(tmp_path):
    first = datamodule(tmp_path / "a").write_split()
    second = datamodule(tmp_path / "b").write_split()
    assert first == second
    assert json.loads((tmp_path / "a" / "split.json").read_text()) == first
    assert datamodule(tmp_path, split_seed=1).write_split()["test"] != first["test"]


def test_committed_split_is_what_prepare_writes(in_repo, tmp_path):
    committed = json.loads((in_repo / "data" / "prepared" / "digits" / "split.json").read_text())
    assert datamodule(tmp_path).write_split() == committed


def test_loaders_give_standardised_batches(tmp_path):
    dm = datamodule(tmp_path)
    dm.write_split()
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (16, 1, 8, 8) and y.shape == (16,)
    train_x = dm.data["train"].tensors[0]
    assert abs(train_x.mean().item()) < 1e-5 and abs(train_x.std().item() - 1) < 1e-4
    assert len(dm.test_dataloader().dataset) == 360


def test_missing_or_foreign_split_is_a_clear_error(tmp_path):
    dm = datamodule(tmp_path)
    with pytest.raises(FileNotFoundError, match="split.json.*dvc repro prepare"):
        dm.setup("fit")
    split = dm.write_split()
    split["fingerprint"] = "0" * 64
    (tmp_path / "split.json").write_text(json.dumps(split))
    with pytest.raises(ValueError, match=r"split.json was made from other data than Digits reads"):
        datamodule(tmp_path).setup("fit")


def test_bad_fractions_rejected():
    with pytest.raises(ValueError, match="val_fraction"):
        Digits(val_fraction=0.6, test_fraction=0.5)
