import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

TINY_PROFILE = "name: tiny\nneurons: [lif, qif]\ntasks: [digits]\nseeds: [0]\n"


@pytest.fixture
def in_repo(monkeypatch):
    """Run with the repository root as working directory (params.yaml, data/prepared)."""
    monkeypatch.chdir(ROOT)
    return ROOT


def pytest_configure(config):
    # Deterministic and quiet on small CPUs.
    os.environ.setdefault("PYTHONHASHSEED", "0")


def run(*cmd: str, cwd: Path) -> subprocess.CompletedProcess:
    """A command with this interpreter's environment (its dvc, its python) first on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)


def sh(*cmd: str, cwd: Path) -> str:
    out = run(*cmd, cwd=cwd)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout + out.stderr


@pytest.fixture
def repo(tmp_path):
    """A copy of the working tree (tracked and untracked, not ignored files) with a tiny profile,
    one-epoch training and two one-epoch tuning trials, committed to a fresh git repository; no results yet (but the
    hand-kept results/reported.csv and the READMEs of results/ folders)."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        pipeline_output = name.startswith("results/") and name != "results/reported.csv" and not name.endswith("README.md")
        if pipeline_output or name == "dvc.lock" or not (ROOT / name).is_file():
            continue
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    (tmp_path / "conf/profile/tiny.yaml").write_text(TINY_PROFILE)
    config = tmp_path / "conf/config.yaml"
    config.write_text(config.read_text().replace("profile: mini", "profile: tiny"))
    task = tmp_path / "conf/task/digits.yaml"
    task.write_text(re.sub(r"max_epochs: \d+", "max_epochs: 1", task.read_text()))
    tuning = tmp_path / "conf/tuning/default.yaml"  # two one-epoch trials per study
    text = re.sub(r"^trials: \d+", "trials: 2", tuning.read_text(), flags=re.M)
    text = re.sub(r"^epochs: \d+", "epochs: 1", text, flags=re.M)
    tuning.write_text(re.sub(r"^startup_trials: \d+", "startup_trials: 1", text, flags=re.M))
    sh(sys.executable, "-m", "bench.compose", cwd=tmp_path)
    sh("git", "init", "-q", cwd=tmp_path)
    sh("git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A", cwd=tmp_path)
    sh("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny", cwd=tmp_path)
    return tmp_path


def wait_for_loadable(path: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    import torch  # here, not at the top: conftest must not load torch before bench pins its numerics

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before its first checkpoint"
        try:
            torch.load(path, map_location="cpu", weights_only=False)
            return
        except (OSError, RuntimeError, EOFError):
            time.sleep(0.05)
    raise TimeoutError(path)
