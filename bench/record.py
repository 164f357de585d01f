"""The contract of a result: what one cell's record holds, where it lives, and every metric it
reports. `bench.train` builds a record and validates it here before writing it; the leaderboard
reads and validates it here; stats, tables (md/csv/tex/html), sorting and plots iterate over
METRICS instead of naming metrics themselves.

Adding a metric = one `Metric` entry below + the code that measures it (bench/efficiency.py or
bench/module.py). The schema is exported as JSON Schema for people and other tools:
`python -c "from bench.record import Record; import json; print(json.dumps(Record.model_json_schema(), indent=1))"`.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from bench.atomic import atomic_path

RUNS_DIR = Path("results/runs")  # results/runs/<task>/<neuron>/<seed>/{record.json,history.csv}
RECORD_FILE = "record.json"
HISTORY_FILE = "history.csv"
PREDICTIONS_FILE = "test-predictions.csv"  # per test sample: index in the test split, target, predicted class


def run_dir(task: str, neuron: str, seed: int, root: Path = RUNS_DIR) -> Path:
    return Path(root) / task / neuron / str(seed)


@dataclass(frozen=True)
class Metric:
    """One number (or mapping) a record reports, and how the leaderboard treats it."""

    name: str  # key in record["metrics"]
    source: str  # what measures it
    type: Any = float  # its Python type in the record
    bounds: tuple[float | None, float | None] = (None, None)  # (ge, le)
    required: bool = False  # every "ok" record has it
    logged: str | None = None  # the key Lightning logs it under (fractions; records hold percent)
    aggregate: tuple[str, ...] = ()  # over seeds, into leaderboard columns (col()); () = not tabled
    column: str | None = None  # stem of its leaderboard columns (default: name)
    label: str = ""  # what people call it ("top-1")
    unit: str = ""  # shown in parentheses after the label ("%")
    fmt: str = ".2f"  # format of a shown value (with ± std when "std" is aggregated)
    higher_is_better: bool | None = None
    shown: bool = False  # a column of the rendered tables (md/tex/html), in METRICS order
    qualifier: str | None = None  # a metric naming the model this number depends on, shown beside it

    @property
    def stem(self) -> str:
        return self.column or self.name

    @property
    def header(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label

    def col(self, aggregate: str) -> str:
        """The leaderboard column of one aggregate over seeds ("first": a label all seeds share)."""
        return self.stem if aggregate == "first" else f"{self.stem}_{aggregate}"


ACCURACY = "torchmetrics MulticlassAccuracy(average='micro') in percent"
METRICS: tuple[Metric, ...] = (
    Metric("test_top1", f"{ACCURACY}, top_k=1, on the test set, of the checkpoint best on val_top1", bounds=(0, 100),
           required=True, logged="test/top1", aggregate=("mean", "std"), column="top1", label="top-1", unit="%",
           higher_is_better=True, shown=True),
    Metric("test_top5", f"{ACCURACY}, top_k=min(5, classes), on the test set", bounds=(0, 100), required=True,
           logged="test/top5", aggregate=("mean", "std"), column="top5", label="top-5", unit="%",
           higher_is_better=True, shown=True),
    Metric("val_top1", f"{ACCURACY}, top_k=1, on the validation set: the checkpoint-selection score", bounds=(0, 100),
           required=True, logged="val/top1", aggregate=("mean",), label="validation top-1", unit="%",
           higher_is_better=True),
    Metric("test_top1_max_over_epochs", f"{ACCURACY}, top_k=1, on the test set after every epoch, the maximum over "
           "epochs: the convention of the literature's scripts (e.g. TET, SEW), optimistic because it selects on the "
           "test set; never the headline", bounds=(0, 100), aggregate=("mean",), column="top1_max_epochs",
           label="top-1, max over epochs (optimistic)", unit="%", higher_is_better=True, shown=True),
    Metric("firing_rate", "bench.efficiency: spikes per neuron per timestep on the test set, pooled over layers",
           bounds=(0, 1), required=True, aggregate=("mean",), label="firing rate", fmt=".3f", higher_is_better=False,
           shown=True),
    Metric("firing_rate_per_layer", "bench.efficiency: the same per spiking layer", type=dict[str, float]),
    Metric("synaptic_operations", "bench.efficiency: NeuroBench's dense, effective MACs and ACs per test sample, "
           "and the static MACs (input equal at every step)", type=dict[str, float]),
    Metric("synaptic_inputs", "bench.efficiency: what feeds each convolution and linear layer: spikes, static or analog",
           type=dict[str, str]),
    Metric("membrane_updates", "bench.efficiency: NeuroBench's membrane updates per test sample (potentials that changed)",
           bounds=(0, None)),
    Metric("neuron_updates", "bench.efficiency: neurons x T per test sample (every neuron at every step)", bounds=(0, None)),
    Metric("neuron_operations", "bench.efficiency: the neurons' declared operations by kind per test sample",
           type=dict[str, float]),
    Metric("activation_sparsity", "bench.efficiency: 1 - firing_rate", bounds=(0, 1)),
    Metric("footprint_bytes", "bench.efficiency: bytes of the backbone's parameters and buffers (NeuroBench's Footprint)",
           type=int, bounds=(0, None), aggregate=("first",)),
    Metric("connection_sparsity", "bench.efficiency: share of zero weights in convolution and linear layers",
           bounds=(0, 1), aggregate=("mean",)),
    Metric("energy_mj", "bench.efficiency: energy per test sample under energy_model, the conventional count papers "
           "report", bounds=(0, None), aggregate=("mean",), label="energy", unit="mJ/sample", fmt=".4g",
           higher_is_better=False, shown=True, qualifier="energy_model"),
    Metric("energy_model", "bench.efficiency: the named energy model", type=str, aggregate=("first",)),
    Metric("energy_full_mj", "bench.efficiency: energy per test sample under energy_full_model, everything the network "
           "computes, neuron updates included", bounds=(0, None), aggregate=("mean",), label="energy, full count",
           unit="mJ/sample", fmt=".4g", higher_is_better=False, qualifier="energy_full_model"),
    Metric("energy_full_model", "bench.efficiency: the named energy model of energy_full_mj", type=str,
           aggregate=("first",)),
    Metric("samples", "bench.efficiency: test samples counted", type=int, bounds=(0, None)),
)
BY_NAME = {m.name: m for m in METRICS}
PRIMARY = BY_NAME["test_top1"]  # what the leaderboard ranks by and compares against the baseline
SELECTION = BY_NAME["val_top1"]  # what checkpoint selection maximises
SHOWN = tuple(m for m in METRICS if m.shown)  # the table columns, in this order


def _field(metric: Metric) -> tuple[Any, Any]:
    ge, le = metric.bounds
    if metric.required:
        return metric.type, Field(ge=ge, le=le, description=metric.source)
    return metric.type | None, Field(default=None, ge=ge, le=le, description=metric.source)


Metrics = create_model(
    "Metrics", __config__=ConfigDict(extra="forbid"), **{m.name: _field(m) for m in METRICS}
)


class Provenance(BaseModel):
    model_config = ConfigDict(extra="allow")  # hardware and numerics facts grow with the issues

    git_commit: str | None
    git_dirty: bool | None
    versions: dict[str, str | None]
    hardware: dict[str, Any]
    numerics: dict[str, Any] | None = None  # bench.numerics.effective()
    config_hash: str
    wall_s: float


class Record(BaseModel):
    """What bench.train writes to results/runs/<task>/<neuron>/<seed>/record.json."""

    # infinities (e.g. the IF neuron's tau) are written as the strings "Infinity"/"-Infinity":
    # valid JSON that keeps the value (the default would write null)
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")

    neuron: str
    task: str
    seed: int
    status: Literal["ok", "failed"]
    reason: str | None = None
    overrides: list[str] = []
    metrics: Metrics | None = None
    epochs: int | None = None
    best_epoch: int | None = None
    test_top1_max_epoch: int | None = None  # the epoch of test_top1_max_over_epochs
    params: int | None = None
    surrogate: list[str] = []
    split_protocol: str | None = None
    split_fingerprint: str | None = None
    n_test: int | None = None  # test samples evaluated
    n_test_split: int | None = None  # the test split's size: a pipeline result evaluates all of it
    world_size: int | None = None
    resumed_from_epoch: int | None = None
    train_samples_per_s: float | None = None
    peak_memory_mib: float | None = None
    peak_memory_kind: str | None = None
    provenance: Provenance | None = None
    config: dict[str, Any] | None = None

    @model_validator(mode="after")
    def outcome_is_complete(self) -> "Record":
        if self.status == "ok" and self.metrics is None:
            raise ValueError("status 'ok' needs metrics")
        if self.status == "failed" and not self.reason:
            raise ValueError("status 'failed' needs a reason")
        return self


def _problems(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in error.errors())


def validate(record: dict) -> Record:
    """The record as the schema reads it; a ValueError that lists every problem otherwise."""
    try:
        return Record.model_validate(record)
    except ValidationError as e:
        raise ValueError(f"not a valid record ({_problems(e)})") from e


def write_record(out_dir: Path, record: dict, history_csv: str | None = None, predictions_csv: str | None = None) -> None:
    """Validates, then replaces `out_dir` with {record.json, history.csv, test-predictions.csv} in
    one rename: readers see the old run or the new one, never half of one."""
    text = validate(record).model_dump_json(indent=2, exclude_unset=True) + "\n"
    with atomic_path(out_dir) as staging:
        staging.mkdir(parents=True)
        (staging / RECORD_FILE).write_text(text)
        if history_csv is not None:
            (staging / HISTORY_FILE).write_text(history_csv)
        if predictions_csv is not None:
            (staging / PREDICTIONS_FILE).write_text(predictions_csv)


def read_record(path: Path) -> Record:
    """One record, validated, and checked to lie in its own cell's folder."""
    try:
        text = Path(path).read_bytes()
        record = Record.model_validate_json(text)
    except OSError as e:
        raise ValueError(f"{path}: cannot read the record ({e})") from e
    except ValidationError as e:
        raise ValueError(f"{path}: not a valid record ({_problems(e)}); fix or delete it, or re-run its cell") from e
    expected = Path(path).parts[-4:-1]
    if (record.task, record.neuron, str(record.seed)) != tuple(expected):
        raise ValueError(
            f"{path}: the record is for {record.task}/{record.neuron}/{record.seed} but lies in the folder of "
            f"{'/'.join(expected)}; records live at results/runs/<task>/<neuron>/<seed>/{RECORD_FILE}"
        )
    return record


def record_paths(runs_dir: Path = RUNS_DIR) -> list[Path]:
    return sorted(Path(runs_dir).glob(f"*/*/*/{RECORD_FILE}"))

