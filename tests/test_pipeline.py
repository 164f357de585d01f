"""End to end: the real DVC pipeline in a temporary copy of the repository, on a tiny profile."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

TINY_PROFILE = "name: tiny\nneurons: [lif, qif]\ntasks: [digits]\nseeds: [0]\n"


def sh(*cmd: str, cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout + out.stderr


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture
def repo(tmp_path):
    """A copy of the working tree (tracked and untracked, not ignored files) with a tiny profile
    and one-epoch training, committed to a fresh git repository; no results yet."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        if name.startswith("results/") or name == "dvc.lock" or not (ROOT / name).is_file():
            continue
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    (tmp_path / "conf/profile/tiny.yaml").write_text(TINY_PROFILE)
    config = tmp_path / "conf/config.yaml"
    config.write_text(config.read_text().replace("profile: mini", "profile: tiny"))
    task = tmp_path / "conf/task/digits.yaml"
    task.write_text(re.sub(r"max_epochs: \d+", "max_epochs: 1", task.read_text()))
    sh(sys.executable, "-m", "bench.compose", cwd=tmp_path)
    sh("git", "init", "-q", cwd=tmp_path)
    sh("git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A", cwd=tmp_path)
    sh("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny", cwd=tmp_path)
    return tmp_path


def test_pipeline_end_to_end_and_only_changed_cells_rerun(repo):
    out = sh("dvc", "repro", cwd=repo)
    assert stages_run(out) == {
        "prepare@digits", "dynamics@lif", "dynamics@qif", "train@lif-digits-0", "train@qif-digits-0", "leaderboard"
    }
    assert (repo / "results/figures/dynamics-qif.png").is_file()
    board = pd.read_csv(repo / "results/leaderboard.csv")
    assert sorted(board.neuron) == ["lif", "qif"] and (board.n_seeds == 1).all()
    assert (board.top1_mean > 50).all(), board  # one epoch on digits already learns
    assert "## digits" in (repo / "results/leaderboard.md").read_text()
    assert "up to date" in sh("dvc", "status", cwd=repo)

    sh("git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A", cwd=repo)
    sh("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "results", cwd=repo)
    qif = repo / "conf/neuron/qif.yaml"
    qif.write_text(qif.read_text().replace("a: 0.25", "a: 0.3"))
    out = sh("dvc", "exp", "run", cwd=repo)
    assert stages_run(out) == {"dynamics@qif", "train@qif-digits-0", "leaderboard"}
    assert "a: 0.3" in (repo / "params.yaml").read_text()
