"""From records to the leaderboard's one DataFrame: per task x neuron, every tabled metric of
bench.record.METRICS aggregated over seeds (mean ± sample std, ...), the primary metric's CI and
each neuron's paired difference to the profile's baseline with its CI (bench.leaderboard.paired),
its family (primary, mechanism or exploratory) and, for the profile's questions, the verdict of
the hierarchy (bench.leaderboard.questions), failed cells and incomplete rows, and the numbers
papers report (as their own rows, never in any mean). Beside it, the answers to the profile's
questions, contrasts between any two arms (`contrasts`)."""

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from bench.config import Cell
from bench.leaderboard.paired import correctness, paired_to
from bench.leaderboard.questions import EXPLORATORY, answer, exploratory
from bench.plan import planned_cells
from bench.record import METRICS, PRIMARY

DEFAULT_BASELINE = "lif"
DELTA, DELTA_LOW, DELTA_HIGH = f"delta_{PRIMARY.stem}", "delta_ci_low", "delta_ci_high"
CI_LOW, CI_HIGH = PRIMARY.col("ci_low"), PRIMARY.col("ci_high")
PAIRED = {  # the columns of paired.paired_to and versus_baseline -> the table's
    "top1_ci_low": CI_LOW, "top1_ci_high": CI_HIGH, "delta": DELTA, "delta_low": DELTA_LOW, "delta_high": DELTA_HIGH,
    "delta_p": "delta_p", "delta_p_holm": "delta_p_holm", "verdict": "verdict", "paired_seeds": "paired_seeds",
    "paired_samples": "paired_samples", "resolvable": "resolvable_pp", "identical_seeds": "identical_seeds",
    "family": "family", "alpha_tested": "alpha_tested",
}
AGGREGATES = {m.col(agg): (m.name, agg) for m in METRICS for agg in m.aggregate}


def _metric_columns() -> list[str]:
    columns = []
    for m in METRICS:
        columns += [m.col(agg) for agg in m.aggregate]
        if m is PRIMARY:
            columns += [CI_LOW, CI_HIGH, DELTA, DELTA_LOW, DELTA_HIGH, "delta_p", "delta_p_holm", "verdict", "family",
                        "alpha_tested", "paired_seeds", "paired_samples", "resolvable_pp"]
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


def select_profile(records: pd.DataFrame, profile: DictConfig, config_hashes: dict | None = None,
                   runtime: dict | None = None) -> pd.DataFrame:
    """The records of the profile's table cells (select_cells)."""
    return select_cells(records, planned_cells(profile), config_hashes, runtime)


def why_stale(row, expected_hash: str | None, runtime: dict) -> str:
    """Why a record is not what params.yaml asks for its cell now ('' if it is): another config,
    other numerics than the config pins (BENCH_CPU_ISA / BENCH_CPU_THREADS), or a partial test."""
    if expected_hash != (row.config_hash if pd.notna(row.config_hash) else None):
        return "made under another config"
    if pd.notna(row.cpu_isa) and row.cpu_isa != runtime["cpu_isa"]:
        return f"made under cpu_isa {row.cpu_isa}, params.yaml asks for {runtime['cpu_isa']}"
    if pd.notna(row.cpu_threads) and row.cpu_threads != str(runtime["cpu_threads"]):
        return f"made with {row.cpu_threads} CPU threads, params.yaml asks for {runtime['cpu_threads']}"
    if row.partial_test:
        return "tested on part of the test split"
    return ""


def select_cells(records: pd.DataFrame, cells: list[Cell], config_hashes: dict | None = None,
                 runtime: dict | None = None) -> pd.DataFrame:
    """The records of the given cells, made without overrides (a `trainer.max_epochs=1` smoke run
    is not the protocol), each marked `stale` (and why) when it is not what its cell asks for now
    (config_hashes: (neuron, task, seed) -> bench.config.config_hash; runtime: params.yaml's
    cpu_isa and cpu_threads)."""
    planned = {(c.neuron, c.task, c.seed): c.addressing for c in cells}
    keys = list(zip(records.neuron, records.task, records.seed))
    selected = records[np.array([key in planned for key in keys], dtype=bool) & ~records.overrides.astype(bool)]
    keys = list(zip(selected.neuron, selected.task, selected.seed))
    selected = selected.assign(stage=[planned[key] for key in keys])
    if config_hashes is None:
        return selected.assign(stale=False, stale_why="")
    runtime = runtime or {"cpu_isa": None, "cpu_threads": None}
    why = [why_stale(row, config_hashes.get(key), runtime) for key, row in zip(keys, selected.itertuples())]
    return selected.assign(stale=[bool(w) for w in why], stale_why=why)


def contrasts_table(matrices: dict, profile: DictConfig, tasks: list[str], baseline: str) -> pd.DataFrame:
    """The profile's questions answered on its tasks, then every other neuron vs the baseline as
    exploratory contrasts (bench.leaderboard.questions)."""
    asked = answer(matrices, profile, tasks)
    others = [(neuron, baseline) for neuron in profile.neurons if neuron != baseline]
    return pd.concat([asked, exploratory(matrices, tasks, others, asked)], ignore_index=True)


