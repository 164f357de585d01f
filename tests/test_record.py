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
                "energy_model": "horowitz45-fp32", "activation_sparsity": 0.9},
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
        "from pathlib import Path\nfrom omegaconf import OmegaConf\nfrom bench.leaderboard import build\n"
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
