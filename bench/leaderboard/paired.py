"""Paired statistics from per-sample test predictions (docs/statistics.md).

The design is crossed and paired: every neuron of a task runs with the same seeds (a seed fixes
the initial weights and the data order for every neuron alike) and is tested on the same test
samples. For neuron A against the baseline B the data are the matrix

    D[s, i] = 100 * (correct_A[s, i] - correct_B[s, i])      seeds s = 1..S, test samples i = 1..N

and the estimate is its mean, the difference in top-1 (pp). Its uncertainty has two sources, the
seeds (another seed could favour either neuron) and the test set (another draw of N test samples
from the same distribution), estimated by the two-way crossed random-effects ANOVA of D:

    Var(mean) = s2_seed / S + s2_sample / N + s2_residual / (S N)

with the variance components from the mean squares (negative estimates set to zero), and a t
interval with Satterthwaite's degrees of freedom. With one seed the seed term cannot be estimated
and the interval covers test-set sampling only (said in the table). The same estimator on one
neuron's own correctness matrix gives the CI of its mean top-1.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from bench.record import PREDICTIONS_FILE, PRIMARY

CONFIDENCE = 0.95
POWER = 0.80


@dataclass(frozen=True)
class Estimate:
    mean: float  # pp
    se: float
    df: float
    low: float
    high: float
    p: float  # two-sided, against 0 (differences only)
    n_seeds: int
    n_samples: int


def variance_of_mean(d: np.ndarray) -> tuple[float, float]:
    """(variance of the grand mean of an S x N matrix under random seeds and random samples,
    Satterthwaite degrees of freedom)."""
    S, N = d.shape
    grand = d.mean()
    rows, cols = d.mean(axis=1), d.mean(axis=0)
    ms_item = S * ((cols - grand) ** 2).sum() / (N - 1)
    if S == 1:
        return ms_item / N, N - 1.0
    ms_seed = N * ((rows - grand) ** 2).sum() / (S - 1)
    ms_res = ((d - rows[:, None] - cols[None, :] + grand) ** 2).sum() / ((S - 1) * (N - 1))
    terms = {"seed": (ms_seed, S - 1), "item": (ms_item, N - 1), "res": (ms_res, (S - 1) * (N - 1))}
    seed_positive, item_positive = ms_seed > ms_res, ms_item > ms_res
    if seed_positive and item_positive:  # s2_seed/S + s2_item/N + s2_res/(SN) = (MS_s + MS_i - MS_r)/(SN)
        combination = {"seed": 1.0, "item": 1.0, "res": -1.0}
    elif item_positive:  # seed component estimated <= 0
        combination = {"item": 1.0}
    elif seed_positive:
        combination = {"seed": 1.0}
    else:
        combination = {"res": 1.0}
    value = sum(c * terms[k][0] for k, c in combination.items())
    denominator = sum((c * terms[k][0]) ** 2 / terms[k][1] for k, c in combination.items())
    df = value**2 / denominator if denominator > 0 else float("inf")
    return value / (S * N), df


def estimate(d: np.ndarray) -> Estimate:
    """Mean of the S x N matrix d with its CONFIDENCE interval and two-sided p against 0."""
    S, N = d.shape
    mean = float(d.mean())
    variance, df = variance_of_mean(d) if N > 1 else (float("nan"), float("nan"))
    se = float(np.sqrt(max(variance, 0.0)))
    if se == 0:  # every pair agrees on every sample (or one constant shift): no spread to infer from
        return Estimate(mean, 0.0, df, mean, mean, 1.0 if mean == 0 else 0.0, S, N)
    half = stats.t.ppf((1 + CONFIDENCE) / 2, df) * se
    p = float(2 * stats.t.sf(abs(mean) / se, df))
    return Estimate(mean, se, float(df), mean - half, mean + half, p, S, N)


def resolvable(se: float, df: float) -> float:
    """The smallest true difference found at CONFIDENCE with POWER, given a comparison's standard
    error: (t_(1+c)/2 + t_power) * se."""
    if not np.isfinite(se) or se == 0:
        return float("nan")
    return float((stats.t.ppf((1 + CONFIDENCE) / 2, df) + stats.t.ppf(POWER, df)) * se)


def holm(p: pd.Series) -> pd.Series:
    """Holm's step-down adjusted p-values (family-wise error over all given comparisons)."""
    order = p.sort_values(kind="stable")
    m = len(order)
    adjusted = np.maximum.accumulate([(m - k) * value for k, value in enumerate(order.to_numpy())])
    return pd.Series(np.minimum(adjusted, 1.0), index=order.index).reindex(p.index)


