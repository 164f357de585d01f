import math

import pytest

from bench.dynamics import analyse, main, trajectory
from bench.neurons.lif import LIF
from bench.neurons.qif import QIF


def test_qif_fig1_fixed_points_stability_and_basin():
    report = analyse(QIF(a=0.25, u1=0.0, u2=0.5))
    (rest, critical) = report["fixed_points"]
    assert rest["u"] == pytest.approx(0.0, abs=1e-9) and rest["slope"] == pytest.approx(0.875)
    assert rest["approach"] == "monotone"
    assert critical["u"] == pytest.approx(0.5) and critical["slope"] == pytest.approx(1.125)
    assert critical["approach"] == "unstable"
    lo, hi = report["basin_of_rest"]
    assert lo == pytest.approx(-4.0, abs=2e-3) and hi == pytest.approx(0.5, abs=2e-3)  # (u1 - 1/a, u2)
    assert report["oscillates"] is False


@pytest.mark.parametrize("a, oscillates", [(0.9, False), (1.5, True), (1.9, True)])
def test_qif_oscillation_regime_is_1_lt_a_d_lt_2(a, oscillates):
    report = analyse(QIF(a=a, u1=-0.5, u2=0.5))
    rest = report["fixed_points"][0]
    assert rest["slope"] == pytest.approx(1 - a) and rest["stable"]
    assert report["oscillates"] is oscillates
    lo, hi = report["basin_of_rest"]
    assert lo == pytest.approx(-0.5 - 1 / a, abs=2e-3) and hi == pytest.approx(0.5, abs=2e-3)


def test_qif_beyond_a_d_2_rest_is_unstable():
    report = analyse(QIF(a=2.5, u1=-0.5, u2=0.5))
    assert not any(p["stable"] for p in report["fixed_points"]) and "basin_of_rest" not in report


def test_lif_rest_is_globally_attracting_below_threshold():
    report = analyse(LIF(tau=2.0))
    (rest,) = report["fixed_points"]
    assert rest["u"] == 0.0 and rest["slope"] == pytest.approx(0.5)
    assert report["basin_of_rest"][0] == -math.inf and report["basin_of_rest"][1] == pytest.approx(1.0, abs=1e-3)


def test_fig1_trajectories():
    qif = QIF(a=0.25, u1=0.0, u2=0.5)
    assert abs(trajectory(qif, 0.40, 200)[-1]) < 1e-3
    for u0 in (0.51, 0.60):
        assert trajectory(qif, u0, 200)[-1] >= 1.0


def test_cli_prints_and_writes_the_figure(in_repo, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("bench.dynamics.FIGURES_DIR", tmp_path)
    main(["qif"])
    out = capsys.readouterr().out
    assert "basin of rest: (-4.000, 0.500)" in out and "oscillation regime (g'(rest) < 0): no" in out
    png = (tmp_path / "dynamics-qif.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_izhikevich_phase_plane_rest_is_a_stable_node_and_the_saddle_is_at_minus_50_mv():
    """Regular spiking (a 0.02, b 0.2): the nullclines 0.04 v^2 + 5 v + 140 = r and r = b v meet
    at v = -70 mV (rest) and v = -50 mV (the saddle that initiates a spike)."""
    from bench.neurons.izhikevich import Izhikevich

    report = analyse(Izhikevich())
    rest, saddle = report["fixed_points"]
    assert rest["u"] * 95 - 65 == pytest.approx(-70, abs=1e-4) and rest["kind"] == "stable node"
    assert saddle["u"] * 95 - 65 == pytest.approx(-50, abs=1e-4) and saddle["kind"] == "saddle"
    assert rest["r"] == pytest.approx(0.2 * -70 / 95, abs=1e-6)
    # the map's Jacobian at rest, two half-steps of the drift F (F' = 0.08 v + 5 per mV):
    # [[(1 + F'/2)^2, -(1 + F'/4)], [a b, 1 - a]] in these units
    slope = 0.08 * -70 + 5
    jac = [[(1 + slope / 2) ** 2, -(1 + slope / 4)], [0.02 * 0.2, 1 - 0.02]]
    import numpy as np

    assert sorted(rest["moduli"]) == pytest.approx(sorted(np.abs(np.linalg.eigvals(jac))), abs=1e-5)


def test_alif_phase_plane_and_adaptation_lengthens_the_intervals():
    from bench.neurons.alif import ALIF

    report = analyse(ALIF(tau=2.0, tau_a=20.0, beta=1.8))
    (rest,) = report["fixed_points"]
    assert rest["u"] == pytest.approx(0) and rest["a"] == pytest.approx(0) and rest["kind"] == "stable node"
    assert sorted(rest["moduli"]) == pytest.approx([0.5, 0.95])  # 1 - 1/tau, 1 - 1/tau_a
    intervals = report["driven"]["intervals"]
    assert intervals[-1] > intervals[0]
    lif_intervals = analyse(ALIF(beta=0.0))["driven"]["intervals"]
    assert set(lif_intervals) == {2}  # without adaptation: LIF under the same input fires every other step


def test_adex_phase_plane_and_cli_figure(in_repo, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("bench.dynamics.FIGURES_DIR", tmp_path)
    report = main(["adex"])
    kinds = [p["kind"] for p in report["fixed_points"]]
    assert kinds == ["stable node", "saddle"]
    out = capsys.readouterr().out
    assert "fixed point (u, w)" in out and "-> saddle" in out and "constant input" in out
    png = (tmp_path / "dynamics-adex.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_more_than_two_states_get_the_driven_response_only():
    import torch

    from bench.neurons.base import Neuron, OpCount

    class ThreeState(Neuron):
        states = ("w", "z")
        f_ops = OpCount(add=2, mul=1)

        def f(self, u, w, z):
            return (0.0 - u) * 0.5 - w

        def g(self, u, w, z):
            return (z - w) * 0.1, -z * 0.1

        def on_spike(self, w, z):
            return w, z + 0.2

    neuron = ThreeState({})
    report = analyse(neuron)
    assert "fixed_points" not in report and "two states only" in report["phase_plane"]
    assert report["driven"]["spike_times"]
    assert neuron(torch.full((8, 1), 0.9)).sum() > 0
