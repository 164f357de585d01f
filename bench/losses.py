"""Losses on per-timestep logits [T, B, classes]."""

import torch.nn.functional as F
from torch import Tensor, nn


class MeanOutputCrossEntropy(nn.Module):
    """Cross-entropy on the time-averaged output (the plain variant of paper.md §3)."""

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(logits.mean(0), target)
