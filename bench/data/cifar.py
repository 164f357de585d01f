"""CIFAR-10 and CIFAR-100 through torchvision's own dataset classes (python version on disk:
`<root>/cifar10/cifar-10-batches-py/`, `<root>/cifar100/cifar-100-python/`).

Protocol: a class-stratified validation set of `val_size` images is carved from the 50,000
training images with a fixed seed; the official 10,000 test images are used only for the final
test. Train augmentation: random crop 32 with 4-pixel padding and horizontal flip, plus
AutoAugment (CIFAR-10 policy) and Cutout when the recipe asks; per-channel normalisation.
"""

from functools import cache
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset
from torchvision import datasets, transforms
from torchvision.transforms import v2

from bench.data.fingerprint import labels_fingerprint
from bench.data.root import dataset_root
from bench.data.splits import holdout_splits, stratified_holdout, with_transform

VARIANTS = {
    # name: (torchvision class, folder under the data root, base folder, classes, mean, std)
    "cifar10": (datasets.CIFAR10, "cifar10", "cifar-10-batches-py", 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": (datasets.CIFAR100, "cifar100", "cifar-100-python", 100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
URL = {"cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"}


class CIFAR:
    input_shape = (3, 32, 32)

    def __init__(
        self,
        name: str = "cifar10",
        root: str | None = None,
        val_size: int = 5000,
        split_seed: int = 0,
        autoaugment: bool = False,
        cutout: int = 0,
        download: bool = False,
    ) -> None:
        if name not in VARIANTS:
            raise ValueError(f"CIFAR name must be one of {sorted(VARIANTS)}, got {name!r}")
        self.name = name
        self.cls, folder, self.base_folder, self.num_classes, self.mean, self.std = VARIANTS[name]
        self.root = dataset_root(folder, root)
        self.val_size, self.split_seed = val_size, split_seed
        self.autoaugment, self.cutout, self.download = autoaugment, cutout, download

    @cache  # noqa: B019 (one source per run: its two parts are read once)
    def _load(self, train: bool) -> Dataset:
        if not self.download and not (self.root / self.base_folder).is_dir():
            raise FileNotFoundError(
                f"{self.name}: {self.root / self.base_folder} not found. Download {URL[self.name]}, extract it into "
                f"{self.root}/ (or set BENCH_DATA_DIR), or set download: true in the task's data.source to let "
                "torchvision fetch it"
            )
        try:
            return self.cls(str(self.root), train=train, download=self.download)
        except RuntimeError as e:  # torchvision's md5 check failed
            raise RuntimeError(
                f"{self.name}: files under {self.root / self.base_folder} are missing or corrupt ({e}); "
                f"re-download {URL[self.name]} and extract it again"
            ) from e

    def fingerprint(self) -> str:
        return labels_fingerprint(self._load(train=True).targets, self._load(train=False).targets)

    def make_split(self, folder: Path | None = None) -> dict[str, Any]:
        train, _ = self._load(train=True), self._load(train=False)  # both parts must be complete
        if len(train.classes) != self.num_classes:
            raise ValueError(f"{self.name}: {self.root} holds {len(train.classes)} classes, expected {self.num_classes}")
        val = stratified_holdout(train.targets, total=self.val_size, seed=self.split_seed)
        return {
            "dataset": self.name,
            "protocol": f"{self.name}-val{len(val)}-seed{self.split_seed}-test-official",
            "n_train_pool": len(train.targets),
            "train": "all training images not in val",
            "val": val,
            "test": "official test set",
        }

    def transforms(self, train: bool):
        steps = []
        if train:
            steps += [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()]
            if self.autoaugment:
                steps.append(transforms.AutoAugment(transforms.AutoAugmentPolicy.CIFAR10))
        steps += [transforms.ToTensor(), transforms.Normalize(self.mean, self.std)]
        if train and self.cutout:
            # Cutout (DeVries & Taylor 2017): one square of side `cutout` set to zero (the mean)
            steps.append(v2.RandomErasing(p=1.0, scale=(self.cutout**2 / 1024,) * 2, ratio=(1.0, 1.0), value=0))
        return transforms.Compose(steps)

    def datasets(self, split: dict[str, Any], folder: Path | None = None) -> dict[str, Dataset]:
        train, test = self._load(train=True), self._load(train=False)
        train_aug = with_transform(train, self.transforms(train=True))
        train_eval = with_transform(train, self.transforms(train=False))
        return holdout_splits(split, train_aug, train_eval, with_transform(test, self.transforms(train=False)))
