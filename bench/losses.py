"""Losses on per-timestep logits [T, B, classes]."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MeanOutputCrossEntropy(nn.Module):
    """Cross-entropy on the time-averaged output (the plain variant of paper.md §3)."""

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(logits.mean(0), target)


class TETLoss(nn.Module):
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
