"""Null-input dynamics of a neuron: fixed points, their stability, the basin of rest, and a
figure like the paper's Figure 1 (return map and trajectories).

Usage: python -m bench.dynamics <neuron>   (a neuron of params.yaml, e.g. qif)

Everything is computed from the neuron's own f, so it works for any neuron: the map without
input is g(u) = u + f(u); a fixed point u* (f(u*) = 0) is stable iff |g'(u*)| < 1, approached
monotonically if g'(u*) >= 0 and with a damped oscillation if g'(u*) < 0 (a(u2 - u1) > 1 for
the QIF; never for LIF).
"""

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from scipy.optimize import brentq

from bench.config import load_params, lookup
from bench.neurons.base import Neuron

FIGURES_DIR = Path("results/figures")


@dataclass
class FixedPoint:
    u: float
    slope: float  # g'(u*) = 1 + f'(u*)
    stable: bool
    approach: str  # "monotone", "oscillating", "unstable"


def g(neuron: Neuron, u: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        t = torch.as_tensor(u, dtype=torch.float64)
        return (t + neuron.f(t).to(torch.float64)).numpy()


def slope(neuron: Neuron, u: float) -> float:
    t = torch.tensor(u, dtype=torch.float64, requires_grad=True)
    (t + neuron.f(t)).backward()
    return t.grad.item()


def scan_range(neuron: Neuron) -> tuple[float, float]:
    rest = float(neuron.rest)
    span = max(1.0, neuron.threshold - rest)
    return rest - 20 * span, neuron.threshold


def fixed_points(neuron: Neuron, n: int = 200_001) -> list[FixedPoint]:
    """Roots of f below the threshold, bracketed on a fine grid and refined with Brent's method."""
    lo, hi = scan_range(neuron)
    u = np.linspace(lo, hi, n)
    f = g(neuron, u) - u
    roots = [float(u[i]) for i in np.flatnonzero(f == 0)]
    for i in np.flatnonzero(np.sign(f[:-1]) * np.sign(f[1:]) < 0):
        roots.append(brentq(lambda x: float(g(neuron, np.array([x]))[0] - x), u[i], u[i + 1], xtol=1e-12))
    points = []
    for root in sorted(round(r, 10) for r in roots):
        d = slope(neuron, root)
        stable = abs(d) < 1
        approach = "unstable" if not stable else ("monotone" if d >= 0 else "oscillating")
        points.append(FixedPoint(root, d, stable, approach))
    return points


def basin(neuron: Neuron, point: FixedPoint, steps: int = 1000, n: int = 40_001) -> tuple[float, float]:
    """The interval around a stable fixed point from which the null-input map converges to it."""
    lo, hi = scan_range(neuron)
    u0 = np.linspace(lo, hi, n)
    u = torch.from_numpy(u0)
    with torch.no_grad():
        for _ in range(steps):
            u = torch.where(u.abs() < 1e6, u + neuron.f(u), torch.inf)  # escaped points stay escaped
    converged = (u - point.u).abs().numpy() < 1e-6
    i = int(np.argmin(np.abs(u0 - point.u)))
    left, right = i, i
    while left > 0 and converged[left - 1]:
        left -= 1
    while right < n - 1 and converged[right + 1]:
        right += 1
    step = u0[1] - u0[0]
    # reaching the bottom of the scanned range means the basin extends below it (LIF: to -inf)
    return (-np.inf if left == 0 else float(u0[left] - step / 2)), float(u0[right] + step / 2)


def trajectory(neuron: Neuron, u0: float, steps: int) -> list[float]:
    """Null-input potentials until the threshold is crossed (a spike) or `steps` pass."""
    us = [u0]
    for _ in range(steps):
        if us[-1] >= neuron.threshold:
            break
        us.append(float(g(neuron, np.array([us[-1]]))[0]))
    return us


def analyse(neuron: Neuron) -> dict:
    lo, hi = scan_range(neuron)
    u = np.linspace(lo, hi, 1001)
    if np.all(g(neuron, u) == u):  # no leak (IF): every potential below threshold stays where it is
        return {"neuron": repr(neuron), "fixed_points": [], "neutral": "g(u) = u: every potential is a fixed point (no leak)"}
    points = fixed_points(neuron)
    report = {"neuron": repr(neuron), "fixed_points": [asdict(p) for p in points]}
    stable = [p for p in points if p.stable]
    if stable:
        rest = min(stable, key=lambda p: abs(p.u - float(neuron.rest)))
        report["basin_of_rest"] = basin(neuron, rest)
        report["oscillates"] = rest.approach == "oscillating"
    return report


def plot(neuron: Neuron, report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [FixedPoint(**p) for p in report["fixed_points"]]
    unstable = [p.u for p in points if not p.stable]
    rest = float(neuron.rest)
    starts = sorted({round(x, 3) for c in unstable for x in (c - 0.1, c + 0.01, c + 0.1)}) or [rest + 0.5]
    lo = min([rest, *unstable]) - 0.5
    hi = neuron.threshold + 0.1

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    u = np.linspace(lo, hi, 400)
    left.plot(u, g(neuron, u), label="g(u) = u + f(u)")
    left.plot(u, u, "k--", lw=0.8, label="identity")
    left.axvline(neuron.threshold, color="grey", lw=0.8, ls=":", label="threshold")
    for p in points:
        left.plot(p.u, p.u, "o", mfc="C2" if p.stable else "white", mec="C2" if p.stable else "C3")
    left.set(xlabel="u[t-1]", ylabel="u[t] (no input)", title="return map")
    left.legend(fontsize=8)
    for u0 in starts:
        us = trajectory(neuron, u0, steps=60)
        right.plot(range(len(us)), us, marker=".", label=f"u0 = {u0:g}")
    right.axhline(neuron.threshold, color="grey", lw=0.8, ls=":")
    right.set(xlabel="t", ylabel="u", title="trajectories (no input)")
    right.legend(fontsize=8)
    params = ", ".join(f"{k}={v + 0.0:g}" for k, v in neuron.param_values().items())  # + 0.0: no "-0"
    fig.suptitle(f"{type(neuron).__name__}({params}, threshold={neuron.threshold:g})", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dynamics", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("neuron")
    args = parser.parse_args(argv)
    neuron = instantiate(lookup(load_params(), "neurons", args.neuron, "neuron"))
    report = analyse(neuron)
    if "neutral" in report:
        print(report["neutral"])
    for p in report["fixed_points"]:
        print(f"fixed point u* = {p['u']:.6g}: g'(u*) = {p['slope']:.6g} -> {p['approach']}")
    if "basin_of_rest" in report:
        lo, hi = report["basin_of_rest"]
        print(f"basin of rest: ({lo:.3f}, {hi:.3f})")
        print(f"oscillation regime (g'(rest) < 0): {'yes' if report['oscillates'] else 'no'}")
    path = FIGURES_DIR / f"dynamics-{args.neuron}.png"
    plot(neuron, report, path)
    (FIGURES_DIR / f"dynamics-{args.neuron}.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {path}")
    return report


if __name__ == "__main__":
    main()