def versus_baseline(paired: pd.DataFrame, contrasts: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Each neuron's difference to the baseline with the family and verdict of the question that
    asks it (either way round), else as exploratory: no verdict, no adjusted p."""
    flip = {"better": "worse", "worse": "better"}
    by_pair = {(r.task, frozenset((r.a, r.b))): r for r in contrasts.itertuples()}
    rows = []
    for row in paired.itertuples():
        found = by_pair.get((row.task, frozenset((row.neuron, baseline))))
        extra = {"family": None, "alpha_tested": float("nan"), "delta_p_holm": float("nan"), "verdict": "",
                 "resolvable": row.resolvable}
        if pd.notna(row.delta) and found is not None and found.family != EXPLORATORY:
            verdict = found.verdict if found.a == row.neuron else flip.get(found.verdict, found.verdict)
            extra = {"family": found.family, "alpha_tested": found.alpha_tested, "delta_p_holm": found.p_adjusted,
                     "verdict": verdict, "resolvable": found.resolvable_pp}
        elif pd.notna(row.delta):
            extra.update(family=EXPLORATORY, verdict=EXPLORATORY)
        rows.append(extra)
    added = pd.DataFrame(rows, index=paired.index, columns=["family", "alpha_tested", "delta_p_holm", "verdict", "resolvable"])
    return paired.assign(**{column: added[column] for column in added})


def measured(records: pd.DataFrame, n_seeds_expected: dict[str, int], profile: DictConfig,
             baseline: str, per_neuron: dict[tuple[str, str], int] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per task x neuron the profile asks for, with or without records (a neuron with no
    result yet shows as 0 of N seeds, not as a missing row); the contrasts of contrasts_table).
    per_neuron: (task, neuron) -> seeds expected where a neuron has other seeds than its task's
    (the tuned headline's primary arms)."""
    if "stale" not in records:
        records = records.assign(stale=False, stale_why="")
    stale = records.stale.astype(bool)
    ok = records[(records.status == "ok") & ~stale]
    table = ok.groupby(["task", "neuron"]).agg(
        n_seeds=("seed", "size"), **AGGREGATES, split_protocol=("split_protocol", "first")
    )
    failed = records[(records.status == "failed") & ~stale]
    failed = failed.assign(failure=lambda d: "seed " + d.seed.astype(str) + ": " + d.reason)
    failures = failed.groupby(["task", "neuron"]).agg(n_failed=("seed", "size"), failures=("failure", "; ".join))
    outdated = records[stale].assign(
        cell=lambda d: "seed " + d.seed.astype(str) + ": " + d.stale_why + " (`dvc repro -f " + d.stage + "`)")
    outdated = outdated.groupby(["task", "neuron"]).agg(stale=("cell", ", ".join))
    planned = pd.MultiIndex.from_product([list(n_seeds_expected), list(profile.neurons)], names=["task", "neuron"])
    table = table.join(failures, how="outer").join(outdated, how="outer").reindex(planned.union(table.index)).reset_index()
    matrices = correctness(ok)
    contrasts = contrasts_table(matrices, profile, list(n_seeds_expected), baseline)
    paired = versus_baseline(paired_to(matrices, baseline), contrasts, baseline)
    table = table.merge(paired.rename(columns=PAIRED), on=["task", "neuron"], how="left")
    table["n_seeds"] = table.n_seeds.fillna(0).astype(int)
    table["n_failed"] = table.n_failed.fillna(0).astype(int)
    table["n_seeds_expected"] = table.task.map(n_seeds_expected).fillna(0).astype(int)
    for (task, neuron), n in (per_neuron or {}).items():
        table.loc[(table.task == task) & (table.neuron == neuron), "n_seeds_expected"] = n
    table["incomplete"] = table.n_seeds < table.n_seeds_expected
    table["kind"] = "measured"
    return table, contrasts


def reported_rows(reported: pd.DataFrame, tasks: list[str]) -> pd.DataFrame:
    """Literature numbers for the given tasks, as rows of kind `reported`."""
    rows = reported[reported.task.isin(tasks)].rename(columns={PRIMARY.stem: PRIMARY.col("mean")})
    return rows.assign(kind="reported")


def leaderboard_tables(records: pd.DataFrame, profile: DictConfig, reported: pd.DataFrame,
                       per_neuron: dict[tuple[str, str], int] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the one DataFrame every table is rendered from: measured rows of the profile's tasks (best
    primary metric first within each task), then the reported rows of those tasks; the contrasts
    that answer the profile's questions, and the exploratory ones). per_neuron: see `measured`."""
    seeds = expected_seeds(profile)
    baseline = profile.get("baseline") or DEFAULT_BASELINE
    table, contrasts = measured(records, {task: len(s) for task, s in seeds.items()}, profile, baseline, per_neuron)
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
    return table[COLUMNS].reset_index(drop=True), contrasts


def leaderboard_table(records: pd.DataFrame, profile: DictConfig, reported: pd.DataFrame) -> pd.DataFrame:
    return leaderboard_tables(records, profile, reported)[0]
