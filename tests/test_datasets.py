"""The real loaders on real-format fixtures: protocols, and clear errors for bad data."""

import shutil

import numpy as np
import pytest
from torchvision import datasets

from bench.data.cifar import CIFAR
from bench.data.cifar10dvs import CIFAR10DVS
from bench.data.imagenet import ImageNet

from tests.fixtures import CIFAR10DVS_CLASSES, trust_cifar_fixture, write_cifar, write_cifar10dvs, write_imagenet


@pytest.fixture
def cifar10(tmp_path, monkeypatch):
    md5 = write_cifar(tmp_path / "cifar10", "cifar10")
    trust_cifar_fixture(monkeypatch, datasets.CIFAR10, md5)
    return tmp_path


def test_cifar_split_protocol_and_transforms(cifar10):
    source = CIFAR("cifar10", root=str(cifar10), val_size=20)
    split = source.make_split()
    assert len(split["val"]) == 20 and split["protocol"] == "cifar10-val20-seed0-test-official"
    data = source.datasets(split)
    assert (len(data["train"]), len(data["val"]), len(data["test"])) == (80, 20, 20)
    assert set(data["train"].indices).isdisjoint(data["val"].indices)
    x, y = data["train"][0]
    assert tuple(x.shape) == (3, 32, 32)


def test_cifar_missing_root_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py not found.*cifar-10-python.tar.gz"):
        CIFAR("cifar10", root=str(tmp_path)).make_split()


def test_truncated_cifar_batch_fails_the_real_integrity_check(cifar10):
    batch = cifar10 / "cifar10" / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:100])
    with pytest.raises(RuntimeError, match="missing or corrupt.*re-download"):
        CIFAR("cifar10", root=str(cifar10), val_size=20).make_split()


def test_imagenet_tree_with_meta_bin(tmp_path):
    write_imagenet(tmp_path / "imagenet")
    source = ImageNet(root=str(tmp_path), num_classes=4, val_per_class=2)
    split = source.make_split()
    data = source.datasets(split)
    assert (len(data["train"]), len(data["val"]), len(data["test"])) == (40, 8, 8)
    assert tuple(data["test"][0][0].shape) == (3, 224, 224)


def test_imagenet_missing_class_folder_is_a_clear_error(tmp_path):
    write_imagenet(tmp_path / "imagenet")
    shutil.rmtree(next((tmp_path / "imagenet" / "val").iterdir()))
    with pytest.raises(ValueError, match="3 class folders, expected 4"):
        ImageNet(root=str(tmp_path), num_classes=4).make_split()


def test_imagenet_missing_root_says_what_to_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="ILSVRC2012_img_train.tar"):
        ImageNet(root=str(tmp_path)).make_split()


@pytest.fixture
def dvs(tmp_path):
    write_cifar10dvs(tmp_path / "cifar10dvs", per_class=12)
    return tmp_path


def test_cifar10dvs_protocols_recomputed_from_the_sorted_file_list(dvs):
    files = sorted(
        str(p.relative_to(dvs / "cifar10dvs" / "CIFAR10DVS")) for p in (dvs / "cifar10dvs" / "CIFAR10DVS").rglob("*.aedat4")
    )
    by_class = {c: [i for i, f in enumerate(files) if f.startswith(c + "/")] for c in CIFAR10DVS_CLASSES}
    first90 = CIFAR10DVS(4, root=str(dvs), protocol="first90").make_split()
    assert first90["files"] == files
    assert first90["test"] == sorted(i for ids in by_class.values() for i in ids[-1:])  # last 10% of 12 -> 1
    tebn = CIFAR10DVS(4, root=str(dvs), protocol="tebn").make_split()
    assert tebn["test"] == sorted(i for ids in by_class.values() for i in ids[:100])  # samples 0-99 (all 12 here)
    random = CIFAR10DVS(4, root=str(dvs), protocol="random").make_split()
    for split in (first90, random):
        assert set(split["train"]) | set(split["val"]) | set(split["test"]) == set(range(len(files)))
        assert not set(split["test"]) & (set(split["train"]) | set(split["val"]))


