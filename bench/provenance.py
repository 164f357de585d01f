"""What a record needs so a number can be trusted and cited without asking its author."""

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version

import torch

from bench.numerics import effective

# Pipeline outputs change while the pipeline runs; they do not make the *source* dirty.
OUTPUT_PATHS = ("results", "data", "dvc.lock")
PACKAGES = ("torch", "lightning", "torchmetrics", "numpy", "spiking-neuron-bench")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def git_state() -> dict:
    commit = _git("rev-parse", "HEAD")
    excludes = [f":(exclude){p}" for p in OUTPUT_PATHS]
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".", *excludes)
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def package_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions["bench" if name == "spiking-neuron-bench" else name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware() -> dict:
    info = {
        "machine": platform.machine(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),  # which worker ran it (repro-parallel.sh)
    }
    return info


def provenance() -> dict:
    return {**git_state(), "versions": package_versions(), "hardware": hardware(), "numerics": effective()}
