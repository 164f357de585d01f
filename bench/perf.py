"""Measured speed of the neurons, as ratios from one run (never bare seconds across runs).

Usage: python -m bench.perf neurons [--shape T B C H W] [--rounds N] [--device cpu|cuda]

Times forward+backward of every neuron in params.yaml, eager and fused, on one input (default
[4, 32, 128, 32, 32] float32), interleaved with the memory floor and, when installed, snnTorch
`Leaky` and spikingjelly `LIFNode`/`QIFNode` (multi-step, torch backend): every candidate runs
once per round, after warm-up (which includes compilation), and the medians over rounds are
compared. The floor is `(x * 1.0).sum().backward()` on the same tensor, gradient cleared each
time. A neuron must read x, write spikes, keep something for backward and write the input
gradient, about 1.5x the floor's bytes, so ~1.5x the floor is the physical limit.

Memory: the bytes each candidate keeps for backward (distinct storages packed by autograd;
activations dominate the memory of BPTT), and on CUDA the peak allocated during forward+backward.
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from hydra.utils import instantiate

from bench.config import load_params
from bench.neurons.base import BACKENDS, Neuron

DEFAULT_SHAPE = (4, 32, 128, 32, 32)


def our_neurons(T: int) -> dict[str, Neuron]:
    """Every neuron of params.yaml, eager and fused, as configured (calibrated for T, alpha = 1)."""
    out = {}
    for name, cfg in load_params().neurons.items():
        for backend in BACKENDS:
            neuron = instantiate(cfg, backend=backend)
            neuron.calibrate(T=T, alpha=1.0)
            out[f"{name} {backend}"] = neuron
    return out


def peer_neurons() -> dict[str, Callable]:
    """Multi-step peers with the same LIF dynamics (decay 0.5, hard reset to 0), when installed."""
    peers: dict[str, Callable] = {}
    try:
        import snntorch

        leaky = snntorch.Leaky(beta=0.5, reset_mechanism="zero")

        def snntorch_leaky(x):
            mem, spikes = leaky.init_leaky(), []
            for x_t in x:
                s, mem = leaky(x_t, mem)
                spikes.append(s)
            return torch.stack(spikes)

        peers["snntorch Leaky"] = snntorch_leaky
    except ImportError:
        pass
    try:
        from spikingjelly.activation_based import neuron as sj

        for label, node in (("LIFNode", sj.LIFNode(tau=2.0, step_mode="m")), ("QIFNode", sj.QIFNode(step_mode="m"))):

            def run(x, node=node):
                node.reset()
                return node(x)

            peers[f"spikingjelly {label}"] = run
    except ImportError:
        pass
    return peers


def candidates(T: int, device: str) -> dict[str, Callable]:
    out: dict[str, Callable] = {"floor": lambda x: x * 1.0}
    out.update({name: n.to(device) for name, n in our_neurons(T).items()})
    out.update(peer_neurons())
    return out


def fwd_bwd(fn: Callable, x: torch.Tensor) -> None:
    x = x.detach().requires_grad_()  # a fresh leaf: the gradient is cleared each time
    fn(x).sum().backward()


def saved_bytes(fn: Callable, x: torch.Tensor) -> int:
    """Bytes of the distinct storages autograd keeps for backward during one forward."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    x = x.detach().requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(x)
    out.sum().backward()
    return sum(storages.values())


def cuda_peak_bytes(fn: Callable, x: torch.Tensor) -> int:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fwd_bwd(fn, x)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def measure(shape: tuple[int, ...] = DEFAULT_SHAPE, device: str = "cpu", rounds: int = 7) -> dict[str, dict]:
    torch.manual_seed(0)
    x = torch.randn(shape, device=device)
    fns = candidates(shape[0], device)
    for fn in fns.values():  # warm-up, including compilation
        fwd_bwd(fn, x)
        fwd_bwd(fn, x)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():  # interleaved: machine noise hits every candidate alike
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fwd_bwd(fn, x)
            if device == "cuda":
                torch.cuda.synchronize()
            samples[name].append(time.perf_counter() - start)
    floor = statistics.median(samples["floor"])
    results = {}
    for name, fn in fns.items():
        median = statistics.median(samples[name])
        results[name] = {
            "ms": 1e3 * median,
            "x_floor": median / floor,
            "saved_mib": saved_bytes(fn, x) / 2**20,
            **({"cuda_peak_mib": cuda_peak_bytes(fn, x) / 2**20} if device == "cuda" else {}),
        }
    return results


def report(results: dict[str, dict], shape, device: str, rounds: int) -> str:
    lines = [
        f"forward+backward on {list(shape)} float32, {device}, median of {rounds} interleaved rounds after warm-up",
        f"{'candidate':26s} {'ms':>8s} {'x floor':>8s} {'saved MiB':>10s}" + ("  peak MiB" if device == "cuda" else ""),
    ]
    for name, r in results.items():
        peak = f"  {r['cuda_peak_mib']:8.1f}" if "cuda_peak_mib" in r else ""
        lines.append(f"{name:26s} {r['ms']:8.1f} {r['x_floor']:8.2f} {r['saved_mib']:10.1f}{peak}")
    peers = [n for n in results if n.startswith(("snntorch", "spikingjelly"))]
    fused = [n for n in results if n.endswith(" fused")]
    if peers:
        lines.append("speed-up of the fused path over peers (same run):")
        for ours in fused:
            ratios = ", ".join(f"{results[p]['ms'] / results[ours]['ms']:.1f}x {p}" for p in peers)
            lines.append(f"  {ours:20s} {ratios}")
    else:
        lines.append("peers: install snntorch and/or spikingjelly to compare (pip install -e '.[peers]')")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m bench.perf", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["neurons"])
    parser.add_argument("--shape", type=int, nargs="+", default=list(DEFAULT_SHAPE))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    results = measure(tuple(args.shape), args.device, args.rounds)
    print(report(results, args.shape, args.device, args.rounds))
    return results


if __name__ == "__main__":
    main()
