"""The analytic surrogate window against independent Monte Carlo simulation (paper.md §2)."""

import itertools
import math

import numpy as np
import pytest

from bench.neurons.analytic import pooled_potential_std
from bench.neurons.lif import LIF
from bench.neurons.qif import QIF, analytic_window_width

KAPPA = math.sqrt(2 * math.pi)
PARAMETER_SETS = {
    # name: (a, u1, u2, threshold, extra)
    "paper-fig1": (0.25, 0.0, 0.5, 1.0, {}),
    # spikingjelly QIFNode defaults (tau=2, V_c=0.8, a0=1, V_rest=0, V_reset=-0.1) in this form
    "spikingjelly": (0.5, 0.0, 0.8, 1.0, {"u_reset": -0.1}),
    "oscillatory": (1.5, -0.5, 0.5, 1.0, {}),  # a(u2 - u1) = 1.5: damped oscillation around u1
    "strongly-oscillatory": (1.9, -0.5, 0.5, 1.0, {}),
}


def monte_carlo_std(a, u1, u2, threshold, alpha, T, reset="hard", u_reset=None, n=200_000, seed=0):
    """Pooled std of h over t = 1..T by direct simulation of the QIF recurrence."""
    rng = np.random.default_rng(seed)
    u_r = u1 if u_reset is None else u_reset
    u, hs = np.full(n, u1), []
    for _ in range(T):
        h = u + a * (u - u1) * (u - u2) + rng.normal(0.0, alpha * threshold, n)
        hs.append(h)
        s = h >= threshold
        u = np.where(s, u_r, h) if reset == "hard" else h - threshold * s
    return np.concatenate(hs).std()


@pytest.mark.parametrize(
    "name, alpha, T", list(itertools.product(PARAMETER_SETS, [0.5, 1.0], [2, 4, 10]))
)
def test_window_within_5_percent_of_monte_carlo(name, alpha, T):
    a, u1, u2, threshold, extra = PARAMETER_SETS[name]
    width = analytic_window_width(a, u1, u2, threshold, alpha, T, **extra)
    expected = KAPPA * monte_carlo_std(a, u1, u2, threshold, alpha, T, **extra)
    assert width == pytest.approx(expected, rel=0.05)
    # measured: within 0.4% on every one of these sets; 5% is the contract
    assert width == pytest.approx(expected, rel=0.01)


def test_soft_reset_within_5_percent_where_bounded():
    width = analytic_window_width(0.25, 0.0, 0.5, 1.0, 0.5, 4, reset="soft")
    assert width == pytest.approx(KAPPA * monte_carlo_std(0.25, 0.0, 0.5, 1.0, 0.5, 4, reset="soft"), rel=0.05)


def test_runaway_potential_has_no_window():
    # soft reset keeps h - threshold > u2 after strong input: the quadratic then runs away
    with pytest.raises(ValueError, match="runs away"):
        analytic_window_width(0.25, 0.0, 0.5, 1.0, 1.0, 10, reset="soft")


def test_two_step_moments_match_the_closed_form():
    """paper.md §2 worked check: from u1, after two steps Var[h] = s2((1 - a d)^2 + 1) + 2 a^2 s2^2
    (no spikes in between, so the check uses a threshold far away)."""
    a, d, s = 0.25, 0.5, 1.0
    from bench.neurons.analytic import potential_moments
    from bench.neurons.qif import QIF

    means, variances = potential_moments(QIF(a=a, u1=0.0, u2=d, threshold=50.0), sigma_x=s, T=2)
    assert means[1] == pytest.approx(a * s**2, abs=1e-4)
    assert variances[1] == pytest.approx(s**2 * ((1 - a * d) ** 2 + 1) + 2 * a**2 * s**4, rel=1e-3)


def test_lif_without_spikes_is_the_ar1_variance():
    """For LIF far from threshold h_t is AR(1): Var h_t = s2 (1 - k^(2t)) / (1 - k^2), k = 1 - 1/tau."""
    k, s, T = 0.5, 1.0, 4
    expected = [s**2 * (1 - k ** (2 * t)) / (1 - k**2) for t in range(1, T + 1)]
    pooled = math.sqrt(sum(expected) / T)  # means are all 0
    assert pooled_potential_std(LIF(tau=2.0, threshold=50.0), sigma_x=s, T=T) == pytest.approx(pooled, rel=1e-4)


def monte_carlo_repeated_std(neuron, sigma_x, T, n=200_000, seed=0):
    """Independent simulation of the stem under direct encoding: one x per sample, shown T times."""
    import torch

    x = torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * sigma_x
    u = torch.full((n,), float(neuron.rest), dtype=torch.float64)
    pre_spike = []
    with torch.no_grad():
        for _ in range(T):
            h = u + neuron.f(u) + x
            pre_spike.append(h)
            u = torch.where(h >= neuron.threshold, torch.full_like(h, float(neuron.u_reset)), h)
    return torch.stack(pre_spike).std().item()


@pytest.mark.parametrize("T", [2, 4, 10])
@pytest.mark.parametrize("make", [LIF, QIF], ids=["lif", "qif"])
def test_repeated_input_window_matches_monte_carlo_and_is_wider_than_iid(make, T):
    neuron = make()
    repeated = pooled_potential_std(neuron, sigma_x=1.0, T=T, repeated_input=True)
    assert repeated == pytest.approx(monte_carlo_repeated_std(neuron, 1.0, T), rel=0.01)
    assert repeated > 1.1 * pooled_potential_std(neuron, sigma_x=1.0, T=T)  # the audit: +14% to +38%


def test_each_layer_is_calibrated_for_what_it_receives():
    """Stem under direct encoding: repeated input; a residual block's last neuron behind an
    identity shortcut: its branch's alpha / sqrt(2); every other layer: i.i.d. at the model's alpha."""
    from omegaconf import OmegaConf

    from bench.builder import neuron_factory
    from bench.models.resnet import SpikingResNet19
    from bench.neurons.base import Neuron

    window = {"_target_": "bench.neurons.surrogate.AnalyticWindow", "kappa": 2.5066282746310002}
    neuron = {"_target_": "bench.neurons.lif.LIF", "surrogate": window}
    cfg = OmegaConf.create({"neuron": neuron, "runtime": {"neuron_backend": "eager"},
                            "task": {"T": 4, "encoding": "direct", "model": {"alpha": 1.0}}})
    model = SpikingResNet19(neuron_factory(cfg), input_shape=(3, 8, 8), num_classes=10)
    width = {name: m.surrogate.width for name, m in model.named_modules() if isinstance(m, Neuron)}

    def expected(alpha, repeated=False):
        return KAPPA * pooled_potential_std(LIF(), sigma_x=alpha, T=4, repeated_input=repeated)

    assert width["stem.1"] == pytest.approx(expected(1.0, repeated=True))
    assert width["layers.0.0.neuron1"] == pytest.approx(expected(1.0))
    assert width["layers.0.0.neuron2"] == pytest.approx(expected(1 / math.sqrt(2)))  # identity shortcut
    assert width["layers.1.0.neuron2"] == pytest.approx(expected(1.0))  # projection shortcut: two branches
    cfg.task.encoding = "frames"  # event frames differ every step: the stem is i.i.d. too
    model = SpikingResNet19(neuron_factory(cfg), input_shape=(3, 8, 8), num_classes=10)
    assert model.stem[1].surrogate.width == pytest.approx(expected(1.0))
