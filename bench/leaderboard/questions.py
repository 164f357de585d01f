"""The profile's pre-registered questions answered with one error rate for the whole hierarchy
(docs/statistics.md): the probability of any false "better"/"worse" among the primary and
mechanism verdicts is at most 1 - CONFIDENCE, however many other arms the profile lists.

- primary: the profile's primary contrasts (e.g. qif vs lif) on each of its tasks; the
  family's alpha is split equally between them.
- mechanism: the named contrasts (any two arms), on each task; they share the alpha that their
  task's primary contrast passes on once it is resolved (a gate), Holm-style within the task.
- exploratory: every other comparison: an estimate with its CI, no verdict.

The procedure is the graphical one of Bretz, Maurer, Brannath & Posch (Stat. Med. 2009), a
sequentially rejective weighted Bonferroni test that contains Holm's (all weights equal, all
alpha passed on equally) and gatekeeping as special cases. Which verdicts it reaches depends only
on the p-values of the questions, so adding an exploratory arm changes none of them.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from bench.config import contrast_arms
from bench.leaderboard.paired import CONFIDENCE, POWER, Estimate, estimate
from bench.leaderboard.paired import resolvable as resolvable_at_95

ALPHA = 1 - CONFIDENCE
FAMILIES = ("primary", "mechanism")
EXPLORATORY = "exploratory"
NOT_TESTED = "not tested"
COLUMNS = ["task", "family", "contrast", "a", "b", "delta", "ci_low", "ci_high", "p", "alpha_tested",
           "ci_tested_low", "ci_tested_high", "p_adjusted", "verdict", "resolvable_pp", "paired_seeds", "paired_samples", "gate"]


@dataclass(frozen=True)
class Hypothesis:
    task: str
    family: str
    a: str
    b: str

    @property
    def contrast(self) -> str:
        return f"{self.a} vs {self.b}"


def hypotheses(profile: DictConfig, tasks: list[str]) -> list[Hypothesis]:
    """Every (task, question) of the profile, primary ones first."""
    questions = profile.get("questions") or {}
    return [Hypothesis(task, family, *contrast_arms(text))
            for family in FAMILIES for task in tasks for text in questions.get(family) or []]


def graph(hyps: list[Hypothesis]) -> tuple[np.ndarray, np.ndarray]:
    """(initial weights, transition matrix) of the hierarchy: the primary hypotheses share the
    weight equally; a primary one passes its weight on to its task's mechanism hypotheses
    equally (to the other primary ones where its task has none); a mechanism hypothesis passes
    its weight to the other mechanism hypotheses of its task equally."""
    n = len(hyps)
    primary = [i for i, h in enumerate(hyps) if h.family == "primary"]
    weights = np.zeros(n)
    weights[primary] = 1 / len(primary) if primary else 0
    transitions = np.zeros((n, n))
    for i, h in enumerate(hyps):
        mechanism = [j for j, g in enumerate(hyps) if g.family == "mechanism" and g.task == h.task and j != i]
        targets = mechanism if h.family == "mechanism" or mechanism else [j for j in primary if j != i]
        transitions[i, targets] = 1 / len(targets) if targets else 0
    return weights, transitions


def _remove(j: int, weights: np.ndarray, transitions: np.ndarray, live: list[int]) -> None:
    """Algorithm 1 of Bretz et al. (2009): hypothesis j is rejected; its weight moves along its
    edges and the edges through j are joined."""
    others = [k for k in live if k != j]
    old = transitions.copy()
    for k in others:
        weights[k] += weights[j] * old[j, k]
    for k in others:
        for m in others:
            loop = old[k, j] * old[j, k]
            transitions[k, m] = 0.0 if k == m or loop >= 1 else (old[k, m] + old[k, j] * old[j, m]) / (1 - loop)
    weights[j] = 0.0
    transitions[j, :] = transitions[:, j] = 0.0


def levels_tested(p: np.ndarray, weights: np.ndarray, transitions: np.ndarray,
                  alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """(rejected, the level each hypothesis was tested at): the sequentially rejective procedure at
    `alpha`; a rejected hypothesis's level is alpha times its weight when it was rejected, a
    retained one's its weight when the procedure stopped (0: never tested, its gate stayed shut)."""
    weights, transitions = weights.astype(float).copy(), transitions.astype(float).copy()
    live = list(range(len(p)))
    rejected = np.zeros(len(p), dtype=bool)
    levels = np.zeros(len(p))
    while True:
        candidates = [j for j in live if p[j] < alpha * weights[j]]
        if not candidates:
            break
        j = min(candidates, key=lambda k: (p[k] / weights[k], k))
        rejected[j], levels[j] = True, alpha * weights[j]
        _remove(j, weights, transitions, live)
        live.remove(j)
    for j in live:
        levels[j] = alpha * weights[j]
    return rejected, levels