def read_predictions(record_path: str) -> pd.DataFrame | None:
    path = Path(record_path).with_name(PREDICTIONS_FILE)
    if not path.is_file():
        return None
    predictions = pd.read_csv(path)
    if list(predictions.columns) != ["index", "target", "prediction"] or not predictions["index"].is_monotonic_increasing:
        raise ValueError(f"{path}: expected columns index,target,prediction sorted by index; re-run its cell")
    return predictions


def correctness(records: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """(task, neuron) -> seeds x test samples matrix of 0/1 correctness, from each ok record's
    test-predictions.csv, checked against the record (its top-1) and across the task (one test
    split: the same samples and targets for every cell)."""
    matrices: dict[tuple[str, str], dict[int, pd.Series]] = {}
    targets: dict[str, tuple[str, pd.Series]] = {}
    for row in records.itertuples():
        predictions = read_predictions(row.path)
        if predictions is None:
            continue
        where = Path(row.path).with_name(PREDICTIONS_FILE)
        target = predictions.set_index("index").target
        if row.task in targets and not targets[row.task][1].equals(target):
            raise ValueError(f"{where}: its test samples or targets differ from {targets[row.task][0]} (same task, same split)")
        targets.setdefault(row.task, (str(where), target))
        correct = (predictions.prediction == predictions.target).set_axis(predictions["index"]).astype(float)
        top1 = 100 * correct.mean()
        recorded = getattr(row, PRIMARY.name)
        if abs(top1 - recorded) > 1e-3:
            raise ValueError(f"{where}: top-1 {top1:.4f} from the predictions, {recorded} in the record; re-run its cell")
        matrices.setdefault((row.task, row.neuron), {})[row.seed] = correct
    return {key: pd.DataFrame(by_seed).T.sort_index() for key, by_seed in matrices.items()}


def identical_accuracies(matrix: pd.DataFrame) -> str | None:
    """A note where seeds share a test top-1: the same count of correct samples, though (usually)
    not the same samples."""
    counts = matrix.sum(axis=1).astype(int)
    notes = []
    for count, seeds in counts.groupby(counts).groups.items():
        if len(seeds) < 2:
            continue
        rows = matrix.loc[list(seeds)].to_numpy()
        differ = [int((rows[a] != rows[b]).sum()) for a in range(len(rows)) for b in range(a + 1, len(rows))]
        n = matrix.shape[1]
        what = "the same samples right"
        if max(differ):
            what = f"different samples right ({min(differ)}-{max(differ)} of {n} differ pairwise)"
        notes.append(f"seeds {', '.join(map(str, seeds))} each {count}/{n} correct: {what}")
    return "; ".join(notes) or None


def paired_to(matrices: dict[tuple[str, str], pd.DataFrame], baseline: str) -> pd.DataFrame:
    """Per task x neuron (correctness matrices): the neuron's own top-1 CI, its paired difference
    to the baseline (seeds present in both) with CI and unadjusted p, the smallest difference the
    comparison resolves at the unadjusted level, and notes on identical seed accuracies."""
    rows = []
    for (task, neuron), matrix in matrices.items():
        own = estimate(100 * matrix.to_numpy())
        row = {"task": task, "neuron": neuron, "top1_ci_low": own.low, "top1_ci_high": own.high,
               "identical_seeds": identical_accuracies(matrix)}
        base = matrices.get((task, baseline))
        if neuron != baseline and base is not None:
            seeds = matrix.index.intersection(base.index)
            if len(seeds):
                diff = estimate(100 * (matrix.loc[seeds].to_numpy() - base.loc[seeds].to_numpy()))
                row.update(delta=diff.mean, delta_low=diff.low, delta_high=diff.high, delta_p=diff.p,
                           paired_seeds=diff.n_seeds, paired_samples=diff.n_samples, resolvable=resolvable(diff.se, diff.df))
        rows.append(row)
    return pd.DataFrame(rows, columns=["task", "neuron", "top1_ci_low", "top1_ci_high", "identical_seeds", "delta",
                                       "delta_low", "delta_high", "delta_p", "paired_seeds", "paired_samples", "resolvable"])


def compare(records: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """paired_to the baseline, with Holm-adjusted p over every comparison given and the verdict:
    the family of one sweep (bench.leaderboard.sensitivity), whose points are its question."""
    table = paired_to(correctness(records), baseline)
    tested = table.delta_p.notna()
    table["delta_p_holm"] = holm(table.delta_p[tested]).reindex(table.index)
    table["verdict"] = np.select(
        [~tested, table.delta_p_holm >= 1 - CONFIDENCE, table.delta > 0],
        ["", "not resolved", "better"], default="worse",
    )
    return table
