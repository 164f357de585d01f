"""Sequential digits: scikit-learn's 8x8 digits read in raster order, a few pixels per timestep
(the sequential-MNIST design of Le et al. 2015, "A simple way to initialize recurrent networks of
rectified linear units", on the embedded 8x8 digits). A network sees only the current pixels at
each step, so it must integrate over time to tell the digits apart: a neuron whose potential does
not carry over between steps sees a bag of pixel groups without their positions."""

from pathlib import Path
from typing import Any

from torch.utils.data import TensorDataset

from bench.data.digits import Digits, digits_fingerprint, standardised

PIXELS = 64


class SequentialDigits:
    num_classes = 10

    def __init__(self, steps: int = 16, val_fraction: float = 0.2, test_fraction: float = 0.2, split_seed: int = 0) -> None:
        if not (isinstance(steps, int) and steps >= 1 and PIXELS % steps == 0):
            raise ValueError(f"digits-seq: steps (the task's T) must divide the {PIXELS} pixels, got {steps!r}")
        self.steps = steps
        self.pixels_per_step = PIXELS // steps
        self.input_shape = (self.pixels_per_step,)  # per timestep
        self.split = Digits(val_fraction, test_fraction, split_seed)  # the digits task's stratified split

    def fingerprint(self) -> str:
        return digits_fingerprint()

    def make_split(self, folder: Path | None = None) -> dict[str, Any]:
        split = self.split.make_split()
        generator = {"name": "sequential-digits", "order": "raster (row by row, left to right)", "steps": self.steps,
                     "pixels_per_step": self.pixels_per_step, "design": "sequential MNIST (Le et al. 2015) on sklearn digits"}
        return {**split, "dataset": "sklearn-digits-sequential", "generator": generator}

    def datasets(self, split: dict[str, Any], folder: Path | None = None) -> dict[str, TensorDataset]:
        if split.get("generator", {}).get("steps") != self.steps:
            raise ValueError(f"digits-seq: the split was made for {split.get('generator', {}).get('steps')} steps, the task asks "
                             f"for {self.steps}; re-run `dvc repro prepare@<task>`")
        return standardised(split, (self.steps, self.pixels_per_step))
