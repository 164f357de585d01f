"""bench.verify: re-running committed cells in a scratch folder and comparing."""

import pytest

from bench.verify import compare, main

RECORD = {"metrics": {"test_top1": 98.3333, "synaptic_operations": {"dense": 9.5e6}}, "best_epoch": 6, "epochs": 12,
          "n_test": 360, "split_fingerprint": "faf2", "provenance": {"wall_s": 30.0}}


def test_compare_names_every_differing_field_and_ignores_provenance():
    assert compare(RECORD, {**RECORD, "provenance": {"wall_s": 99.0}}) == ("identical", [])
    moved = {**RECORD, "best_epoch": 3, "metrics": {**RECORD["metrics"], "test_top1": 97.7778}}
    verdict, fields = compare(RECORD, moved)
    assert verdict == "different" and fields == ["best_epoch: 6 -> 3", "metrics.test_top1: 98.3333 -> 97.7778"]
    nudged = {**RECORD, "metrics": {**RECORD["metrics"], "test_top1": 98.3334}}
    assert compare(RECORD, nudged, tolerance=0.001)[0] == "within tolerance"
    assert compare(RECORD, nudged)[0] == "different"


@pytest.mark.slow
def test_a_committed_cell_reproduces_exactly_without_touching_results(in_repo, capsys):
    before = {p: p.stat().st_mtime_ns for p in (in_repo / "results").rglob("*") if p.is_file()}
    assert main(["digits-seq/lif/0"]) == 0
    assert "digits-seq/lif/0: identical" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in (in_repo / "results").rglob("*") if p.is_file()} == before


@pytest.mark.slow
def test_a_committed_tuned_cell_and_its_study_reproduce_exactly(in_repo, capsys):
    """The headline's cells (at their study's choice) and the study that chose it, re-made here."""
    before = {p: p.stat().st_mtime_ns for p in (in_repo / "results").rglob("*") if p.is_file()}
    assert main(["--tuned", "digits-seq/lif-tau1/0"]) == 0
    assert main(["--study", "digits-seq/lif-tau1"]) == 0
    out = capsys.readouterr().out
    assert "digits-seq/lif-tau1/0: identical" in out and "study digits-seq/lif-tau1: identical" in out
    assert {p: p.stat().st_mtime_ns for p in (in_repo / "results").rglob("*") if p.is_file()} == before
