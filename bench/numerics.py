"""CPU numerics that differ between x86 machines: pinned before torch loads, routed after.

oneDNN (convolutions), ATen's vectorised kernels and MKL (matrix products) pick their code path
from the CPU's instruction set: the same cell gave another top-1 on an AVX-512 machine than the
committed record made on an AVX2 one, from the first epoch's loss on. Pinning all three to AVX2
(which every x86 CPU of the last decade has) makes the code paths the same on any of them. MKL's
matrix products and exp still depend on the CPU's vendor (an Intel machine re-made 133 of 135
records with other bits), so under the pin a cell runs them on oneDNN and ATen instead
(`route_vendor_kernels`, ROUTED), and `python -m bench.numerics fingerprint` hashes every kernel
a CPU cell runs, to compare machines (docs/reproducibility.md).

The number of intra-op threads matters too: ATen splits a reduction (e.g. the gradient of a
neuron parameter shared by a whole layer, PLIF's decay) into one partial sum per thread, so the
same cell gave PLIF another top-1 with 1 thread than with 2. `runtime.cpu_threads` (default 1)
pins it; `auto` lets torch use every core (faster alone, not reproducible across core counts).

The settings are `runtime.cpu_isa` (conf/config.yaml): `avx2` (default) or `native` (whatever the
CPU offers), and `runtime.cpu_threads`. They must act before torch is imported, so
`bench/__init__.py` calls `pin()` first thing; they are read from the working directory's
params.yaml (every entry point runs from the repository root), and the environment variables
BENCH_CPU_ISA / BENCH_CPU_THREADS override them for one run. ISA variables already set in the
environment are kept; the thread count of the config wins over OMP_NUM_THREADS (a launcher's
guess must not change a record). Every record's provenance holds what was in effect
(`effective()`), with the routed kernels and this machine's fingerprint, so that `bench.verify`
can say before training whether this machine's kernels differ from the record's.
"""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ISAS = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"},
    "native": {},
}
DEFAULT = "avx2"
DEFAULT_THREADS = 1
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")  # read by torch's and MKL's thread pools at load
PARAMS_FILE = Path("params.yaml")
_pinned: dict = {"requested": None, "threads": None, "before_torch": False}


def _runtime(params_file: Path) -> dict:
    """The `runtime` section of params.yaml. Every process reads it at start: with libyaml's
    parser where PyYAML has it (several times faster on the whole file: docs/performance.md)."""
    if not params_file.is_file():
        return {}
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return (yaml.load(params_file.read_text(), Loader=loader) or {}).get("runtime") or {}


def requested(params_file: Path = PARAMS_FILE, runtime: dict | None = None) -> str:
    """BENCH_CPU_ISA, else runtime.cpu_isa of params.yaml, else the default."""
    runtime = _runtime(params_file) if runtime is None else runtime
    isa = os.environ.get("BENCH_CPU_ISA") or runtime.get("cpu_isa") or DEFAULT
    if isa not in ISAS:
        raise ValueError(f"runtime.cpu_isa (or BENCH_CPU_ISA) must be one of {sorted(ISAS)}, got {isa!r}")
    return isa


def requested_threads(params_file: Path = PARAMS_FILE, runtime: dict | None = None) -> int | None:
    """BENCH_CPU_THREADS, else runtime.cpu_threads of params.yaml, else the default; None for `auto`."""
    runtime = _runtime(params_file) if runtime is None else runtime
    return thread_count(runtime.get("cpu_threads", DEFAULT_THREADS))


def thread_count(configured) -> int | None:
    """BENCH_CPU_THREADS, else the configured runtime.cpu_threads: an integer >= 1, or None for `auto`."""
    threads = os.environ.get("BENCH_CPU_THREADS") or configured
    if threads == "auto":
        return None
    if isinstance(threads, str) and threads.isdigit():
        threads = int(threads)
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"runtime.cpu_threads (or BENCH_CPU_THREADS) must be an integer >= 1 or 'auto', got {threads!r}")
    return threads


def pin() -> None:
    """Sets the requested ISA's variables (unless set already) and the thread count if torch is
    not loaded yet."""
    runtime = _runtime(PARAMS_FILE)
    isa, threads = requested(runtime=runtime), requested_threads(runtime=runtime)
    _pinned.update(requested=isa, threads=threads, before_torch="torch" not in sys.modules)
    if _pinned["before_torch"]:
        for name, value in ISAS[isa].items():
            os.environ.setdefault(name, value)
        for name in THREAD_VARIABLES if threads else ():
            os.environ[name] = str(threads)


@contextmanager
def pinned_threads(configured) -> Iterator[None]:
    """One run's configured thread count (its runtime.cpu_threads), also where torch was loaded
    before `pin()` (a test process that trains a cell in-process) or a command-line override
    changed it; the previous count is restored afterwards."""
    import torch

    before, pinned, threads = torch.get_num_threads(), _pinned["threads"], thread_count(configured)
    _pinned["threads"] = threads
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        _pinned["threads"] = pinned


