"""CPU numerics that differ between x86 machines, pinned before torch loads.

oneDNN (convolutions), ATen's vectorised kernels and MKL (matrix products) pick their code path
from the CPU's instruction set: the same cell gave another top-1 on an AVX-512 machine than the
committed record made on an AVX2 one, from the first epoch's loss on. Pinning all three to AVX2
(which every x86 CPU of the last decade has) makes a CPU run give the same bytes on any of them
(docs/reproducibility.md).

The setting is `runtime.cpu_isa` (conf/config.yaml): `avx2` (default) or `native` (whatever the
CPU offers). It must act before torch is imported, so `bench/__init__.py` calls `pin()` first
thing; the setting is read from the working directory's params.yaml (every entry point runs from
the repository root), and the environment variable BENCH_CPU_ISA overrides it for one run.
Variables already set in the environment are kept. Every record's provenance holds what was in
effect (`effective()`).
"""

import os
import sys
from pathlib import Path

ISAS = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"},
    "native": {},
}
DEFAULT = "avx2"
PARAMS_FILE = Path("params.yaml")
_pinned: dict = {"requested": None, "before_torch": False}


def requested(params_file: Path = PARAMS_FILE) -> str:
    """BENCH_CPU_ISA, else runtime.cpu_isa of params.yaml, else the default."""
    isa = os.environ.get("BENCH_CPU_ISA")
    if isa is None and params_file.is_file():
        import yaml

        runtime = (yaml.safe_load(params_file.read_text()) or {}).get("runtime") or {}
        isa = runtime.get("cpu_isa")
    isa = isa or DEFAULT
    if isa not in ISAS:
        raise ValueError(f"runtime.cpu_isa (or BENCH_CPU_ISA) must be one of {sorted(ISAS)}, got {isa!r}")
    return isa


def pin() -> None:
    """Sets the requested ISA's variables (unless set already) if torch is not loaded yet."""
    isa = requested()
    _pinned.update(requested=isa, before_torch="torch" not in sys.modules)
    if _pinned["before_torch"]:
        for name, value in ISAS[isa].items():
            os.environ.setdefault(name, value)


def effective() -> dict:
    """What governed this process's CPU numerics, for the record's provenance."""
    import torch

    return {
        "cpu_isa": _pinned["requested"],
        "pinned_before_torch": _pinned["before_torch"],
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "mkl_cbwr": os.environ.get("MKL_CBWR"),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
    }
