"""SHD and SSC (bench/data/hsd.py) on small files written in the published HDF5 format."""

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from bench.config import load_params
from bench.data import ClassificationDataModule
from bench.data.check import check_task
from bench.data.hsd import SHD, SSC

from tests.fixtures import write_hsd

T, WINDOW = 10, 1.0


@pytest.fixture
def shd_files(tmp_path):
    return tmp_path, write_hsd(tmp_path / "shd", "shd", {"train": 40, "test": 12}, classes=4)


def datamodule(source, tmp_path) -> ClassificationDataModule:
    dm = ClassificationDataModule(source, prepared_dir=str(tmp_path / "prepared"), batch_size=8, eval_batch_size=5)
    dm.write_split()
    dm.setup()
    return dm


def reference_raster(times, units, steps: int, window_s: float, pool: int) -> np.ndarray:
    """The binning spike by spike: bin floor(t / (window_s / steps)), input unit // pool."""
    raster = np.zeros((steps, 700 // pool), np.float32)
    for t, u in zip(times.astype(np.float64), units):
        if t < window_s:
            raster[int(np.floor(t * steps / window_s)), int(u) // pool] += 1
    return raster


@pytest.mark.parametrize("pool", [1, 5])
def test_rasters_match_a_spike_by_spike_loop(shd_files, pool):
    root, written = shd_files
    dm = datamodule(SHD(T, root=str(root), window_s=WINDOW, pool=pool), root)
    times, units, labels = written["test"]
    x, y = next(iter(dm.test_dataloader()))
    assert x.shape == (5, T, 700 // pool) and dm.input_shape == (700 // pool,)
    for i in range(5):
        np.testing.assert_array_equal(x[i].numpy(), reference_raster(times[i], units[i], T, WINDOW, pool))
    assert y.tolist() == labels[:5].tolist()
    late = sum(int((t.astype(np.float64) >= WINDOW).sum()) for t in times)
    assert late > 0 and sum(x.sum().item() for x, _ in dm.test_dataloader()) == sum(len(t) for t in times) - late


def test_shd_random_validation_is_a_stratified_share_of_train(shd_files):
    root, written = shd_files
    dm = datamodule(SHD(T, root=str(root), val_fraction=0.25, split_seed=3), root)
    val, train = dm.data["val"].indices, dm.data["train"].indices
    assert len(val) == 10 and sorted(set(val) | set(train)) == list(range(40)) and not set(val) & set(train)
    assert set(np.bincount(written["train"][2][val], minlength=4).tolist()) <= {2, 3}  # 10 per class, 25% held out
    assert len(dm.data["test"]) == 12
    assert dm.split["protocol"] == "shd train/test published, val 0.25 of train, seed 3, 10 bins over 1.4 s, 700 inputs"
    again = SHD(T, root=str(root), val_fraction=0.25, split_seed=3).make_split()
    assert again["val"] == dm.split["val"]  # seeded: the same split every time


def test_shd_without_validation_selects_on_test_and_says_so(shd_files):
    root, _ = shd_files
    dm = datamodule(SHD(T, root=str(root), validation="none"), root)
    assert dm.data["val"] is dm.data["test"] and len(dm.data["train"]) == 40
    assert "no val: selected on test, optimistic" in dm.split["protocol"]
    with pytest.raises(ValueError, match="validation must be one of \\('random', 'none'\\)"):
        SHD(T, root=str(root), validation="published")


def test_ssc_uses_its_published_validation_file(tmp_path):
    write_hsd(tmp_path / "ssc", "ssc", {"train": 35, "valid": 35, "test": 35}, classes=35)
    dm = datamodule(SSC(T, root=str(tmp_path)), tmp_path)
    assert [len(dm.data[s]) for s in ("train", "val", "test")] == [35, 35, 35]
    assert dm.data["val"].path.name == "ssc_valid.h5" and dm.split["val"] == "ssc_valid.h5 (published)"


def test_a_missing_file_names_the_url_and_the_check(tmp_path):
    (tmp_path / "shd").mkdir()
    with pytest.raises(FileNotFoundError, match=r"shd_train.h5, shd_test.h5 not found .*zenkelab.org/datasets/.*data check"):
        SHD(T, root=str(tmp_path)).fingerprint()
    with pytest.raises(ValueError, match="pool must be an integer that divides 700"):
        SHD(T, pool=3)


def test_the_registered_tasks_and_the_data_check(shd_files, monkeypatch):
    root, _ = shd_files
    params = load_params()
    for name, n_inputs in (("shd", 700), ("ssc", 700)):
        task = OmegaConf.merge(params.tasks[name], {"data": {"source": {"root": str(root)}}})
        source = instantiate(task.data.source)
        assert source.steps == 100 and source.window_s == 1.4 and source.input_shape == (n_inputs,)
    task = OmegaConf.merge(params.tasks.shd, {"data": {"source": {"root": str(root)}}})
    findings = check_task("shd", task)
    assert [f.ok for f in findings] == [False, False]  # a fixture is not the published 8,156 / 2,264 recordings
    assert "shd_train.h5: 40 of 8,156 recordings, 4 of 20 classes" in findings[0].text
    monkeypatch.setattr(SHD, "published_counts", {"train": 40, "test": 12})
    monkeypatch.setattr(SHD, "num_classes", 4)
    assert all(f.ok for f in check_task("shd", task))
    (root / "shd" / "shd_test.h5.zip").write_bytes(b"not the archive")
    (root / "shd" / "shd_test.h5").unlink()
    texts = [f.text for f in check_task("shd", task) if not f.ok]
    assert any("md5 differs" in t for t in texts) and any("shd_test.h5 is missing: download" in t for t in texts)


def test_cost_projections_know_the_published_sizes():
    from bench.costs import split_samples

    params = load_params()
    sizes = {t: split_samples(OmegaConf.create({"task": params.tasks[t], "task_name": t})) for t in ("shd", "ssc")}
    assert sizes == {"shd": (8156 - 816, 816, 2264), "ssc": (75466, 9981, 20382)}
