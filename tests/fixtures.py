"""Tiny datasets written in each dataset's real on-disk format, so the real loaders read them."""

import hashlib
import pickle
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_cifar(root: Path, name: str = "cifar10", per_file: int = 20, seed: int = 0) -> dict[str, str]:
    """torchvision's python-version pickles (uint8 [N, 3072] channel-planar rows); returns
    {file name: md5}, which tests give to torchvision so its integrity check runs for real."""
    rng = np.random.default_rng(seed)
    classes = 10 if name == "cifar10" else 100
    if name == "cifar10":
        files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        folder, label_key = root / "cifar-10-batches-py", "labels"
        meta_name, meta = "batches.meta", {"label_names": [f"class{i}" for i in range(classes)]}
    else:
        folder, files, label_key = root / "cifar-100-python", ["train", "test"], "fine_labels"
        meta_name, meta = "meta", {"fine_label_names": [f"class{i:02d}" for i in range(classes)], "coarse_label_names": []}
    folder.mkdir(parents=True)
    md5 = {}
    for f in files:
        n = per_file * (5 if name == "cifar100" and f == "train" else 1)
        labels = (np.arange(n) % classes).tolist()
        data = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), label_key: labels}
        if name == "cifar100":
            data["coarse_labels"] = [0] * n
        (folder / f).write_bytes(pickle.dumps(data))
        md5[f] = _md5(folder / f)
    (folder / meta_name).write_bytes(pickle.dumps(meta))
    md5[meta_name] = _md5(folder / meta_name)
    return md5


def trust_cifar_fixture(monkeypatch, cls, md5: dict[str, str]) -> None:
    """Point torchvision's expected md5 sums at the fixture's files: the integrity check still
    runs (a corrupted fixture fails it), only the expected values differ from the real dataset's."""
    monkeypatch.setattr(cls, "train_list", [[f, md5[f]] for f, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[f, md5[f]] for f, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5[cls.meta["filename"]]})


def write_imagenet(root: Path, classes: int = 4, train_per_class: int = 12, val_per_class: int = 2, seed: int = 0) -> None:
    """torchvision ImageNet layout: meta.bin + train/<wnid>/*.JPEG + val/<wnid>/*.JPEG."""
    rng = np.random.default_rng(seed)
    wnids = [f"n{1440764 + i:08d}" for i in range(classes)]
    for split, n in (("train", train_per_class), ("val", val_per_class)):
        for w in wnids:
            (root / split / w).mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / w / f"{w}_{i}.JPEG")
    torch.save(({w: (f"class {i}",) for i, w in enumerate(wnids)}, None), root / "meta.bin")


CIFAR10DVS_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_cifar10dvs(root: Path, per_class: int = 10, events: int = 400, seed: int = 0) -> None:
    """AEDAT4 files per class under CIFAR10DVS/<class>/, as tonic's re-hosted copy."""
    import faery

    rng = np.random.default_rng(seed)
    for c, name in enumerate(CIFAR10DVS_CLASSES):
        folder = root / "CIFAR10DVS" / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            ev = np.zeros(events, dtype=faery.EVENTS_DTYPE)
            ev["t"] = np.sort(rng.integers(0, 1_000_000, events))
            ev["x"] = rng.integers(0, 128, events)
            ev["y"] = (rng.integers(0, 128, events) + 10 * c) % 128
            ev["p"] = rng.integers(0, 2, events).astype(bool)
            faery.events_stream_from_array(ev, dimensions=(128, 128)).to_file(str(folder / f"cifar10_{name}_{i}.aedat4"))


def write_hsd(folder: Path, name: str, counts: dict[str, int], classes: int, seed: int = 0) -> dict[str, list]:
    """SHD/SSC files as Cramer et al. 2020 publish them: `spikes/times` (float16 seconds, up to
    1.5 s) and `spikes/units` (uint16 channels 0-699) as variable-length arrays per recording,
    `labels` (uint16), `extra/speaker` and `extra/keys`. Returns each part's (times, units, labels)."""
    import h5py

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for part, n in counts.items():
        times = [np.sort(rng.uniform(0, 1.5, rng.integers(20, 200))).astype(np.float16) for _ in range(n)]
        units = [rng.integers(0, 700, len(t)).astype(np.uint16) for t in times]
        labels = (np.arange(n) % classes).astype(np.uint16)
        with h5py.File(folder / f"{name}_{part}.h5", "w") as f:
            f.create_dataset("spikes/times", data=np.array(times, dtype=object), dtype=h5py.vlen_dtype(np.float16))
            f.create_dataset("spikes/units", data=np.array(units, dtype=object), dtype=h5py.vlen_dtype(np.uint16))
            f.create_dataset("labels", data=labels)
            f.create_dataset("extra/speaker", data=rng.integers(0, 12, n).astype(np.uint16))
            f.create_dataset("extra/keys", data=np.array([f"class-{c}".encode() for c in range(classes)]))
        written[part] = [times, units, labels]
    return written
