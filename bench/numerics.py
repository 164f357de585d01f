"""CPU numerics that differ between x86 machines, pinned before torch loads.

oneDNN (convolutions), ATen's vectorised kernels and MKL (matrix products) pick their code path
from the CPU's instruction set: the same cell gave another top-1 on an AVX-512 machine than the
committed record made on an AVX2 one, from the first epoch's loss on. Pinning all three to AVX2
(which every x86 CPU of the last decade has) makes a CPU run give the same bytes on any of them
(docs/reproducibility.md).

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
(`effective()`).
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
    }
