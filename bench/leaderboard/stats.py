"""From records to the leaderboard's one DataFrame: per task x neuron, every tabled metric of
bench.record.METRICS aggregated over seeds (mean ± sample std, ...), the primary metric's CI and
each neuron's paired difference to the profile's baseline with its CI, Holm-adjusted verdict and
resolvable difference (bench.leaderboard.paired), failed cells and incomplete rows, and the
numbers papers report (as their own rows, never in any mean)."""

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from bench.config import Cell
from bench.leaderboard.paired import compare
from bench.plan import planned_cells
from bench.record import METRICS, PRIMARY

DEFAULT_BASELINE = "lif"
DELTA, DELTA_LOW, DELTA_HIGH = f"delta_{PRIMARY.stem}", "delta_ci_low", "delta_ci_high"
CI_LOW, CI_HIGH = PRIMARY.col("ci_low"), PRIMARY.col("ci_high")
PAIRED = {  # paired.compare's columns -> the table's
    "top1_ci_low": CI_LOW, "top1_ci_high": CI_HIGH, "delta": DELTA, "delta_low": DELTA_LOW, "delta_high": DELTA_HIGH,
    "delta_p": "delta_p", "delta_p_holm": "delta_p_holm", "verdict": "verdict", "paired_seeds": "paired_seeds",
    "paired_samples": "paired_samples", "resolvable": "resolvable_pp", "identical_seeds": "identical_seeds",
}
AGGREGATES = {m.col(agg): (m.name, agg) for m in METRICS for agg in m.aggregate}


def _metric_columns() -> list[str]:
    columns = []
    for m in METRICS:
        columns += [m.col(agg) for agg in m.aggregate]
        if m is PRIMARY:
            columns += [CI_LOW, CI_HIGH, DELTA, DELTA_LOW, DELTA_HIGH, "delta_p", "delta_p_holm", "verdict",
                        "paired_seeds", "paired_samples", "resolvable_pp"]
    return columns


COLUMNS = [  # the tidy table, in this order (results/leaderboard/leaderboard.csv)
    "task", "neuron", "kind", "baseline", "arm", "arm_rank", "n_seeds", "n_seeds_expected", "incomplete", "n_failed", "failures",
    "stale", "identical_seeds", *_metric_columns(), "split_protocol", "source", "where", "note",
]


def expected_seeds(profile: DictConfig) -> dict[str, list[int]]:
    """task -> the seeds the profile runs it with."""
    seeds: dict[str, list[int]] = {}
    for cell in planned_cells(profile):
        if cell.seed not in seeds.setdefault(cell.task, []):
            seeds[cell.task].append(cell.seed)
    return seeds


def select_profile(records: pd.DataFrame, profile: DictConfig, config_hashes: dict | None = None) -> pd.DataFrame:
    """The records of the profile's table cells (select_cells)."""
    return select_cells(records, planned_cells(profile), config_hashes)


def select_cells(records: pd.DataFrame, cells: list[Cell], config_hashes: dict | None = None) -> pd.DataFrame:
    """The records of the given cells, made without overrides (a `trainer.max_epochs=1` smoke run
    is not the protocol), each marked `stale` when it was made under another config than its
    cell has now (config_hashes: (neuron, task, seed) -> bench.config.config_hash)."""
    planned = {(c.neuron, c.task, c.seed): c.addressing for c in cells}
    keys = list(zip(records.neuron, records.task, records.seed))
    selected = records[np.array([key in planned for key in keys], dtype=bool) & ~records.overrides.astype(bool)]
    keys = list(zip(selected.neuron, selected.task, selected.seed))
    selected = selected.assign(stage=[planned[key] for key in keys])
    if config_hashes is None:
        return selected.assign(stale=False)
    return selected.assign(stale=[config_hashes.get(key) != have for key, have in zip(keys, selected.config_hash)])


def measured(records: pd.DataFrame, n_seeds_expected: dict[str, int], neurons: list[str], baseline: str) -> pd.DataFrame:
    """One row per task x neuron the profile asks for, with or without records (a neuron with no
    result yet shows as 0 of N seeds, not as a missing row)."""
    stale = records.stale.astype(bool) if "stale" in records else pd.Series(False, index=records.index)
    ok = records[(records.status == "ok") & ~stale]
    table = ok.groupby(["task", "neuron"]).agg(
        n_seeds=("seed", "size"), **AGGREGATES, split_protocol=("split_protocol", "first")
    )
    failed = records[(records.status == "failed") & ~stale]
    failed = failed.assign(failure=lambda d: "seed " + d.seed.astype(str) + ": " + d.reason)
    failures = failed.groupby(["task", "neuron"]).agg(n_failed=("seed", "size"), failures=("failure", "; ".join))
    outdated = records[stale].assign(cell=lambda d: "seed " + d.seed.astype(str) + " (`dvc repro " + d.stage + "`)")
    outdated = outdated.groupby(["task", "neuron"]).agg(stale=("cell", ", ".join))
    planned = pd.MultiIndex.from_product([list(n_seeds_expected), neurons], names=["task", "neuron"])
    table = table.join(failures, how="outer").join(outdated, how="outer").reindex(planned.union(table.index)).reset_index()
    table = table.merge(compare(ok, baseline).rename(columns=PAIRED), on=["task", "neuron"], how="left")
    table["n_seeds"] = table.n_seeds.fillna(0).astype(int)
    table["n_failed"] = table.n_failed.fillna(0).astype(int)
    table["n_seeds_expected"] = table.task.map(n_seeds_expected).fillna(0).astype(int)
    table["incomplete"] = table.n_seeds < table.n_seeds_expected
    table["kind"] = "measured"
    return table


def reported_rows(reported: pd.DataFrame, tasks: list[str]) -> pd.DataFrame:
    """Literature numbers for the given tasks, as rows of kind `reported`."""
    rows = reported[reported.task.isin(tasks)].rename(columns={PRIMARY.stem: PRIMARY.col("mean")})
    return rows.assign(kind="reported")


def leaderboard_table(records: pd.DataFrame, profile: DictConfig, reported: pd.DataFrame) -> pd.DataFrame:
    """The one DataFrame every output is rendered from: measured rows of the profile's tasks
    (best primary metric first within each task), then the reported rows of those tasks."""
    seeds = expected_seeds(profile)
    baseline = profile.get("baseline") or DEFAULT_BASELINE
    table = measured(records, {task: len(s) for task, s in seeds.items()}, list(profile.neurons), baseline)
    table["baseline"] = baseline
    arms = dict(profile.get("arms") or {})
    table["arm"] = table.neuron.map(arms)
    table["arm_rank"] = table.neuron.map({name: rank for rank, name in enumerate(arms)}).astype("Int64")
    table = pd.concat([table, reported_rows(reported, list(seeds))], ignore_index=True)
    counts = ["n_seeds", "n_seeds_expected", "n_failed"]
    table[counts] = table[counts].astype("Int64")  # integers, missing (<NA>) on reported rows
    table["incomplete"] = table.incomplete.astype("boolean").fillna(False).astype(bool)
    table["order"] = table.kind.map({"measured": 0, "reported": 1})
    rank = PRIMARY.col("mean")
    ascending = [True, True, not PRIMARY.higher_is_better, True]
    table = table.sort_values(["task", "order", rank, "neuron"], ascending=ascending, na_position="last")
    return table[COLUMNS].reset_index(drop=True)
