"""Neurons with more than one state (ALIF, AdEx, Izhikevich) against independent simulations of
their published equations, and the interface's rules for multi-state neurons."""

import math

import pytest
import torch

from bench.neurons.adex import AdEx
from bench.neurons.alif import ALIF
from bench.neurons.base import Neuron, OpCount
from bench.neurons.izhikevich import Izhikevich
from bench.neurons.lif import LIF
from bench.neurons.surrogate import AnalyticWindow


def spike_train(neuron: Neuron, drive: list[float]) -> list[int]:
    x = torch.tensor(drive, dtype=torch.float64)[:, None]
    return neuron.to(torch.float64)(x).squeeze(1).int().tolist()


def test_alif_without_adaptation_is_lif_exactly():
    x = (torch.randn(12, 32, 16, generator=torch.Generator().manual_seed(0)) + 0.4).requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    s_lif, s_alif = LIF(backend="eager")(x), ALIF(beta=0.0)(x2)
    assert torch.equal(s_lif, s_alif)
    (s_lif * torch.linspace(-1, 1, 16)).sum().backward()
    (s_alif * torch.linspace(-1, 1, 16)).sum().backward()
    assert torch.equal(x.grad, x2.grad)


def test_alif_threshold_rises_with_each_spike_and_decays():
    """Bellec et al. 2018: A = threshold + beta a, a <- (1 - 1/tau_a) a + (1/tau_a) z."""
    alif = ALIF(tau=2.0, tau_a=4.0, beta=1.0)
    # step 1: h = 1.2 >= 1 -> spike, a = 0.25; step 2: h = 0 + 1.2 = 1.2 < 1.25 -> no spike, a = 0.1875;
    # step 3: h = 0.6 + 1.0 = 1.6 >= 1.1875 -> spike
    assert spike_train(alif, [1.2, 1.2, 1.0]) == [1, 0, 1]
    assert spike_train(LIF(), [1.2, 1.2, 1.0]) == [1, 1, 1]


def izhikevich_in_millivolts(current: list[float], a=0.02, b=0.2, c=-65.0, d=8.0, v_peak=30.0, dt=1.0) -> list[int]:
    """Izhikevich (2003) in mV and ms, the drift in two Euler half-steps of dt/2 as the paper's
    code takes them; the current as the step's charge after the drift and the recovery from the
    state entering the step, the suite's convention (bench/neurons/izhikevich.py)."""
    v = (-(5 - b) - ((5 - b) ** 2 - 4 * 0.04 * 140) ** 0.5) / (2 * 0.04)
    r = b * v
    spikes = []
    for i in current:
        middle = v + dt / 2 * (0.04 * v * v + 5 * v + 140 - r)
        v, r = middle + dt / 2 * (0.04 * middle * middle + 5 * middle + 140 - r) + dt * i, r + dt * a * (b * v - r)
        fired = v >= v_peak
        if fired:
            v, r = c, r + d
        spikes.append(int(fired))
    return spikes


def test_izhikevich_takes_two_half_steps_where_one_euler_step_is_unstable():
    """The slope of the potential's map at the resting recovery: one 1-ms Euler step,
    1 + F'(u), falls below -1 under u = -0.237 (v = -87.5 mV), where the map overshoots and
    diverges; two half-steps, (1 + F'(u)/2)(1 + F'(m)/2) at the midpoint m, keep it above -1
    down to u = -0.506 (v = -113.1 mV)."""
    neuron = Izhikevich().double()
    r = torch.tensor(neuron.states_rest[0].item(), dtype=torch.float64)
    k2, k1, k0 = 0.04 * 95, 0.08 * -65 + 5, (0.04 * 65 * 65 - 5 * 65 + 140) / 95
    drift, drift_slope = (lambda u: k2 * u * u + k1 * u + k0 - r.item()), (lambda u: 2 * k2 * u + k1)

    def slope(u: float) -> float:
        x = torch.tensor(u, dtype=torch.float64, requires_grad=True)
        (x + neuron.f(x, r)).backward()
        return x.grad.item()

    for u in (-0.2, -0.3, -0.45, -0.6):
        middle = u + 0.5 * drift(u)
        assert slope(u) == pytest.approx((1 + 0.5 * drift_slope(u)) * (1 + 0.5 * drift_slope(middle)))
    assert 1 + drift_slope(-0.3) < -1 < slope(-0.3)  # one Euler step unstable there, two half-steps not
    assert slope(-0.5) > -1 > slope(-0.52)


@pytest.mark.parametrize("cell", [dict(), dict(a=0.02, b=0.2, c=-50.0, d=2.0), dict(a=0.1, b=0.2, c=-65.0, d=2.0, dt=0.5)],
                         ids=["regular-spiking", "chattering", "fast-spiking-dt0.5"])
def test_izhikevich_matches_the_published_equations_in_millivolts(cell):
    current = [0.0] * 10 + [10.0] * 190 + [0.0] * 50 + [4.0] * 150
    neuron = Izhikevich(**cell)
    scale = neuron.v_peak.item() - neuron.c.item()
    dt = cell.get("dt", 1.0)
    ours = spike_train(neuron, [dt * i / scale for i in current])
    published = izhikevich_in_millivolts(current, **cell)
    assert sum(published) > 5 and ours == published


