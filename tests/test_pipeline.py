"""End to end: the real DVC pipeline in a temporary copy of the repository, on a tiny profile."""

import re
import sys

import pandas as pd

from conftest import sh


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


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
