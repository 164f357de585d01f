"""The results as pandas DataFrames, for notebooks and scripts (docs/results.ipynb shows each):

    from bench import results
    results.records()              # one row per record of results/runs/: identity, outcome, every metric
    results.records("results/tuned")   # ... of the tuned cells (bench/tune.py)
    results.leaderboard()          # the published table (results/leaderboard/leaderboard.csv)
    results.contrasts()            # the answers to the profile's questions, and every other contrast
    results.predictions("randman", "qif")        # seeds x test samples, 1 where the prediction was right
    results.paired("randman", "qif", "lif")      # a paired difference with its CI, recomputed

Everything is read from the files the pipeline wrote (nothing is trained); the paired difference
is the leaderboard's own estimator (bench.leaderboard.paired), on the profile's records: the
table's headline by default (a tuned task's tuned cells, another task's shared-settings cells),
or the shared-settings cells everywhere with `settings="shared"`.
"""

from pathlib import Path

import pandas as pd

from bench.config import Cell, load_params
from bench.leaderboard.paired import Estimate, correctness
from bench.leaderboard.questions import contrast_estimate
from bench.leaderboard.records import load_records
from bench.leaderboard.stats import select_cells, select_profile
from bench.plan import tuned_tasks
from bench.record import RUNS_DIR
from bench.tune import TUNED_DIR

PUBLISHED = Path("results/leaderboard")


def records(runs_dir: Path = RUNS_DIR) -> pd.DataFrame:
    """Every record under runs_dir (validated): task, neuron, seed, status, reason, config hash,
    the numerics it was made under, every metric of bench.record.METRICS and its path."""
    return load_records(Path(runs_dir))


def leaderboard(published: Path = PUBLISHED) -> pd.DataFrame:
    """The published table: one row per task x neuron (and the reported rows), every column."""
    return pd.read_csv(Path(published) / "leaderboard.csv")


def contrasts(published: Path = PUBLISHED) -> pd.DataFrame:
    """Every contrast of the published set: the profile's questions (primary, mechanism) with
    their verdicts, tested levels and adjusted p, then the exploratory ones."""
    return pd.read_csv(Path(published) / "contrasts.csv")


def profile_records(runs_dir: Path = RUNS_DIR, params=None, settings: str = "headline") -> pd.DataFrame:
    """The ok records of params.yaml's profile, made without overrides, as the table uses them:
    settings "headline" (a tuned task's tuned cells, results/tuned/, and another task's cells) or
    "shared" (the cells at the shared settings, results/runs/, on every task)."""
    if settings not in ("headline", "shared"):
        raise ValueError(f"settings must be 'headline' or 'shared', got {settings!r}")
    params = params if params is not None else load_params()
    chosen = select_profile(records(runs_dir), params.profile)
    tuned = tuned_tasks(params.profile, params.get("tuning")) if settings == "headline" else []
    if tuned:
        cells = [Cell(c.neuron, c.task, c.seed) for c in params.plan.tuned.values()]
        chosen = pd.concat([select_cells(records(Path(runs_dir).parent / TUNED_DIR.name), cells),
                            chosen[~chosen.task.isin(tuned)]], ignore_index=True)
    return chosen[chosen.status == "ok"]


def predictions(task: str, neuron: str, runs_dir: Path = RUNS_DIR, params=None, settings: str = "headline") -> pd.DataFrame:
    """Seeds x test samples of one neuron on one task: 1.0 where its prediction was right."""
    matrices = correctness(profile_records(runs_dir, params, settings))
    if (task, neuron) not in matrices:
        raise KeyError(f"no ok records of {neuron} on {task} in the profile under {runs_dir}")
    return matrices[task, neuron]


def paired(task: str, a: str, b: str, runs_dir: Path = RUNS_DIR, params=None, settings: str = "headline") -> Estimate:
    """a - b on the task in top-1 percentage points, paired by seed and test sample, with its 95%
    CI (seeds and test-set sampling; docs/statistics.md) and unadjusted p."""
    found = contrast_estimate(correctness(profile_records(runs_dir, params, settings)), task, a, b)
    if found is None:
        raise KeyError(f"{a} and {b} have no seeds in common on {task} under {runs_dir}")
    return found
