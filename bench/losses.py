"""Losses on per-timestep logits [T, B, classes]. Each also names its readout, the class scores
a prediction is made from (what accuracy is measured on), so training and evaluation agree."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class TimeLoss(nn.Module):
    """A loss on per-timestep logits; predictions come from `readout` (default: the mean over T)."""

    def readout(self, logits: Tensor) -> Tensor:
        """[T, B, classes] -> the class scores [B, classes] a prediction is made from."""
        return logits.mean(0)


class MeanOutputCrossEntropy(TimeLoss):
    """Cross-entropy on the time-averaged output (the plain variant of paper.md §3)."""

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(self.readout(logits), target)


class LastStepCrossEntropy(TimeLoss):
    """Cross-entropy on the output at the last step, which is also the prediction: the network
    answers after it has seen the whole sequence (the sequential-MNIST design, Le et al. 2015). A
    readout averaged over steps would let a network without memory vote step by step; this one
    leaves memory to the neurons."""

    def readout(self, logits: Tensor) -> Tensor:
        return logits[-1]

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(self.readout(logits), target)


class TETLoss(TimeLoss):
    """Temporal efficient training (Deng et al., ICLR 2022): cross-entropy at every timestep,
    averaged over T, plus an optional regulariser pulling every output towards `means`:

        L = (1 - lamb) * mean_t CE(o_t, y) + lamb * MSE(o, means)

    lamb = 0 gives pure TET; TET's code uses lamb = 1e-3 with means = 1."""

    def __init__(self, lamb: float = 0.0, means: float = 1.0) -> None:
        super().__init__()
        if not 0 <= lamb <= 1:
            raise ValueError(f"TET lamb must be in [0, 1], got {lamb}")
        self.lamb = lamb
        self.means = means

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        T = logits.shape[0]
        per_step = F.cross_entropy(logits.flatten(0, 1), target.repeat(T))  # mean over T and batch
        if self.lamb == 0:
            return per_step
        regulariser = F.mse_loss(logits, torch.full_like(logits, self.means))
        return (1 - self.lamb) * per_step + self.lamb * regulariser
