"""Randman: random-manifold spike-timing classification (Zenke & Vogels 2021, "The remarkable
robustness of surrogate gradient learning for instilling complex function in spiking neural
networks", Neural Computation 33(4); generator described in its Methods).

Each class is a random smooth manifold: a map from `manifold_dim` intrinsic coordinates in [0, 1]
to `units` values, every coordinate function a product over the intrinsic dimensions of random
Fourier series. The generator is the reference code's (github.com/fzenke/randman, its default
torch backend `Randman`, and the dataset recipe of its "Spiking dataset generation" notebook):

    f(x) = sum_{i=0}^{F-1} a_i s_i sin(2 pi (i x v_i + p_i)),   s_i = 1 / ((i + 1)^alpha + 1)

with a_i, v_i, p_i uniform in [0, 1), a_0 = 0 (no constant term: the reference's use_bias=False),
F = min(ceil(1000^(1/alpha)), 1000) frequencies (its prec 1e-3). A sample is a uniform random
point of its class's manifold; each unit fires exactly one spike, at step floor(T y) where
y = (value - min) / (max - min + 1e-7) is the unit's value min-max normalised over the class's
samples (the reference's `standardize` and its integer cast of nb_steps x time). The class is in
*when* the units fire relative to each other, so a network must integrate over time: every unit
fires once in every sample, and a neuron that forgets between steps sees only which units
coincide. Difficulty: more units and a lower manifold dimension make it easier. What differs from
the reference is only the random stream (numpy's PCG64 from `generator_seed`, not torch's global
generator), so the same settings give another draw of the same distribution.

Generated deterministically from `generator_seed` (numpy's PCG64): nothing is downloaded; the
settings are recorded in the task's split.json and the data's fingerprint guards them."""

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import TensorDataset

STANDARDIZE_EPS = 1e-7  # the reference's standardize(): the largest value maps just below 1


def frequency_count(alpha: float, precision: float = 1e-3, most: int = 1000) -> int:
    """F: the reference's f_cutoff, the terms whose spectrum is above `precision`."""
    return int(min(np.ceil(precision ** (-1 / alpha)), most))


def spectrum(alpha: float, frequencies: int) -> np.ndarray:
    """s_i = 1 / ((i + 1)^alpha + 1), i = 0..F-1 (the reference's init_spect with res = 0)."""
    return 1.0 / ((np.arange(frequencies) + 1.0) ** alpha + 1.0)


def class_manifold(rng: np.random.Generator, units: int, manifold_dim: int, alpha: float, frequencies: int):
    """A random smooth map [N, manifold_dim] in [0, 1] -> [N, units]."""
    amplitude, velocity, phase = rng.random((3, units, manifold_dim, frequencies))
    amplitude[:, :, 0] = 0.0  # no constant term
    i = np.arange(frequencies)
    weight = amplitude * spectrum(alpha, frequencies)

    def manifold(x: np.ndarray) -> np.ndarray:
        angle = 2 * np.pi * (i * x[:, None, :, None] * velocity + phase)  # [N, units, dim, frequencies]
        return (weight * np.sin(angle)).sum(-1).prod(-1)

    return manifold


def spike_times(classes: int, units: int, manifold_dim: int, alpha: float, samples_per_class: int, steps: int,
                seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(spike step of every unit [N, units] int64 in [0, steps), labels [N]), classes in order."""
    frequencies = frequency_count(alpha)
    rng = np.random.default_rng(seed)
    times, labels = [], []
    for label in range(classes):
        manifold = class_manifold(rng, units, manifold_dim, alpha, frequencies)
        values = manifold(rng.random((samples_per_class, manifold_dim)))
        low, high = values.min(0), values.max(0)
        normalised = (values - low) / (high - low + STANDARDIZE_EPS)
        times.append(np.minimum(np.floor(normalised * steps).astype(np.int64), steps - 1))
        labels.append(np.full(samples_per_class, label))
    return np.concatenate(times), np.concatenate(labels)


class Randman:
    def __init__(self, steps: int, classes: int = 10, units: int = 20, manifold_dim: int = 1, alpha: float = 2.0,
                 samples_per_class: int = 200, generator_seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2,
                 split_seed: int = 0) -> None:
        for name, value in (("steps", steps), ("classes", classes), ("units", units), ("manifold_dim", manifold_dim),
                            ("samples_per_class", samples_per_class)):
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"randman: {name} must be an integer >= 1, got {value!r}")
        if not alpha > 0:
            raise ValueError(f"randman: alpha (smoothness) must be > 0, got {alpha!r}")
        self.settings = {"classes": classes, "units": units, "manifold_dim": manifold_dim, "alpha": float(alpha),
                         "samples_per_class": samples_per_class, "steps": steps, "seed": generator_seed}
        self.num_classes = classes
        self.input_shape = (units,)  # per timestep: which units fire
        self.val_fraction, self.test_fraction, self.split_seed = val_fraction, test_fraction, split_seed

    def generate(self) -> tuple[np.ndarray, np.ndarray]:
        return spike_times(**self.settings)

    def fingerprint(self) -> str:
        times, labels = self.generate()
        return hashlib.sha256(times.tobytes() + labels.tobytes()).hexdigest()

    def make_split(self, folder: Path | None = None) -> dict[str, Any]:
        _, labels = self.generate()
        ids = np.arange(len(labels))
        rest, test = train_test_split(ids, test_size=self.test_fraction, stratify=labels, random_state=self.split_seed)
        train, val = train_test_split(rest, test_size=self.val_fraction / (1 - self.test_fraction), stratify=labels[rest],
                                      random_state=self.split_seed)
        shares = [round(100 * (1 - self.val_fraction - self.test_fraction)), round(100 * self.val_fraction),
                  round(100 * self.test_fraction)]
        return {
            "dataset": "randman",
            "protocol": f"stratified-{'/'.join(map(str, shares))}-seed{self.split_seed}",
            "generator": {"name": "randman (Zenke & Vogels 2021; fzenke/randman's formulas)", **self.settings},
            "train": sorted(train.tolist()),
            "val": sorted(val.tolist()),
            "test": sorted(test.tolist()),
        }

    def datasets(self, split: dict[str, Any], folder: Path | None = None) -> dict[str, TensorDataset]:
        recorded = {k: v for k, v in split.get("generator", {}).items() if k != "name"}
        if recorded != self.settings:
            raise ValueError(f"randman: the split was made with generator settings {recorded}, the task asks for "
                             f"{self.settings}; re-run `dvc repro prepare@<task>`")
        times, labels = self.generate()
        spikes = torch.zeros(len(labels), self.settings["steps"], self.settings["units"])
        spikes.scatter_(1, torch.from_numpy(times)[:, None, :], 1.0)  # [N, T, units]: one spike per unit
        y = torch.from_numpy(labels)
        return {name: TensorDataset(spikes[split[name]], y[split[name]]) for name in ("train", "val", "test")}