# Under a pinned instruction set, two kernels of a CPU cell still give other bits on another CPU
# vendor (measured against an Intel reference, ../shared/numerics, docs/reproducibility.md): MKL's
# matrix products (nn.Linear forward and both gradients) and MKL's vector-math exp. MKL promises
# reproducible results on Intel CPUs only. These run instead on kernels whose code depends only on
# the (pinned) instruction set: oneDNN's inner product, and ATen's own vectorised exp2.
ROUTED = {
    "aten::mm": "oneDNN inner product (mkldnn::_linear_pointwise)",
    "aten::addmm": "oneDNN inner product, the bias as its post-op",
    "aten::exp": "exp2(x * log2 e), ATen's vectorised exp2",
}
LOG2E = 1.4426950408889634
_routing: dict = {"library": None, "held": False}


def route_vendor_kernels() -> list[str]:
    """Routes ROUTED's CPU kernels (all dtypes; oneDNN for float32 matrix products, a batched
    product otherwise) unless the process runs under `native`; returns the routed operators. Once
    per process: every cell builds through bench.builder, which calls it."""
    if _pinned["requested"] == "native" or _routing["held"]:
        return []
    if _routing["library"] is None:
        import warnings

        import torch

        library = torch.library.Library("aten", "IMPL")
        with warnings.catch_warnings():  # "overriding a previously registered kernel": that is the point
            warnings.simplefilter("ignore")
            for name, kernel in (("mm", _mm), ("addmm", _addmm), ("exp", _exp)):
                library.impl(name, kernel, "CPU")
        _routing["library"] = library
    return sorted(ROUTED)


@contextmanager
def torch_kernels() -> Iterator[None]:
    """torch's own kernels (MKL's) within, routed again after: for measuring what routing costs
    (`python -m bench.perf cell <neuron> <task> --kernels`)."""
    if _routing["library"] is not None:
        _routing["library"]._destroy()
        _routing["library"] = None
    _routing["held"] = True
    try:
        yield
    finally:
        _routing["held"] = False
        route_vendor_kernels()


def _onednn_product(a, b, bias=None):
    import torch

    return torch.ops.mkldnn._linear_pointwise.default(a, b.t(), bias, "none", [], "")


def _mm(a, b):
    import torch

    if a.dtype == b.dtype == torch.float32:
        return _onednn_product(a, b)
    return torch.bmm(a.unsqueeze(0), b.unsqueeze(0)).squeeze(0)  # float64 and others: not on a cell's path


def _addmm(bias, a, b, *, beta=1, alpha=1):
    import torch

    if (a.dtype == b.dtype == bias.dtype == torch.float32 and beta == 1 and alpha == 1
            and bias.dim() == 1 and bias.shape[0] == b.shape[1]):  # nn.Linear
        return _onednn_product(a, b, bias)
    product = _mm(a, b) if alpha == 1 else _mm(a, b) * alpha
    return product if beta == 0 else product + (bias if beta == 1 else bias * beta)


def _exp(x):
    """exp(x) = 2^(x log2 e). Rounding log2 e and the product to float32 adds a relative error of
    up to |x| 2^-23 (6e-7 for |x| <= 5, AdEx's usual exponents) to exp2's own."""
    import torch

    return torch.exp2(x * LOG2E)

# The fingerprint entries an Intel reference covers (tests/numerics/), with the reference's name for
# each: the routed kernels on the reference's oneDNN and exp2 inputs, every other one under its own
# name. The rest (the routed gradients, Adam's chain, sqrt, pow, div) only the suite fingerprints.
COMPARED = {"linear 800x20->128": "linear-onednn 800x20->128", "linear 800x128->128": "linear-onednn 800x128->128",
            "exp": "exp-via-exp2", **{name: name for name in (
                "expm1", "log1p", "tanh", "sigmoid", "reciprocal", "sum-dim0", "sum-all", "mean-all", "var-dim0",
                "log_softmax", "batch_norm", "cross_entropy", "clamp-square", "conv2d 32x2x16x16")}}
_fingerprints: dict = {}


def _digest(t) -> str:
    import hashlib

    return hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()[:16]


