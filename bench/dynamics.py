"""Null-input dynamics of a neuron: fixed points, their stability, the basin of rest, and a
figure like the paper's Figure 1 (return map and trajectories).

Usage: python -m bench.dynamics <neuron>   (a neuron of params.yaml, e.g. qif)

Everything is computed from the neuron's own f, so it works for any neuron: the map without
input is g(u) = u + f(u) (paper.md's g, `return_map`; not the g of a neuron with more states); a
fixed point u* (f(u*) = 0) is stable iff |g'(u*)| < 1, approached monotonically if g'(u*) >= 0
and with a damped oscillation if g'(u*) < 0 (a(u2 - u1) > 1 for the QIF; never for LIF).

A neuron with a second state w gets a phase plane instead: the null-input map
(u, w) -> (u + f(u, w), w + g(u, w)), its nullclines f = 0 and g = 0, the fixed points where they
cross with the eigenvalues of the map's Jacobian there (stable iff all |lambda| < 1; complex
eigenvalues: a focus), null-input trajectories in the plane, and the response to a constant drive,
which shows the second state at work (adaptation). More than two states: the driven response only.
"""

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from scipy import optimize
from scipy.optimize import brentq

from bench import numerics
from bench.config import load_params, lookup
from bench.neurons.analytic import return_map
from bench.neurons.base import Neuron

FIGURES_DIR = Path("results/figures")


@dataclass
class FixedPoint:
    u: float
    slope: float  # g'(u*) = 1 + f'(u*)
    stable: bool
    approach: str  # "monotone", "oscillating", "unstable"


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
    f = return_map(neuron, u) - u
    roots = [float(u[i]) for i in np.flatnonzero(f == 0)]
    for i in np.flatnonzero(np.sign(f[:-1]) * np.sign(f[1:]) < 0):
        roots.append(brentq(lambda x: float(return_map(neuron, np.array([x]))[0] - x), u[i], u[i + 1], xtol=1e-12))
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
        us.append(float(return_map(neuron, np.array([us[-1]]))[0]))
    return us


