"""Attacks of the second adversarial pass (issue 34), each performed as written, with its outcome:
refused in one line naming the setting or file, nothing published, nothing lost
(docs/reliability.md lists every attack and the test that keeps its outcome true)."""

import shutil
import subprocess
import sys

import pandas as pd
import pytest
from test_leaderboard import run, some_results, write

from bench.cite import entry
from bench.cite import main as cite

from conftest import ROOT


@pytest.fixture
def results(tmp_path):
    return some_results(tmp_path)


def test_a_failure_reason_cannot_break_the_table_or_inject_markdown(results, monkeypatch):
    """bench.train writes multi-line reasons itself (e.g. Hydra's InstantiationException)."""
    reason = "InstantiationException: Error | in call\n## PWNED\n- item <script>x</script>\n| a | b |"
    write(results, "lif", 2, status="failed", reason=reason)
    run(results, monkeypatch)
    md = (results / "results/leaderboard/leaderboard.md").read_text()
    assert "## PWNED" not in md and "<script>" not in md and "\n- item" not in md
    table = [line for line in md.splitlines() if line.startswith("| lif ")]
    header = next(line for line in md.splitlines() if line.startswith("| neuron"))
    unescaped = lambda line: line.replace("\\|", "").count("|")  # noqa: E731
    assert table and all(unescaped(line) == unescaped(header) for line in table)
    assert "Error \\| in call \\#\\# PWNED" in md


def test_a_deleted_leaderboard_folder_never_lets_a_cited_version_number_be_reused(results, monkeypatch):
    """rm -rf results/leaderboard && python -m bench.leaderboard: the committed CHANGELOG still
    names the versions that were cited."""
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=results, check=True)
    _, first = run(results, monkeypatch)
    write(results, "qif", 1, 93.0)
    _, second = run(results, monkeypatch)
    assert (first["version"], second["version"]) == (1, 2)
    subprocess.run([*git, "add", "-A"], cwd=results, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "v2"], cwd=results, check=True)
    shutil.rmtree(results / "results/leaderboard")
    write(results, "qif", 1, 91.0)
    _, third = run(results, monkeypatch)
    assert third["version"] == 3


@pytest.mark.parametrize("args, message", [
    (["randman/lif/0", "--into", "results"], "--into results: bench.verify trains into a new scratch folder of its own"),
    (["randman/lif/0", "--into", "results/runs/randman/lif/0"], "which only `dvc repro` writes"),
    (["--sample", "0"], "'0': the number of cells to draw is an integer >= 1"),
    (["--sample", "-3"], "the number of cells to draw is an integer >= 1"),
])
def test_verify_never_writes_into_results_and_never_verifies_nothing(args, message):
    before = (ROOT / "results/runs/randman/lif/0/record.json").read_bytes()
    out = subprocess.run([sys.executable, "-m", "bench.verify", *args], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert (ROOT / "results/runs/randman/lif/0/record.json").read_bytes() == before


def test_cite_refuses_a_history_whose_version_is_not_a_number(tmp_path, monkeypatch):
    history = tmp_path / "results/leaderboard/table-versions.csv"
    history.parent.mkdir(parents=True)
    row = {"profile": "mini", "version": "abc", "date": "2026-01-01", "content_hash": "c", "git_commit": "g",
           "git_dirty": False, "dvc_lock_hash": "d", "changes": "first version"}
    pd.DataFrame([row]).to_csv(history, index=False)
    with pytest.raises(ValueError, match="version 'abc' is not a positive integer; restore it from git"):
        entry("mini", history_path=history)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="bench.cite: results/leaderboard/table-versions.csv: version 'abc'"):
        cite(["--profile", "mini"])


@pytest.mark.parametrize("damage, message", [
    ("results/runs/randman/lif/0/record.json", "results/runs/randman/lif/0/record.json: not a valid record"),
    ("results/leaderboard/table-versions.csv", "results/leaderboard/table-versions.csv: lacks the columns"),
])
def test_a_damaged_record_or_history_is_one_line_and_publishes_nothing(tmp_path, monkeypatch, damage, message):
    from bench.leaderboard.stage import main as leaderboard

    shutil.copy(ROOT / "params.yaml", tmp_path)
    shutil.copytree(ROOT / "results/runs/randman/lif", tmp_path / "results/runs/randman/lif")
    (tmp_path / damage).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / damage).write_bytes(b"garbage\x00\x01,,\n" if damage.endswith(".csv") else b"")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        leaderboard([])
    assert str(stopped.value).startswith(f"bench.leaderboard: {message}") and "nothing was published" in str(stopped.value)
    assert not (tmp_path / "results/leaderboard/leaderboard.md").exists()


@pytest.mark.parametrize("queue, message", [
    ("missing", "--queue {queue}: no such file"),
    ("binary", "{queue} is not a work list"),
])
def test_a_missing_or_binary_work_list_is_one_line(tmp_path, queue, message):
    path = tmp_path / queue
    if queue == "binary":
        path.write_bytes(bytes(range(128, 256)))
    out = subprocess.run([sys.executable, "-m", "bench.runner", "--queue", str(path)], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode != 0 and message.format(queue=path) in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_a_sweep_whose_points_are_all_stale_still_gets_its_figure(tmp_path):
    """neurons.lif.tau=3.0, then the leaderboard: every point of LIF's sweep is stale."""
    from bench.leaderboard.plots import sensitivity
    from bench.leaderboard.sensitivity import COLUMNS

    rows = pd.DataFrame([{c: None for c in COLUMNS} | {"sweep": "lif.surrogate.width", "task": "randman", "value": v,
                                                        "n_seeds": 0, "is_default": v == 1.0} for v in (0.5, 1.0, 2.0)])
    sensitivity(rows, tmp_path / "sensitivity.png")
    assert (tmp_path / "sensitivity.png").stat().st_size > 0


def test_every_test_docs_reliability_names_exists():
    """docs/reliability.md names the test behind each outcome: each one must exist."""
    import re

    text = (ROOT / "docs/reliability.md").read_text()
    named = re.findall(r"`(test_\w+\.py)::(test_\w+)`", text)
    named += [(file, name) for file, names in re.findall(r"`(test_\w+\.py)::test_\w+`((?:, `::test_\w+`)+)", text)
              for name in re.findall(r"::(test_\w+)", names)]
    assert len(named) >= 25
    for file, name in named:
        assert re.search(rf"^def {name}\(", (ROOT / "tests" / file).read_text(), re.M), f"{file}::{name}"


def test_the_data_check_finds_empty_recordings_and_stray_folders(tmp_path):
    """A __MACOSX folder and 10,000 0-byte .aedat4 files used to pass `bench.data check`."""
    import tonic

    from bench.data.check import check_cifar10dvs
    from bench.data.cifar10dvs import CIFAR10DVS

    folder = tmp_path / "cifar10dvs/CIFAR10DVS"
    for name in tonic.datasets.CIFAR10DVS.classes:
        (folder / name).mkdir(parents=True)
        for i in range(1000):
            (folder / name / f"cifar10_{name}_{i}.aedat4").touch()
    (folder / "__MACOSX/airplane").mkdir(parents=True)
    findings = list(check_cifar10dvs(CIFAR10DVS(4, root=str(tmp_path))))
    problems = [f.text for f in findings if not f.ok]
    assert "holds folders that are not classes (__MACOSX); remove them" in problems[0]
    assert len(problems) == 11 and all("1000 of 1000 recordings, 1000 of them empty (0 bytes" in p for p in problems[1:])