def fingerprint() -> dict[str, str]:
    """sha256 (16 hex digits) of the output bytes of every kernel a CPU cell of the mini profile
    runs, forward and backward, at its shapes, as the cell runs them (routed or not): equal
    fingerprints mean this machine computes a cell's numbers with the same bits. The inputs are
    drawn exactly as ../shared/numerics/fingerprint.py draws them, so that entries compare with
    its references (REFERENCE_NAMES)."""
    import torch
    import torch.nn.functional as F

    route_vendor_kernels()
    if "here" in _fingerprints:
        return _fingerprints["here"]
    out: dict[str, str] = {}
    torch.manual_seed(0)
    for n_in, n_out, rows in ((20, 128, 25 * 32), (128, 128, 25 * 32), (4, 128, 16 * 32), (128, 10, 16 * 32), (500, 128, 800)):
        x, w, _bias = torch.randn(rows, n_in), torch.randn(n_out, n_in) / n_in**0.5, torch.randn(n_out)  # as drawn there
        xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
        F.linear(xr, wr).square().sum().backward()  # the Intel reference holds MKL's bits for these: not compared
        out[f"linear-grad-input {rows}x{n_in}->{n_out}"] = _digest(xr.grad)
        out[f"linear-grad-weight {rows}x{n_in}->{n_out}"] = _digest(wr.grad)
    for n_in, n_out, rows in ((20, 128, 25 * 32), (128, 128, 25 * 32)):
        torch.manual_seed(2)
        lin, x = torch.nn.Linear(n_in, n_out), torch.randn(rows, n_in)
        out[f"linear {rows}x{n_in}->{n_out}"] = _digest(lin(x))
    x = torch.randn(25 * 32, 128) * 3
    for name, f in (("exp", torch.exp), ("expm1", torch.expm1), ("log1p", lambda t: torch.log1p(t.abs())),
                    ("tanh", torch.tanh), ("sigmoid", torch.sigmoid), ("reciprocal", lambda t: 1 / (t.abs() + 1)),
                    ("sum-dim0", lambda t: t.sum(0)), ("sum-all", lambda t: t.sum()), ("mean-all", lambda t: t.mean()),
                    ("var-dim0", lambda t: t.var(0, unbiased=False)), ("log_softmax", lambda t: torch.log_softmax(t, 1)),
                    ("batch_norm", lambda t: F.batch_norm(t, None, None, training=True)),
                    ("cross_entropy", lambda t: F.cross_entropy(t[:, :10], torch.arange(t.shape[0]) % 10)),
                    ("clamp-square", lambda t: t.clamp(-1e4, 1e4) * (t - 1)),
                    ("sqrt", lambda t: t.abs().sqrt()), ("pow", lambda t: t.pow(2)), ("div", lambda t: t / 3.0)):
        out[name] = _digest(f(x))
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(20, 128), torch.nn.BatchNorm1d(128), torch.nn.Tanh(), torch.nn.Linear(128, 10))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    xb, yb = torch.randn(256, 20), torch.randint(0, 10, (256,))
    for _ in range(3):
        optimizer.zero_grad()
        F.cross_entropy(net(xb), yb).backward()
        optimizer.step()
    out["mlp-adam-3-steps"] = _digest(torch.cat([p.flatten() for p in net.parameters()]))
    out["conv2d 32x2x16x16"] = _digest(torch.nn.Conv2d(2, 32, 3, padding=1)(torch.randn(32, 2, 16, 16)))
    _fingerprints["here"] = out
    return out


def fingerprint_hash(fingerprint_: dict[str, str]) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(fingerprint_, sort_keys=True).encode()).hexdigest()[:16]


def effective() -> dict:
    """What governed this process's CPU numerics, for the record's provenance."""
    import torch

    return {
        "cpu_isa": _pinned["requested"],
        "cpu_threads": _pinned["threads"] or "auto",
        "pinned_before_torch": _pinned["before_torch"],
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "mkl_cbwr": os.environ.get("MKL_CBWR"),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "routed_kernels": route_vendor_kernels(),
        "fingerprint_hash": fingerprint_hash(fingerprint()),
        "fingerprint": fingerprint(),
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.numerics fingerprint [--out FILE] [--compare FILE]`."""
    import argparse
    import json
    import platform

    from bench import numerics  # the pinned module (run as __main__, this file is a second copy)

    parser = argparse.ArgumentParser(prog="python -m bench.numerics", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["fingerprint"], help="this machine's fingerprint of a CPU cell's kernels")
    parser.add_argument("--out", type=Path, help="write it as JSON")
    parser.add_argument("--compare", type=Path, help="a reference JSON (tests/numerics/): compare every kernel it covers")
    args = parser.parse_args(argv)
    here = numerics.fingerprint()
    routed = numerics.route_vendor_kernels()
    print(f"routed: {', '.join(f'{op} -> {numerics.ROUTED[op]}' for op in routed) or 'none (runtime.cpu_isa native)'}")
    print(f"fingerprint {numerics.fingerprint_hash(here)} of {len(here)} kernels on {platform.processor() or platform.machine()}")
    if args.out:
        args.out.write_text(json.dumps({"numerics": {k: v for k, v in numerics.effective().items() if k != "fingerprint"},
                                        "ops": here}, indent=1) + "\n")
    if not args.compare:
        print("\n".join(f"{digest}  {name}" for name, digest in here.items()))
        return 0
    try:
        reference = json.loads(args.compare.read_text())["ops"]
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"bench.numerics: {args.compare}: not a fingerprint reference ({e})") from None
    pairs = [(ours, theirs) for ours, theirs in numerics.COMPARED.items() if theirs in reference]
    differ = [ours for ours, theirs in pairs if here[ours] != reference[theirs]]
    for ours, theirs in pairs:
        print(f"{'DIFFERS' if ours in differ else 'same   '}  {ours}" + (f" (reference: {theirs})" if theirs != ours else ""))
    print(f"{len(pairs)} kernels compared with {args.compare.name}, {len(differ)} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
