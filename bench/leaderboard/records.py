"""The cells' records (validated by bench.record) as one DataFrame, one row per record: its
identity and outcome, and every metric of bench.record.METRICS."""

from pathlib import Path

import pandas as pd

from bench.record import METRICS, RUNS_DIR, read_record, record_paths

IDENTITY = ["task", "neuron", "seed", "status", "reason", "overrides", "split_protocol", "config_hash", "path"]
COLUMNS = [*IDENTITY, *(m.name for m in METRICS)]


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
        **{m.name: metrics.get(m.name) for m in METRICS},
    }


def load_records(runs_dir: Path = RUNS_DIR) -> pd.DataFrame:
    return pd.DataFrame([record_row(p) for p in record_paths(runs_dir)], columns=COLUMNS)