def test_izhikevich_regular_spiking_adapts():
    """Under a constant current the regular-spiking cell's inter-spike intervals lengthen."""
    neuron = Izhikevich()
    spikes = spike_train(neuron, [10.0 / 95] * 300)
    times = [t for t, s in enumerate(spikes) if s]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(gaps) > 4 and gaps[-1] > gaps[0]
    assert neuron.rest.item() * 95 - 65 == pytest.approx(-70.0, abs=1e-4)


def adex_in_physical_units(current_pa: list[float], dt_ms: float) -> list[int]:
    """Brette & Gerstner (2005), Table 1, in mV, nS, pF, pA and ms, explicit Euler."""
    C, gL, EL, VT, dT, a, tau_w, b = 281.0, 30.0, -70.6, -50.4, 2.0, 4.0, 144.0, 80.5
    V, w, cut = EL, 0.0, VT + 5 * dT
    spikes = []
    for i in current_pa:
        dV = (-gL * (V - EL) + gL * dT * torch.tensor((V - VT) / dT).exp().item() - w + i) / C
        V, w = V + dt_ms * dV, w + dt_ms * (a * (V - EL) - w) / tau_w
        fired = V >= cut
        if fired:
            V, w = EL, w + b
        spikes.append(int(fired))
    return spikes


def test_adex_defaults_are_brette_and_gerstners_cell():
    """The dimensionless AdEx with its default parameters spikes as the published cell does, at
    the step tau_m / tau (the defaults are rounded to 3 digits, so the drive avoids thresholds)."""
    tau_m, span = 281.0 / 30.0, 30.2  # ms; V_cut - E_L in mV
    dt = tau_m / 2.0
    current = [0.0] * 5 + [1000.0] * 60 + [0.0] * 10
    # I in pA -> per-step potential: dt I / C in mV, over the span
    ours = spike_train(AdEx(), [dt * i / 281.0 / span for i in current])
    published = adex_in_physical_units(current, dt)
    assert sum(published) > 3
    assert sum(a != b for a, b in zip(ours, published)) <= 1  # at most one spike off by one step


def test_adex_spike_adds_b_to_the_adaptation_current():
    adex = AdEx(b=0.25, a=0.0, tau_w=4.0)
    x = torch.tensor([[5.0]])
    s, u, w = adex.step(torch.zeros(1), x[0], torch.zeros(1))
    assert s.item() == 1 and u.item() == 0.0 and w.item() == pytest.approx(0.25)
    s, u, w = adex.step(u, torch.zeros(1), w)
    assert s.item() == 0 and w.item() == pytest.approx(0.25 * 0.75)


def test_analytic_window_refuses_a_neuron_with_two_states():
    neuron = ALIF(surrogate=AnalyticWindow(kappa=math.sqrt(2 * math.pi)))
    with pytest.raises(ValueError, match=r"ALIF has the states \(u, a\).*fixed surrogate"):
        neuron.calibrate(T=8, alpha=1.0)


def test_states_without_their_update_are_refused():
    class Broken(Neuron):
        states = ("w",)
        f_ops = OpCount(add=1)

        def f(self, u, w):
            return -w

    with pytest.raises(TypeError, match=r"declares states \('w',\) but no g\(u, w\)"):
        Broken({})


def test_learnable_parameters_of_a_second_state_get_the_same_gradients_fused():
    x = torch.randn(5, 8, 32, generator=torch.Generator().manual_seed(1)) + 0.5
    grads = {}
    for backend in ("eager", "fused"):
        neuron = AdEx(learnable=["a", "b", "tau_w"], backend=backend)
        (neuron(x) * torch.linspace(-1, 1, 32)).sum().backward()
        grads[backend] = [getattr(neuron, name).grad for name in ("a", "b", "tau_w")]
    for eager, fused in zip(grads["eager"], grads["fused"]):
        assert eager is not None and torch.isfinite(eager) and eager != 0
        torch.testing.assert_close(fused, eager, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("make", [
    lambda **k: ALIF(learnable=["tau", "tau_a", "beta"], **k),
    lambda **k: AdEx(learnable=["a", "b", "tau_w", "u_T", "delta_T"], **k),
    lambda **k: AdEx(learnable=["a", "b"], reset="soft", **k),
    lambda **k: Izhikevich(learnable=["a", "b", "d", "c"], **k),  # b and c move the resting state
], ids=["alif", "adex", "adex-soft", "izhikevich"])
def test_bptt_gradients_of_input_and_every_parameter_equal_eager(make):
    """The hand-written multi-state backward (bench.neurons.bptt._ThroughTimeStates), including
    parameters of g, on_spike, firing_threshold and the resting state."""
    x = torch.randn(12, 16, 24, generator=torch.Generator().manual_seed(2)) * 0.8 + 0.4
    weights = torch.linspace(-1, 1, 24)
    grads = {}
    for backend in ("eager", "bptt"):
        torch.manual_seed(0)
        neuron, xi = make(backend=backend), x.clone().requires_grad_()
        (neuron(xi) * weights).sum().backward()
        grads[backend] = [xi.grad] + [getattr(neuron, name).grad for name in neuron.learnable]
    for eager, bptt in zip(grads["eager"], grads["bptt"]):
        assert eager is not None and (eager != 0).any()
        torch.testing.assert_close(bptt, eager, rtol=1e-4, atol=1e-5)
