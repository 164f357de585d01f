"""Is a task's dataset there and intact? Checks what the task's loader will read, before a cell
spends GPU hours finding out.

Per task of params.yaml: where its data must be (the task's `root`, else $BENCH_DATA_DIR, else
data/), whether the layout is the one the loader reads, and the checksums of the official files
where they are known: CIFAR-10/100 every batch file against torchvision's md5 sums (and the
downloaded archive when it is there); CIFAR10-DVS the recordings per class (1,000 each) and
tonic's archive md5 when the zip is there; ImageNet meta.bin, the class folders, the image counts
of ILSVRC-2012 (1,281,167 train, 50,000 val) and, when they are there, the official archives'
md5 sums (hashing ~150 GB takes minutes); SHD and SSC each published HDF5 file, its recordings
and classes, and tonic's md5 of its archive when the zip is there. Embedded tasks need no download.
"""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig

CIFAR10DVS_PER_CLASS = 1000  # 10,000 recordings (Li et al. 2017)
IMAGENET_IMAGES = {"train": 1_281_167, "val": 50_000}  # ILSVRC-2012 with its 1,000 classes


@dataclass(frozen=True)
class Finding:
    ok: bool
    text: str

    def __str__(self) -> str:
        return f"  {'ok     ' if self.ok else 'PROBLEM'}  {self.text}"


def md5(path: Path, chunk: int = 2**24) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def check_file(path: Path, expected: str, what: str) -> Finding:
    if not path.is_file():
        return Finding(False, f"{path} is missing ({what})")
    if md5(path) != expected:
        return Finding(False, f"{path}: md5 differs from the official {what}'s ({expected}); re-download it")
    return Finding(True, f"{path}: md5 of the official {what}")


def check_cifar(source) -> Iterator[Finding]:
    from bench.data.cifar import URL

    cls, folder = source.cls, source.root / source.base_folder
    archive = source.root / cls.filename
    if archive.is_file():
        yield check_file(archive, cls.tgz_md5, "archive")
    if not folder.is_dir():
        yield Finding(False, f"{folder} not found: download {URL[source.name]} and extract it into {source.root}/, or run "
                             "`python -m bench.data check --download <task>` (torchvision fetches and verifies it)")
        return
    for name, expected in [*cls.train_list, *cls.test_list, (cls.meta["filename"], cls.meta["md5"])]:
        yield check_file(folder / name, expected, f"{source.name} file {name}")


def check_cifar10dvs(source) -> Iterator[Finding]:
    import tonic

    archive = source.save_to / tonic.datasets.CIFAR10DVS.filename
    if archive.is_file():
        yield check_file(archive, tonic.datasets.CIFAR10DVS.file_md5, "CIFAR10-DVS archive")
    if not source.folder.is_dir():
        yield Finding(False, f"{source.folder} not found: download {tonic.datasets.CIFAR10DVS.url} ({archive.name}), "
                             f"extract it and the per-class zips inside it so that {source.folder}/<class>/*.aedat4 exist")
        return
    classes = tonic.datasets.CIFAR10DVS.classes
    strays = sorted(p.name for p in source.folder.iterdir() if p.is_dir() and p.name not in classes)
    if strays:  # e.g. __MACOSX from a zip made on a Mac: the loader would take it for a class
        yield Finding(False, f"{source.folder} holds folders that are not classes ({', '.join(strays)}); remove them")
    for name in classes:
        files = list((source.folder / name).glob("*.aedat4")) if (source.folder / name).is_dir() else []
        empty = [f.name for f in files if f.stat().st_size == 0]
        text = f"{source.folder / name}: {len(files)} of {CIFAR10DVS_PER_CLASS} recordings"
        if empty:
            text += f", {len(empty)} of them empty (0 bytes, e.g. {sorted(empty)[0]}): extract the class's zip again"
        yield Finding(len(files) == CIFAR10DVS_PER_CLASS and not empty, text)


def check_imagenet(source) -> Iterator[Finding]:
    from torchvision.datasets.imagenet import ARCHIVE_META

    for name, expected in ARCHIVE_META.values():
        if (source.root / name).is_file():
            yield check_file(source.root / name, expected, f"ILSVRC-2012 archive {name}")
    meta = source.root / "meta.bin"
    yield Finding(True, f"{meta} found" if meta.is_file() else f"{meta} missing: the class folders are read as they are "
                  "(torchvision writes it when it unpacks the devkit archive)")
    for split, expected in IMAGENET_IMAGES.items():
        folder = source.root / split
        if not folder.is_dir():
            yield Finding(False, f"{folder} not found: put the ILSVRC-2012 archives into {source.root}/ and let "
                                 "torchvision.datasets.ImageNet unpack them, or lay out <split>/<wnid>/*.JPEG")
            continue
        classes = [p for p in folder.iterdir() if p.is_dir()]
        yield Finding(len(classes) == source.num_classes, f"{folder}: {len(classes)} of {source.num_classes} class folders")
        if source.num_classes == 1000:
            images = sum(1 for c in classes for p in c.iterdir() if p.is_file())
            yield Finding(images == expected, f"{folder}: {images:,} of {expected:,} images")


def check_hsd(source) -> Iterator[Finding]:
    """SHD/SSC: each published HDF5 file with its recordings and labels; the archive's md5 where
    it is there (tonic's sums of the .h5.zip files)."""
    import tonic

    from bench.data.hsd import URL, read_labels

    published = tonic.datasets.SHD if source.name == "shd" else tonic.datasets.SSC
    for part in source.parts:
        path = source.path(part)
        archive = path.with_name(path.name + ".zip")
        if archive.is_file():
            yield check_file(archive, getattr(published, f"{part}_md5"), f"{source.name.upper()} archive {archive.name}")
        if not path.is_file():
            yield Finding(False, f"{path} is missing: download {URL}{archive.name} and unzip it into {source.folder}/")
            continue
        try:
            labels = read_labels(path)
        except ValueError as e:
            yield Finding(False, str(e))
            continue
        expected, classes = source.published_counts[part], len(set(labels.tolist()))
        yield Finding(len(labels) == expected and classes == source.num_classes,
                      f"{path}: {len(labels):,} of {expected:,} recordings, {classes} of {source.num_classes} classes")


CHECKS = {
    "bench.data.cifar.CIFAR": check_cifar,
    "bench.data.cifar10dvs.CIFAR10DVS": check_cifar10dvs,
    "bench.data.imagenet.ImageNet": check_imagenet,
    "bench.data.hsd.SHD": check_hsd,
    "bench.data.hsd.SSC": check_hsd,
}


def check_task(name: str, task: DictConfig, download: bool = False) -> list[Finding]:
    """What is found about one task's dataset (empty for the embedded tasks, which download nothing)."""
    target = task.data.source._target_
    check = CHECKS.get(target)
    if check is None:
        return []
    source = instantiate(task.data.source)
    if download:
        if target != "bench.data.cifar.CIFAR":
            raise SystemExit(f"bench.data: {name}: only CIFAR can be downloaded here (torchvision); "
                             "run the check without --download to see what is missing")
        for train in (True, False):  # torchvision fetches the archive, checks its md5 and extracts it
            source.cls(str(source.root), train=train, download=True)
    return list(check(source))
