"""Reading the cells' records: each is validated against the record schema (Record below) and
flattened into one row; a malformed record is an error that names its file.

The schema is also written out as JSON Schema for people and other tools:
`python -c "from bench.leaderboard.records import Record; import json; print(json.dumps(Record.model_json_schema(), indent=1))"`.
"""

from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bench.config import RUNS_DIR


class Metrics(BaseModel):
    model_config = ConfigDict(extra="allow")  # the efficiency figures and whatever later issues add

    test_top1: float = Field(ge=0, le=100)
    test_top5: float = Field(ge=0, le=100)
    val_top1: float = Field(ge=0, le=100)
    firing_rate: float = Field(ge=0, le=1)
    firing_rate_per_layer: dict[str, float] = {}
    energy_mj: float | None = Field(default=None, ge=0)
    energy_model: str | None = None


class Record(BaseModel):
    """What bench.train writes to results/runs/<task>/<neuron>/<seed>/record.json."""

    model_config = ConfigDict(extra="allow")  # provenance, config, facts: kept in the record, not needed here

    neuron: str
    task: str
    seed: int
    status: Literal["ok", "failed"]
    reason: str | None = None
    overrides: list[str] = []
    split_protocol: str | None = None
    metrics: Metrics | None = None

    @model_validator(mode="after")
    def outcome_is_complete(self) -> "Record":
        if self.status == "ok" and self.metrics is None:
            raise ValueError("status 'ok' needs metrics")
        if self.status == "failed" and not self.reason:
            raise ValueError("status 'failed' needs a reason")
        return self


METRICS = ["test_top1", "test_top5", "val_top1", "firing_rate", "energy_mj", "energy_model", "firing_rate_per_layer"]
COLUMNS = ["task", "neuron", "seed", "status", "reason", "overrides", "split_protocol", "path", *METRICS]


def read_record(path: Path) -> dict:
    """One record as a flat row (COLUMNS)."""
    try:
        record = Record.model_validate_json(Path(path).read_bytes())
    except OSError as e:
        raise ValueError(f"{path}: cannot read the record ({e})") from e
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'file'}: {err['msg']}" for err in e.errors())
        raise ValueError(f"{path}: not a valid record ({problems}); fix or delete it, or re-run its cell") from e
    expected = Path(path).parts[-4:-1]
    if (record.task, record.neuron, str(record.seed)) != tuple(expected):
        raise ValueError(
            f"{path}: the record is for {record.task}/{record.neuron}/{record.seed} but lies in the folder of "
            f"{'/'.join(expected)}; records live at results/runs/<task>/<neuron>/<seed>/record.json"
        )
    metrics = record.metrics.model_dump() if record.metrics else {}
    return {
        "task": record.task,
        "neuron": record.neuron,
        "seed": record.seed,
        "status": record.status,
        "reason": record.reason,
        "overrides": bool(record.overrides),
        "split_protocol": record.split_protocol,
        "path": str(path),
        **{name: metrics.get(name) for name in METRICS},
    }


def load_records(runs_dir: Path = RUNS_DIR) -> pd.DataFrame:
    rows = [read_record(p) for p in sorted(Path(runs_dir).glob("*/*/*/record.json"))]
    return pd.DataFrame(rows, columns=COLUMNS)
