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
