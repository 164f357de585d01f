"""The cells' records (validated by bench.record) as one DataFrame, one row per record: its
identity and outcome, and every metric of bench.record.METRICS."""

from pathlib import Path

import pandas as pd

from bench.record import METRICS, RUNS_DIR, read_record, record_paths

IDENTITY = ["task", "neuron", "seed", "status", "reason", "overrides", "split_protocol", "config_hash", "path"]
RUN_NUMERICS = ["cpu_isa", "cpu_threads", "partial_test"]  # what the config hash does not cover (bench.leaderboard.stats)
COLUMNS = [*IDENTITY, *RUN_NUMERICS, *(m.name for m in METRICS)]


def run_numerics(record) -> dict:
    """The numerics a record was made under that its config does not pin (BENCH_CPU_ISA and
    BENCH_CPU_THREADS override params.yaml for one process), and whether its test covered less
    than the split (a record from before n_test_split was recorded counts as whole)."""
    effective = (record.provenance.numerics or {}) if record.provenance else {}
    partial = record.n_test_split is not None and record.n_test != record.n_test_split
    threads = effective.get("cpu_threads")  # an integer or "auto": kept as text, so that a column of them stays exact
    threads = None if threads is None else str(threads)
    return {"cpu_isa": effective.get("cpu_isa"), "cpu_threads": threads, "partial_test": partial}


def record_row(path: Path) -> dict:
    record = read_record(path)
    metrics = record.metrics.model_dump() if record.metrics else {}
    return {
        "task": record.task,
        "neuron": record.neuron,
        "seed": record.seed,
        "status": record.status,
        "reason": record.reason,
        "overrides": bool(record.overrides),
        "split_protocol": record.split_protocol,
        "config_hash": record.provenance.config_hash if record.provenance else None,
        "path": str(path),
        **run_numerics(record),
        **{m.name: metrics.get(m.name) for m in METRICS},
    }


def load_records(runs_dir: Path = RUNS_DIR) -> pd.DataFrame:
    return pd.DataFrame([record_row(p) for p in record_paths(runs_dir)], columns=COLUMNS)
