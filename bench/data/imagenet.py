"""ImageNet (ILSVRC-2012) through torchvision: `<root>/imagenet/` with `meta.bin`, `train/` and
`val/` (torchvision's `ImageNet` layout; its `meta.bin` is written by torchvision from the devkit
on first use), or plain class folders `train/<wnid>/`, `val/<wnid>/` without `meta.bin`
(`ImageFolder`). Protocol: `val_per_class` training images per class are held out for model
selection with a fixed seed; the official validation set is the test set. Train: random resized
crop 224 + flip; evaluation: resize 256, centre crop 224; ImageNet normalisation."""

from functools import cache
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset
from torchvision import datasets, transforms

from bench.data.fingerprint import labels_fingerprint
from bench.data.root import dataset_root
from bench.data.splits import holdout_splits, stratified_holdout, with_transform

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
HOWTO = (
    "download ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar and ILSVRC2012_devkit_t12.tar.gz from "
    "https://image-net.org/download-images and let torchvision.datasets.ImageNet(root, split=...) unpack them "
    "into {root} (it writes meta.bin, train/ and val/), or lay out train/<wnid>/*.JPEG and val/<wnid>/*.JPEG yourself"
)


class ImageNet:
    input_shape = (3, 224, 224)

    def __init__(self, root: str | None = None, num_classes: int = 1000, val_per_class: int = 10, split_seed: int = 0) -> None:
        self.root = dataset_root("imagenet", root)
        self.num_classes = num_classes
        self.val_per_class, self.split_seed = val_per_class, split_seed

    @cache  # noqa: B019 (one source per run: each folder is listed once)
    def _load(self, split: str) -> datasets.ImageFolder:
        folder = self.root / split
        if not folder.is_dir():
            raise FileNotFoundError(f"imagenet: {folder} not found; {HOWTO.format(root=self.root)}")
        if (self.root / "meta.bin").is_file():
            ds = datasets.ImageNet(str(self.root), split=split)
        else:
            ds = datasets.ImageFolder(str(folder))
        if len(ds.classes) != self.num_classes:
            raise ValueError(
                f"imagenet: {folder} holds {len(ds.classes)} class folders, expected {self.num_classes} "
                "(task data.source.num_classes); a class folder is missing or extra"
            )
        return ds

    def fingerprint(self) -> str:
        return labels_fingerprint(self._load("train").targets, self._load("val").targets)

    def make_split(self, folder: Path | None = None) -> dict[str, Any]:
        train, _ = self._load("train"), self._load("val")  # both parts must be complete
        val = stratified_holdout(train.targets, per_class=self.val_per_class, seed=self.split_seed)
        return {
            "dataset": "imagenet",
            "protocol": f"imagenet-val{self.val_per_class}perclass-seed{self.split_seed}-test-official-val",
            "train": "all training images not in val",
            "val": val,
            "test": "official validation set",
        }

    @staticmethod
    def transforms(train: bool):
        if train:
            steps = [transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip()]
        else:
            steps = [transforms.Resize(256), transforms.CenterCrop(224)]
        return transforms.Compose([*steps, transforms.ToTensor(), transforms.Normalize(MEAN, STD)])

    def datasets(self, split: dict[str, Any], folder: Path | None = None) -> dict[str, Dataset]:
        train, test = self._load("train"), self._load("val")
        train_aug = with_transform(train, self.transforms(train=True))
        train_eval = with_transform(train, self.transforms(train=False))
        return holdout_splits(split, train_aug, train_eval, with_transform(test, self.transforms(train=False)))
