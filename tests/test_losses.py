import pytest
import torch
import torch.nn.functional as F

from bench.losses import MeanOutputCrossEntropy, TETLoss


def test_mean_output_cross_entropy_averages_logits_first():
    logits, y = torch.randn(4, 5, 10), torch.randint(0, 10, (5,))
    assert MeanOutputCrossEntropy()(logits, y) == pytest.approx(F.cross_entropy(logits.mean(0), y).item())


def test_tet_is_the_mean_of_per_timestep_cross_entropies():
    logits, y = torch.randn(4, 5, 10), torch.randint(0, 10, (5,))
    expected = sum(F.cross_entropy(logits[t], y) for t in range(4)) / 4
    assert TETLoss()(logits, y).item() == pytest.approx(expected.item(), rel=1e-6)
    reg = F.mse_loss(logits, torch.ones_like(logits))
    assert TETLoss(lamb=0.05)(logits, y).item() == pytest.approx((0.95 * expected + 0.05 * reg).item(), rel=1e-6)


def test_tet_differs_from_mean_output_loss():
    logits, y = torch.randn(4, 5, 10), torch.randint(0, 10, (5,))
    assert TETLoss()(logits, y) > MeanOutputCrossEntropy()(logits, y)  # Jensen: CE is convex
