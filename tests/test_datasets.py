"""The real loaders on real-format fixtures: protocols, and clear errors for bad data."""

import shutil

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
