"""The one contract of a result (bench/record.py): writers validate before writing, and a metric
added to the spec reaches every table with no other edit."""

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from bench.atomic import atomic_path, write_text
from bench.record import METRICS, PRIMARY, SHOWN, Record, read_record, write_record

from conftest import ROOT

OK = {
    "neuron": "qif", "task": "digits", "seed": 0, "status": "ok", "overrides": [],
    "metrics": {"test_top1": 90.0, "test_top5": 99.0, "val_top1": 91.0, "firing_rate": 0.1, "energy_mj": 0.01,
                "energy_model": "conventional-horowitz45-fp32", "activation_sparsity": 0.9},
}


def test_a_valid_record_round_trips(tmp_path):
    out = tmp_path / "runs/digits/qif/0"
    write_record(out, OK, "epoch,val/top1\n0,0.5\n")
    assert read_record(out / "record.json").model_dump(exclude_unset=True) == OK
    assert (out / "history.csv").read_text().startswith("epoch")
    assert [p.name for p in out.parent.iterdir()] == ["0"]  # no staging folder left behind


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"metrics": {**OK["metrics"], "test_top1": 101.0}}, "metrics.test_top1"),
        ({"metrics": {**OK["metrics"], "test_top_1": 1.0}}, "metrics.test_top_1"),  # a typo is not a new metric
        ({"seeds": 0}, "seeds"),
        ({"status": "failed"}, "needs a reason"),
    ],
)
def test_the_writer_refuses_an_invalid_record_and_keeps_the_previous_one(tmp_path, change, problem):
    out = tmp_path / "runs/digits/qif/0"
    write_record(out, OK)
    before = (out / "record.json").read_bytes()
    with pytest.raises(ValueError, match=f"not a valid record.*{problem}"):
        write_record(out, {**OK, **change})
    assert (out / "record.json").read_bytes() == before


def test_atomic_writes_leave_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "table.md"
    write_text(path, "old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["table.md"]


def test_a_killed_record_writer_never_leaves_the_cell_without_its_record(tmp_path):
    """The attack of issue 34 (8): SIGKILL a process that keeps replacing a record folder. With
    a remove-then-rename there is a moment when neither the old nor the new folder is in place."""
    out = tmp_path / "runs/digits/qif/0"
    write_record(out, OK)
    writer = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\nfrom bench.record import write_record\n"
              f"ok = {OK!r}\nfor i in range(100000):\n    write_record({str(out)!r}, {{**ok, 'overrides': [str(i)]}})\n")
    for delay in [0.05 * k for k in range(1, 21)]:  # kills land at many points of the loop
        proc = subprocess.Popen([sys.executable, "-c", writer])
        try:
            proc.wait(timeout=1.0 + delay)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert read_record(out / "record.json").neuron == "qif", f"killed after {1.0 + delay:.2f} s"


def test_a_folder_set_aside_by_a_killed_writer_is_restored(tmp_path, monkeypatch):
    """Where the file system cannot exchange two folders, the old one is set aside first; a kill
    before the new one lands leaves it aside, and the next write puts it back in place first."""
    import bench.atomic

    out = tmp_path / "runs/digits/qif/0"
    write_record(out, OK)
    monkeypatch.setattr(bench.atomic, "_exchange", lambda a, b: False)
    real_replace = bench.atomic.os.replace
    monkeypatch.setattr(bench.atomic.os, "replace", lambda a, b: real_replace(a, b) if str(b).endswith(".old") else 1 / 0)
    with pytest.raises(ZeroDivisionError):  # the "kill": after setting the old folder aside
        write_record(out, {**OK, "seed": 0, "overrides": ["new"]})
    monkeypatch.setattr(bench.atomic.os, "replace", real_replace)
    assert not out.exists() and len(list(out.parent.glob(".0.*.old"))) == 1
    with pytest.raises(RuntimeError), atomic_path(out):  # a later write, even a failed one, restores it first
        raise RuntimeError("failed")
    assert read_record(out / "record.json").overrides == [] and not list(out.parent.glob(".0.*"))


def test_the_spec_is_consistent():
    names = [m.name for m in METRICS]
    assert len(names) == len(set(names)) and PRIMARY in SHOWN
    required = {name for name, field in Record.model_fields["metrics"].annotation.__args__[0].model_fields.items()
                if field.is_required()}
    assert required == {m.name for m in METRICS if m.required}
    for m in METRICS:
        assert not m.qualifier or m.qualifier in names, m
        assert not m.shown or ("mean" in m.aggregate and m.label), m


def test_adding_a_metric_is_one_spec_entry(tmp_path):
    """In a copy of the package, show activation_sparsity by editing only its spec entry: every
    table gets the column and the tidy CSV its mean."""
    shutil.copytree(ROOT / "bench", tmp_path / "bench")
    spec = tmp_path / "bench/record.py"
    old = 'Metric("activation_sparsity", "bench.efficiency: 1 - firing_rate", bounds=(0, 1)),'
    new = ('Metric("activation_sparsity", "bench.efficiency: 1 - firing_rate", bounds=(0, 1), aggregate=("mean",), '
           'label="sparsity", fmt=".3f", higher_is_better=True, shown=True),')
    assert old in spec.read_text()
    spec.write_text(spec.read_text().replace(old, new))
    for seed in range(2):
        record = {**OK, "seed": seed, "metrics": {**OK["metrics"], "activation_sparsity": 0.9 + seed / 100}}
        path = tmp_path / f"runs/digits/qif/{seed}/record.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(record))
    (tmp_path / "results").mkdir()
    code = (
        "from pathlib import Path\nfrom omegaconf import OmegaConf\nfrom bench.leaderboard.stage import build\n"
        "profile = OmegaConf.create({'name': 't', 'neurons': ['qif'], 'tasks': ['digits'], 'seeds': [0, 1], "
        "'single_seed_tasks': []})\nbuild(Path('runs'), Path('results'), profile)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, capture_output=True, text=True,
                   env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin", "SOURCE_DATE_EPOCH": "0"})
    results = tmp_path / "results/leaderboard"
    assert pd.read_csv(results / "leaderboard.csv").activation_sparsity_mean.tolist() == [pytest.approx(0.905)]
    for table in ("leaderboard.md", "leaderboard.tex", "leaderboard.html"):
        text = (results / table).read_text()
        assert "sparsity" in text and "0.905" in text, table