def plane_map(neuron: Neuron, u: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The null-input change per step (f, g) of a two-state neuron, in float64."""
    with torch.no_grad():
        tu, tw = torch.as_tensor(u, dtype=torch.float64), torch.as_tensor(w, dtype=torch.float64)
        return neuron.f(tu, tw).to(torch.float64).numpy(), neuron.g(tu, tw).to(torch.float64).numpy()


def driven(neuron: Neuron, drive: float, steps: int) -> dict[str, list[float]]:
    """Potential before reset (h), spikes and the other states under a constant input."""
    u = torch.full((1,), float(neuron.rest), dtype=torch.float64)
    states = [torch.full((1,), float(r), dtype=torch.float64) for r in neuron.states_rest]
    out = {"h": [], "threshold": [], "spikes": [], **{name: [] for name in neuron.states}}
    with torch.no_grad():
        for _ in range(steps):
            out["h"].append(float(u + neuron.f(u, *states) + drive))
            out["threshold"].append(float(neuron.firing_threshold(*states)))
            s, u, *states = neuron.step(u, torch.full((1,), drive, dtype=torch.float64), *states)
            out["spikes"].append(int(s))
            for name, w in zip(neuron.states, states):
                out[name].append(float(w))
    return out


def plane_ranges(neuron: Neuron, response: dict) -> tuple[tuple[float, float], tuple[float, float]]:
    rest, span = float(neuron.rest), neuron.threshold - float(neuron.rest)
    w_seen = [float(neuron.states_rest[0]), *response[neuron.states[0]]]
    w_lo, w_hi = min(w_seen), max(w_seen)
    margin = max(0.25 * (w_hi - w_lo), 0.1 * span)
    return (rest - 0.5 * span, neuron.threshold + 0.1 * span), (w_lo - margin, w_hi + margin)


def plane_fixed_points(neuron: Neuron, u_range, w_range, n: int = 201) -> list[dict]:
    """Where both nullclines pass through a grid cell, refined by a root finder; each with the
    eigenvalues of the map's Jacobian."""
    u, w = np.meshgrid(np.linspace(*u_range, n), np.linspace(*w_range, n), indexing="ij")
    f, g = plane_map(neuron, u, w)

    def crosses(z):  # cells whose four corners do not share one strict sign
        corners = np.stack([z[:-1, :-1], z[1:, :-1], z[:-1, 1:], z[1:, 1:]])
        return (corners.min(0) <= 0) & (corners.max(0) >= 0)

    found = []
    for i, j in zip(*np.nonzero(crosses(f) & crosses(g))):
        start = [(u[i, j] + u[i + 1, j]) / 2, (w[i, j] + w[i, j + 1]) / 2]
        sol = optimize.root(lambda z: np.concatenate(plane_map(neuron, z[:1], z[1:])), start, tol=1e-13)
        if sol.success and not any(np.allclose(sol.x, p, atol=1e-7) for p in found):
            found.append(sol.x)
    points = []
    for uw in sorted(found, key=lambda z: tuple(z)):
        jac = torch.autograd.functional.jacobian(
            lambda z: torch.stack([z[0] + neuron.f(z[0], z[1]), z[1] + neuron.g(z[0], z[1])]).to(torch.float64),
            torch.tensor(uw, dtype=torch.float64),
        ).numpy()
        eig = np.linalg.eigvals(jac)
        stable, focus = bool(np.abs(eig).max() < 1), bool(np.abs(eig.imag).max() > 1e-12)
        kind = f"{'stable' if stable else 'unstable'} {'focus' if focus else 'node'}"
        if np.abs(eig).min() < 1 < np.abs(eig).max():
            kind = "saddle"
        points.append({
            "u": round(float(uw[0]), 12) + 0.0, neuron.states[0]: round(float(uw[1]), 12) + 0.0, "stable": stable, "kind": kind,
            "eigenvalues": [[float(e.real), float(e.imag)] for e in eig], "moduli": [float(m) for m in np.abs(eig)],
        })
    return points


DRIVE_STEPS = 60


def drive_of(neuron: Neuron) -> float:
    return 0.75 * (neuron.threshold - float(neuron.rest))  # fires LIF (tau 2) every other step


def analyse_states(neuron: Neuron, response: dict | None = None) -> dict:
    """Multi-state neurons: the driven response (`driven` under drive_of, computed unless given),
    and for two states the phase plane's fixed points."""
    drive = drive_of(neuron)
    response = response or driven(neuron, drive, DRIVE_STEPS)
    times = [t for t, s in enumerate(response["spikes"]) if s]
    report = {
        "neuron": repr(neuron), "states": ["u", *neuron.states],
        "driven": {"input": drive, "spike_times": times, "intervals": [b - a for a, b in zip(times, times[1:])]},
    }
    if len(neuron.states) != 1:
        report["phase_plane"] = f"drawn for two states only; {type(neuron).__name__} has {1 + len(neuron.states)}"
        return report
    u_range, w_range = plane_ranges(neuron, response)
    report.update(u_range=list(u_range), w_range=list(w_range), fixed_points=plane_fixed_points(neuron, u_range, w_range))
    return report


def analyse(neuron: Neuron) -> dict:
    if neuron.states:
        return analyse_states(neuron)
    lo, hi = scan_range(neuron)
    u = np.linspace(lo, hi, 1001)
    if np.all(return_map(neuron, u) == u):  # no leak (IF): every potential below threshold stays where it is
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
    left.plot(u, return_map(neuron, u), label="g(u) = u + f(u)")
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


def plane_trajectory(neuron: Neuron, u0: float, w0: float, steps: int = 60) -> tuple[list[float], list[float]]:
    """Null-input path of (u, w) until a spike (the last point is the crossing h) or `steps` pass."""
    us, ws = [u0], [w0]
    u, w = torch.tensor([u0], dtype=torch.float64), torch.tensor([w0], dtype=torch.float64)
    with torch.no_grad():
        for _ in range(steps):
            h = u + neuron.f(u, w)
            if h.item() >= float(neuron.firing_threshold(w)):
                us.append(h.item())
                ws.append(ws[-1])
                break
            u, w = h, w + neuron.g(u, w)
            us.append(u.item())
            ws.append(w.item())
    return us, ws


def plot_states(neuron: Neuron, report: dict, path: Path, response: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plane = "fixed_points" in report
    fig, axes = plt.subplots(1, 2 if plane else 1, figsize=(10 if plane else 5.5, 4), squeeze=False)
    if plane:
        ax, name = axes[0, 0], neuron.states[0]
        u_range, w_range = report["u_range"], report["w_range"]
        u, w = np.meshgrid(np.linspace(*u_range, 300), np.linspace(*w_range, 300), indexing="ij")
        f, g = plane_map(neuron, u, w)
        ax.contour(u, w, f, levels=[0], colors="C0")
        ax.contour(u, w, g, levels=[0], colors="C1")
        ax.plot([], [], color="C0", label="f = 0 (u-nullcline)")
        ax.plot([], [], color="C1", label=f"g = 0 ({name}-nullcline)")
        ax.axvline(neuron.threshold, color="grey", lw=0.8, ls=":", label="threshold (at rest)")
        span = neuron.threshold - float(neuron.rest)
        for k, frac in enumerate((0.3, 0.6, 0.9)):
            for w0 in (float(neuron.states_rest[0]), w_range[1] - 0.1 * (w_range[1] - w_range[0])):
                us, ws = plane_trajectory(neuron, float(neuron.rest) + frac * span, w0)
                ax.plot(us, ws, ".-", color=f"C{k + 2}", lw=0.8, ms=3)
        for p in report["fixed_points"]:
            ax.plot(p["u"], p[name], "o", ms=8, mfc="C2" if p["stable"] else "white", mec="C2" if p["stable"] else "C3")
            ax.annotate(p["kind"], (p["u"], p[name]), textcoords="offset points", xytext=(6, 6), fontsize=7)
        ax.set(xlim=u_range, ylim=w_range, xlabel="u", ylabel=name, title="phase plane (no input)")
        ax.legend(fontsize=7, loc="best")
    ax = axes[0, -1]
    ax.plot(response["h"], color="C0", lw=1, label="h (before reset)")
    times = report["driven"]["spike_times"]
    ax.plot(times, [response["h"][t] for t in times], "k|", ms=12, label="spikes")
    ax.plot(response["threshold"], color="grey", lw=0.8, ls=":", label="threshold")
    ax.set(xlabel="t", ylabel="h", title=f"constant input x = {report['driven']['input']:.3g}")
    twin = ax.twinx()
    for k, name in enumerate(neuron.states):
        twin.plot(response[name], color=f"C{k + 1}", lw=1, ls="--", label=name)
    twin.set_ylabel(", ".join(neuron.states))
    lines = ax.get_legend_handles_labels()
    extra = twin.get_legend_handles_labels()
    ax.legend(lines[0] + extra[0], lines[1] + extra[1], fontsize=7, loc="lower right")
    params = ", ".join(f"{k}={v + 0.0:g}" for k, v in neuron.param_values().items())
    fig.suptitle(f"{type(neuron).__name__}({params}, threshold={neuron.threshold:g})", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


def print_states(report: dict) -> None:
    name = report["states"][1] if len(report["states"]) == 2 else None
    for p in report.get("fixed_points", []):
        moduli = ", ".join(f"{m:.4g}" for m in p["moduli"])
        print(f"fixed point (u, {name}) = ({p['u']:.6g}, {p[name]:.6g}): |eigenvalues| {moduli} -> {p['kind']}")
    if "phase_plane" in report:
        print(f"phase plane: {report['phase_plane']}")
    intervals = report["driven"]["intervals"]
    print(f"constant input {report['driven']['input']:.3g}: {len(report['driven']['spike_times'])} spikes, intervals {intervals}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dynamics", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("neuron")
    args = parser.parse_args(argv)
    numerics.route_vendor_kernels()  # the figures' numbers, like the cells', do not depend on the CPU vendor
    neuron = instantiate(lookup(load_params(), "neurons", args.neuron, "neuron"))
    path = FIGURES_DIR / f"dynamics-{args.neuron}.png"
    if neuron.states:
        response = driven(neuron, drive_of(neuron), DRIVE_STEPS)
        report = analyse_states(neuron, response)
        print_states(report)
        plot_states(neuron, report, path, response)
        (FIGURES_DIR / f"dynamics-{args.neuron}.json").write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {path}")
        return report
    report = analyse(neuron)
    if "neutral" in report:
        print(report["neutral"])
    for p in report["fixed_points"]:
        print(f"fixed point u* = {p['u']:.6g}: g'(u*) = {p['slope']:.6g} -> {p['approach']}")
    if "basin_of_rest" in report:
        lo, hi = report["basin_of_rest"]
        print(f"basin of rest: ({lo:.3f}, {hi:.3f})")
        print(f"oscillation regime (g'(rest) < 0): {'yes' if report['oscillates'] else 'no'}")
    plot(neuron, report, path)
    (FIGURES_DIR / f"dynamics-{args.neuron}.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {path}")
    return report


if __name__ == "__main__":
    main()
