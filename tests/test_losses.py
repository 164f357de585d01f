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


def test_last_step_loss_trains_and_predicts_from_the_last_step_only():
    from bench.losses import LastStepCrossEntropy

    logits, y = torch.randn(5, 8, 10), torch.randint(0, 10, (8,))
    loss = LastStepCrossEntropy()
    assert loss(logits, y) == pytest.approx(F.cross_entropy(logits[-1], y).item())
    assert torch.equal(loss.readout(logits), logits[-1])
    earlier = logits.clone()
    earlier[:-1] = torch.randn(4, 8, 10)  # what the network said before the end does not count
    assert loss(earlier, y) == loss(logits, y)
    # the default readout, which accuracy is measured on, is the mean over steps
    assert torch.equal(MeanOutputCrossEntropy().readout(logits), logits.mean(0))
    assert torch.equal(TETLoss().readout(logits), logits.mean(0))


def test_a_loss_without_a_readout_is_refused():
    from torch import nn

    from bench.module import SpikingClassifier

    with pytest.raises(ValueError, match="no readout.*bench.losses.TimeLoss"):
        SpikingClassifier(nn.Identity(), 10, 4, nn.CrossEntropyLoss(), torch.optim.Adam, "cosine", "direct")