def adjusted_p(p: np.ndarray, weights: np.ndarray, transitions: np.ndarray) -> np.ndarray:
    """The smallest alpha at which each hypothesis would be rejected (Bretz et al. 2011): with all
    weights equal and all weight passed on equally, Holm's adjusted p-values."""
    weights, transitions = weights.astype(float).copy(), transitions.astype(float).copy()
    live = list(range(len(p)))
    adjusted = np.ones(len(p))
    running = 0.0
    while live:
        positive = [j for j in live if weights[j] > 0]
        if not positive:
            break
        j = min(positive, key=lambda k: (p[k] / weights[k], k))
        running = max(running, p[j] / weights[j])
        adjusted[j] = min(1.0, running)
        _remove(j, weights, transitions, live)
        live.remove(j)
    return adjusted


def contrast_estimate(matrices: dict, task: str, a: str, b: str) -> Estimate | None:
    """The paired difference a - b on the task (seeds both completed, same test samples)."""
    left, right = matrices.get((task, a)), matrices.get((task, b))
    if left is None or right is None:
        return None
    seeds = left.index.intersection(right.index)
    if not len(seeds):
        return None
    return estimate(100 * (left.loc[seeds].to_numpy() - right.loc[seeds].to_numpy()))


def detectable(est: Estimate, alpha: float) -> float:
    """The smallest true difference found with POWER by a two-sided test at level alpha."""
    if not alpha > 0 or not np.isfinite(est.se) or est.se == 0:
        return float("nan")
    from scipy import stats

    return float((stats.t.ppf(1 - alpha / 2, est.df) + stats.t.ppf(POWER, est.df)) * est.se)


def interval(est: Estimate, alpha: float) -> tuple[float, float]:
    if not alpha > 0 or not np.isfinite(est.se):
        return float("nan"), float("nan")
    from scipy import stats

    half = stats.t.ppf(1 - alpha / 2, est.df) * est.se
    return est.mean - half, est.mean + half


def _verdict(rejected: bool, level: float, delta: float) -> str:
    if level == 0:
        return NOT_TESTED
    return ("better" if delta > 0 else "worse") if rejected else "not resolved"


def answer(matrices: dict, profile: DictConfig, tasks: list[str]) -> pd.DataFrame:
    """Every question of the profile on every task, answered (COLUMNS): its estimate and 95% CI,
    the level it was tested at with the interval at that level (the one its verdict uses), the
    adjusted p, the verdict (better/worse: a vs b; not resolved; not tested) and the difference
    it resolves at its level. A question without data on a task (an arm with no ok record), or
    whose estimate has no p (a one-sample test set), enters the procedure with p = 1: it is never
    resolved, and says so."""
    hyps = hypotheses(profile, tasks)
    if not hyps:
        return pd.DataFrame(columns=COLUMNS)
    estimates = [contrast_estimate(matrices, h.task, h.a, h.b) for h in hyps]
    p = np.array([e.p if e is not None and np.isfinite(e.p) else 1.0 for e in estimates])  # no test: never resolved
    weights, transitions = graph(hyps)
    rejected, levels = levels_tested(p, weights, transitions)
    adjusted = adjusted_p(p, weights, transitions)
    gates = {h.task: h.contrast for h in hyps if h.family == "primary"}
    rows = []
    for h, est, rej, level, adj in zip(hyps, estimates, rejected, levels, adjusted):
        row = {"task": h.task, "family": h.family, "contrast": h.contrast, "a": h.a, "b": h.b, "p_adjusted": adj,
               "alpha_tested": level, "gate": gates.get(h.task) if h.family == "mechanism" else None}
        if est is None:
            rows.append({**row, "verdict": "no data"})
            continue
        low, high = interval(est, level)
        rows.append({**row, "delta": est.mean, "ci_low": est.low, "ci_high": est.high, "p": est.p,
                     "ci_tested_low": low, "ci_tested_high": high, "verdict": _verdict(rej, level, est.mean),
                     "resolvable_pp": detectable(est, level), "paired_seeds": est.n_seeds, "paired_samples": est.n_samples})
    return pd.DataFrame(rows, columns=COLUMNS)


def exploratory(matrices: dict, tasks: list[str], pairs: list[tuple[str, str]], asked: pd.DataFrame) -> pd.DataFrame:
    """The comparisons `pairs` (a, b) on each task that are not questions: estimate, 95% CI and
    the difference resolvable at the unadjusted 95% level; verdict `exploratory`."""
    questions = {(r.task, frozenset((r.a, r.b))) for r in asked.itertuples()}
    rows = []
    for task in tasks:
        for a, b in pairs:
            est = contrast_estimate(matrices, task, a, b)
            if est is None or (task, frozenset((a, b))) in questions:
                continue
            rows.append({"task": task, "family": EXPLORATORY, "contrast": f"{a} vs {b}", "a": a, "b": b,
                         "delta": est.mean, "ci_low": est.low, "ci_high": est.high, "p": est.p, "verdict": EXPLORATORY,
                         "resolvable_pp": resolvable_at_95(est.se, est.df), "paired_seeds": est.n_seeds,
                         "paired_samples": est.n_samples})
    return pd.DataFrame(rows, columns=COLUMNS)
