"""From records to the leaderboard's one DataFrame: mean ± sample std over seeds per task x
neuron, each neuron's difference to LIF with a 95% confidence interval, failed cells and
incomplete rows, and the numbers papers report (as their own rows, never in any mean)."""

import warnings

import numpy as np
import pandas as pd
from omegaconf import DictConfig
from scipy import stats

BASELINE = "lif"
CONFIDENCE = 0.95
COLUMNS = [  # the tidy table, in this order (results/leaderboard.csv)
    "task", "neuron", "kind", "n_seeds", "n_seeds_expected", "incomplete", "n_failed", "failures",
    "top1_mean", "top1_std", "delta_top1", "delta_ci_low", "delta_ci_high", "top5_mean", "top5_std",
    "val_top1_mean", "firing_rate_mean", "energy_mj_mean", "energy_model", "split_protocol", "source", "where", "note",
]


def expected_seeds(profile: DictConfig) -> dict[str, list[int]]:
    """task -> the seeds the profile runs it with (single-seed tasks: seed 0, as in dvc.yaml)."""
    seeds = {task: list(profile.seeds) for task in profile.tasks}
    seeds.update({task: [0] for task in profile.get("single_seed_tasks", [])})
    return seeds


def select_profile(records: pd.DataFrame, profile: DictConfig) -> pd.DataFrame:
    """The records of the profile's cells, made without overrides (a `trainer.max_epochs=1`
    smoke run is not the protocol)."""
    seeds = expected_seeds(profile)
    planned = [seed in seeds.get(task, ()) for task, seed in zip(records.task, records.seed)]
    keep = records.neuron.isin(list(profile.neurons)) & np.array(planned, dtype=bool) & ~records.overrides.astype(bool)
    return records[keep]


def welch_interval(x: np.ndarray, baseline: np.ndarray) -> tuple[float, float]:
    """95% CI of mean(x) - mean(baseline) by Welch's t (unequal variances, Welch-Satterthwaite
    degrees of freedom); NaN when either side has fewer than 2 seeds or no spread at all."""
    if len(x) < 2 or len(baseline) < 2 or (np.ptp(x) == 0 and np.ptp(baseline) == 0):
        return float("nan"), float("nan")
    with warnings.catch_warnings():  # scipy warns about precision when one side has no spread
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = stats.ttest_ind(x, baseline, equal_var=False).confidence_interval(CONFIDENCE)
    return float(ci.low), float(ci.high)


def against_baseline(ok: pd.DataFrame) -> pd.DataFrame:
    """Per task x neuron: mean top-1 difference to the task's LIF and its CI."""
    baselines = {task: group.test_top1.to_numpy() for task, group in ok[ok.neuron == BASELINE].groupby("task")}
    rows = []
    for (task, neuron), group in ok.groupby(["task", "neuron"]):
        base = baselines.get(task, np.array([]))
        x = group.test_top1.to_numpy()
        if neuron == BASELINE or len(base) == 0:
            rows.append((task, neuron, float("nan"), float("nan"), float("nan")))
            continue
        low, high = welch_interval(x, base)
        rows.append((task, neuron, x.mean() - base.mean(), low, high))
    return pd.DataFrame(rows, columns=["task", "neuron", "delta_top1", "delta_ci_low", "delta_ci_high"])


def measured(records: pd.DataFrame, n_seeds_expected: dict[str, int], neurons: list[str]) -> pd.DataFrame:
    """One row per task x neuron the profile asks for, with or without records (a neuron with no
    result yet shows as 0 of N seeds, not as a missing row)."""
    ok = records[records.status == "ok"]
    table = ok.groupby(["task", "neuron"]).agg(
        n_seeds=("seed", "size"),
        top1_mean=("test_top1", "mean"),
        top1_std=("test_top1", "std"),
        top5_mean=("test_top5", "mean"),
        top5_std=("test_top5", "std"),
        val_top1_mean=("val_top1", "mean"),
        firing_rate_mean=("firing_rate", "mean"),
        energy_mj_mean=("energy_mj", "mean"),
        energy_model=("energy_model", "first"),
        split_protocol=("split_protocol", "first"),
    )
    failed = records[records.status == "failed"].assign(failure=lambda d: "seed " + d.seed.astype(str) + ": " + d.reason)
    failures = failed.groupby(["task", "neuron"]).agg(n_failed=("seed", "size"), failures=("failure", "; ".join))
    planned = pd.MultiIndex.from_product([list(n_seeds_expected), neurons], names=["task", "neuron"])
    table = table.join(failures, how="outer").reindex(planned.union(table.index)).reset_index()
    table = table.merge(against_baseline(ok), on=["task", "neuron"], how="left")
    table["n_seeds"] = table.n_seeds.fillna(0).astype(int)
    table["n_failed"] = table.n_failed.fillna(0).astype(int)
    table["n_seeds_expected"] = table.task.map(n_seeds_expected).fillna(0).astype(int)
    table["incomplete"] = table.n_seeds < table.n_seeds_expected
    table["kind"] = "measured"
    return table


def reported_rows(reported: pd.DataFrame, tasks: list[str]) -> pd.DataFrame:
    """Literature numbers for the given tasks, as rows of kind `reported`."""
    rows = reported[reported.task.isin(tasks)].rename(columns={"top1": "top1_mean"})
    return rows.assign(kind="reported")


def leaderboard_table(records: pd.DataFrame, profile: DictConfig, reported: pd.DataFrame) -> pd.DataFrame:
    """The one DataFrame every output is rendered from: measured rows of the profile's tasks
    (sorted by mean top-1 within each task), then the reported rows of those tasks."""
    seeds = expected_seeds(profile)
    table = measured(records, {task: len(s) for task, s in seeds.items()}, list(profile.neurons))
    table = pd.concat([table, reported_rows(reported, list(seeds))], ignore_index=True)
    counts = ["n_seeds", "n_seeds_expected", "n_failed"]
    table[counts] = table[counts].astype("Int64")  # integers, missing (<NA>) on reported rows
    table["incomplete"] = table.incomplete.astype("boolean").fillna(False).astype(bool)
    table["order"] = table.kind.map({"measured": 0, "reported": 1})
    table = table.sort_values(["task", "order", "top1_mean", "neuron"], ascending=[True, True, False, True], na_position="last")
    return table[COLUMNS].reset_index(drop=True)
