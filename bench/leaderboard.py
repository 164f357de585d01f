"""Pipeline stage `leaderboard`: aggregate every cell's record into results/leaderboard.{csv,md}.

Seeds are grouped into mean ± sample std (ddof = 1). Only the cells of the current profile count,
and only records made without ad-hoc overrides (a `trainer.max_epochs=1` smoke run is not the
protocol). Failed cells stay visible. Usage: python -m bench.leaderboard
"""

import json
import os
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from bench.config import RUNS_DIR, load_params

RESULTS_DIR = Path("results")
REQUIRED = ("neuron", "task", "seed", "status")
REQUIRED_METRICS = ("test_top1", "test_top5", "val_top1", "firing_rate")
OPTIONAL_METRICS = ("energy_mj", "energy_model", "activation_sparsity")
METRIC_COLUMNS = {"test_top1": "top1", "test_top5": "top5", "val_top1": "val_top1", "firing_rate": "firing_rate"}


def read_record(path: Path) -> dict:
    """One record as a flat row; a malformed record is an error naming its file."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable JSON record ({e}); delete it or re-run its cell") from e
    missing = [k for k in REQUIRED if k not in record]
    if record.get("status") == "ok":
        missing += [f"metrics.{k}" for k in REQUIRED_METRICS if k not in record.get("metrics", {})]
    elif record.get("status") == "failed":
        missing += ["reason"] if "reason" not in record else []
    else:
        raise ValueError(f"{path}: status must be 'ok' or 'failed', got {record.get('status')!r}")
    if missing:
        raise ValueError(f"{path}: record lacks {missing}; re-run its cell (python -m bench.train ...)")
    row = {k: record[k] for k in REQUIRED}
    row |= {"reason": record.get("reason"), "overrides": len(record.get("overrides", [])) > 0}
    row |= {"split_protocol": record.get("split_protocol"), "path": str(path)}
    row |= {k: record.get("metrics", {}).get(k) for k in (*REQUIRED_METRICS, *OPTIONAL_METRICS)}
    return row


def load_records(runs_dir: Path = RUNS_DIR) -> pd.DataFrame:
    rows = [read_record(p) for p in sorted(Path(runs_dir).glob("*/*/*/record.json"))]
    columns = [*REQUIRED, "reason", "overrides", "split_protocol", "path", *REQUIRED_METRICS, *OPTIONAL_METRICS]
    return pd.DataFrame(rows, columns=columns)


def expected_seeds(profile: DictConfig) -> dict[str, list[int]]:
    """task -> the seeds the profile runs it with (single-seed tasks: seed 0, as in dvc.yaml)."""
    seeds = {task: list(profile.seeds) for task in profile.tasks}
    seeds.update({task: [0] for task in profile.get("single_seed_tasks", [])})
    return seeds


def select_profile(records: pd.DataFrame, profile: DictConfig) -> pd.DataFrame:
    """The records of the profile's cells, made without overrides."""
    seeds = expected_seeds(profile)
    planned = pd.Series([seed in seeds.get(task, ()) for task, seed in zip(records.task, records.seed)], index=records.index, dtype=bool)
    in_profile = records.neuron.isin(list(profile.neurons)) & planned
    return records[in_profile & ~records.overrides.astype(bool)]


def aggregate(records: pd.DataFrame, n_seeds_expected: dict[str, int]) -> pd.DataFrame:
    """One row per task x neuron, sorted by mean top-1 within each task."""
    ok = records[records.status == "ok"].rename(columns=METRIC_COLUMNS)
    stats = ok.groupby(["task", "neuron"]).agg(
        n_seeds=("seed", "size"),
        top1_mean=("top1", "mean"),
        top1_std=("top1", "std"),
        top5_mean=("top5", "mean"),
        top5_std=("top5", "std"),
        val_top1_mean=("val_top1", "mean"),
        firing_rate_mean=("firing_rate", "mean"),
        energy_mj_mean=("energy_mj", "mean"),
        energy_model=("energy_model", "first"),
        split_protocol=("split_protocol", "first"),
    )
    failed = records[records.status == "failed"].groupby(["task", "neuron"]).size().rename("n_failed")
    table = stats.join(failed, how="outer").reset_index()
    table["n_seeds"] = table["n_seeds"].fillna(0).astype(int)
    table["n_failed"] = table["n_failed"].fillna(0).astype(int)
    table["n_seeds_expected"] = table.task.map(n_seeds_expected).fillna(0).astype(int)
    table = table.sort_values(["task", "top1_mean", "neuron"], ascending=[True, False, True], na_position="last")
    return table.reset_index(drop=True)


def _pm(mean: float, std: float, digits: int = 2) -> str:
    if pd.isna(mean):
        return "—"
    return f"{mean:.{digits}f}" if pd.isna(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def to_markdown(table: pd.DataFrame, records: pd.DataFrame, profile: DictConfig) -> str:
    lines = [
        "# Leaderboard",
        "",
        f"Profile `{profile.name}`. Top-1/top-5 test accuracy (%) of the checkpoint chosen on validation "
        "data, mean ± sample std over seeds; firing rate = mean spikes per neuron per timestep on the test set; "
        "energy per test sample under the named model (bench/efficiency.py).",
        "Generated by `dvc repro` (stage `leaderboard`) from `results/runs/`; do not edit by hand.",
    ]
    for task, rows in table.groupby("task", sort=True):
        shown = pd.DataFrame(
            {
                "neuron": rows.neuron,
                "top-1 (%)": [_pm(m, s) for m, s in zip(rows.top1_mean, rows.top1_std)],
                "top-5 (%)": [_pm(m, s) for m, s in zip(rows.top5_mean, rows.top5_std)],
                "val top-1 (%)": [_pm(m, float("nan")) for m in rows.val_top1_mean],
                "firing rate": [_pm(m, float("nan"), 3) for m in rows.firing_rate_mean],
                "energy (mJ/sample)": [
                    "—" if pd.isna(e) else f"{e:.4g} ({model})" for e, model in zip(rows.energy_mj_mean, rows.energy_model)
                ],
                "seeds": [
                    f"{n}/{e}" + (" (incomplete)" if n < e else "") for n, e in zip(rows.n_seeds, rows.n_seeds_expected)
                ],
                "failed": rows.n_failed,
            }
        )
        protocols = ", ".join(sorted(set(rows.split_protocol.dropna())))
        lines += ["", f"## {task}", "", f"Split protocol: `{protocols or 'unknown'}`.", ""]
        lines.append(shown.to_markdown(index=False, disable_numparse=True))
    failed = records[records.status == "failed"]
    if len(failed):
        lines += ["", "## Failed cells", ""]
        lines += [f"- {r.task} / {r.neuron} / seed {r.seed}: {r.reason}" for r in failed.itertuples()]
    return "\n".join(lines) + "\n"


def write_text_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main() -> pd.DataFrame:
    profile = load_params().profile
    records = select_profile(load_records(RUNS_DIR), profile)
    table = aggregate(records, {task: len(seeds) for task, seeds in expected_seeds(profile).items()})
    RESULTS_DIR.mkdir(exist_ok=True)
    write_text_atomically(RESULTS_DIR / "leaderboard.csv", table.to_csv(index=False, float_format="%.6g"))
    markdown = to_markdown(table, records, profile)
    write_text_atomically(RESULTS_DIR / "leaderboard.md", markdown)
    print(markdown)
    return table


if __name__ == "__main__":
    main()