def test_cifar10dvs_frames_and_cache(dvs):
    source = CIFAR10DVS(5, root=str(dvs), size=48)
    data = source.datasets(source.make_split())
    x, y = data["test"][0]
    assert tuple(x.shape) == (5, 2, 48, 48) and x.sum() > 0
    cached = list(source.cache_dir().rglob("*.pt"))
    assert len(cached) == 1
    assert CIFAR10DVS(6, root=str(dvs)).cache_dir() != source.cache_dir()  # T is part of the key


def reference_frames(events, T: int, slicing: str, normalise: str) -> np.ndarray:
    """Frames [T, 2, 128, 128] by a plain loop over slices, as spikingjelly (`number`: N // T
    events each, the last also the remainder) and TET's script (`number-floor`: the remainder
    dropped; `max`: each frame over its maximum) write them."""
    n, per = len(events), len(events) // T
    frames = np.zeros((T, 2, 128, 128))
    for t in range(T):
        end = n if (slicing == "number" and t == T - 1) else (t + 1) * per
        for e in events[t * per : end]:
            frames[t, int(e["p"]), e["y"], e["x"]] += 1
        if normalise == "max" and frames[t].max() > 0:
            frames[t] /= frames[t].max()
    return frames


@pytest.mark.parametrize(("slicing", "normalise"), [("number", "none"), ("number-floor", "max"), ("number", "max")])
def test_cifar10dvs_event_count_frames_match_an_independent_loop(dvs, slicing, normalise):
    T = 7  # 400 events per recording: 57 per frame, the remainder (1) kept or dropped
    source = CIFAR10DVS(T, root=str(dvs), size=128, slicing=slicing, normalise=normalise, cache=False)
    data = source.datasets(source.make_split())
    paths, _ = source.files
    for i in data["train"].indices[:3]:
        events = source.read_events(paths[i])
        x, _ = data["train"].frames[i]
        np.testing.assert_allclose(x.numpy(), reference_frames(events, T, slicing, normalise), rtol=1e-6)
        if slicing == "number" and normalise == "none":
            assert x.sum() == len(events)
        if slicing == "number-floor" and normalise == "none":
            assert x.sum() == T * (len(events) // T)
    default_cache = CIFAR10DVS(T, root=str(dvs)).cache_dir()
    assert CIFAR10DVS(T, root=str(dvs), slicing=slicing, normalise=normalise).cache_dir() != default_cache


def test_cifar10dvs_tet70_split_and_no_validation(dvs):
    for name in CIFAR10DVS_CLASSES:  # recordings 9, 10, 11 of each class become 700, 701, 702
        for i in (9, 10, 11):
            folder = dvs / "cifar10dvs" / "CIFAR10DVS" / name
            (folder / f"cifar10_{name}_{i}.aedat4").rename(folder / f"cifar10_{name}_{691 + i}.aedat4")
    source = CIFAR10DVS(4, root=str(dvs), protocol="tet70", val_fraction=0)
    split = source.make_split()
    numbers = [int(f.rsplit("_", 1)[1].removesuffix(".aedat4")) for f in split["files"]]
    assert split["train"] == [i for i, n in enumerate(numbers) if n < 700] and len(split["train"]) == 90
    assert split["val"] == split["test"] == [i for i, n in enumerate(numbers) if n >= 700] and len(split["test"]) == 30
    assert split["protocol"] == "tet70, no val: selected on test, optimistic, frames time/none"
    ours = CIFAR10DVS(4, root=str(dvs)).make_split()
    assert ours["protocol"] == "first90, val 0.1 of train, frames time/none"
    with pytest.raises(ValueError, match="val_fraction must be in"):
        CIFAR10DVS(4, root=str(dvs), val_fraction=1.0)
    with pytest.raises(ValueError, match="slicing must be one of"):
        CIFAR10DVS(4, root=str(dvs), slicing="bytime")


def test_cifar10dvs_garbage_file_is_a_clear_error(dvs):
    bad = sorted((dvs / "cifar10dvs" / "CIFAR10DVS" / "airplane").glob("*.aedat4"))[0]
    bad.write_bytes(b"not an aedat4 file")
    source = CIFAR10DVS(4, root=str(dvs), cache=False)
    data = source.datasets(source.make_split())
    with pytest.raises(ValueError, match=f"cannot parse {bad}"):
        for i in range(len(data["train"])):
            data["train"][i]
        for i in range(len(data["test"])):
            data["test"][i]
        for i in range(len(data["val"])):
            data["val"][i]
