"""What tuning did, beside the tuned headline (bench/tune.py): per task and neuron the settings the
study chose and which trial chose them; validation top-1 at trial length (the shared settings are
trial 0) and at full length (the tuned cells against the shared-settings cells, same seeds), which
checks that the choice made on short trials holds at the cells' length; and the test gain of
tuning, paired by seed and test sample. Plus the expected validation performance of Dodge et al.
(2019): each arm's expected best validation top-1 over n trials, so a reader sees whether the
budget was enough or an arm was still climbing."""

import numpy as np
import pandas as pd

from bench.leaderboard.paired import correctness, estimate
from bench.record import SELECTION
from bench.tune import STUDY_FILE, TUNING_DIR, study_dir

COLUMNS = ["task", "neuron", "trials", "pruned", "best_trial", "settings", "val_trial_shared", "val_trial_best",
           "evp_half", "evp_full",
           "val_full_shared", "val_full_tuned", "holds_at_full_length", "top1_shared", "top1_tuned", "gain", "gain_ci_low",
           "gain_ci_high", "n_seeds"]


def read_studies(tasks: list[str], neurons: list[str], root=TUNING_DIR) -> dict[tuple[str, str], dict]:
    """(task, neuron) -> its study.json, for those that exist."""
    import json

    found = {}
    for task in tasks:
        for neuron in neurons:
            path = study_dir(task, neuron, root) / STUDY_FILE
            if path.is_file():
                found[(task, neuron)] = json.loads(path.read_text())
    return found


def expected_max(values: list[float], n: int) -> float:
    """Dodge et al. (2019), eq. 1: the expected maximum of n trials drawn with replacement from the
    observed ones, sum_i v_(i) [(i/N)^n - ((i-1)/N)^n] over the sorted values."""
    v = np.sort(np.asarray(values, dtype=float))
    N = len(v)
    i = np.arange(1, N + 1)
    return float((v * ((i / N) ** n - ((i - 1) / N) ** n)).sum())


def settings_text(settings: dict) -> str:
    return ", ".join(f"{path.rpartition('.')[2]} {value:.3g}" for path, value in settings.items())


def _current(records: pd.DataFrame) -> pd.DataFrame:
    return records[(records.status == "ok") & ~records.stale.astype(bool)]


def tuning_table(studies: dict, tuned: pd.DataFrame, shared: pd.DataFrame) -> pd.DataFrame:
    """One row per studied (task, neuron) (records: select_cells output, `stale` marked)."""
    tuned, shared = _current(tuned), _current(shared)
    matrices_tuned, matrices_shared = correctness(tuned), correctness(shared)
    rows = []
    for (task, neuron), study in sorted(studies.items()):
        trials = study["trials"]
        mine_t = tuned[(tuned.task == task) & (tuned.neuron == neuron)].set_index("seed")
        mine_s = shared[(shared.task == task) & (shared.neuron == neuron)].set_index("seed")
        seeds = sorted(set(mine_t.index) & set(mine_s.index))
        gain = None
        a, b = matrices_tuned.get((task, neuron)), matrices_shared.get((task, neuron))
        if seeds and a is not None and b is not None:
            gain = estimate(100 * (a.loc[seeds].to_numpy() - b.loc[seeds].to_numpy()))
        val_full_t = mine_t.loc[seeds, SELECTION.name].mean() if seeds else np.nan
        val_full_s = mine_s.loc[seeds, SELECTION.name].mean() if seeds else np.nan
        rows.append({
            "task": task, "neuron": neuron, "trials": len(trials), "pruned": sum(t["state"] == "pruned" for t in trials),
            "best_trial": study["best"]["trial"], "settings": settings_text(study["best"]["settings"]),
            "val_trial_shared": trials[0]["value"], "val_trial_best": study["best"]["value"],
            "evp_half": expected_max([t["value"] for t in trials], len(trials) // 2),
            "evp_full": expected_max([t["value"] for t in trials], len(trials)),
            "val_full_shared": val_full_s, "val_full_tuned": val_full_t,
            "holds_at_full_length": bool(val_full_t >= val_full_s) if seeds else None,
            "top1_shared": mine_s.loc[seeds, "test_top1"].mean() if seeds else np.nan,
            "top1_tuned": mine_t.loc[seeds, "test_top1"].mean() if seeds else np.nan,
            "gain": gain.mean if gain else np.nan, "gain_ci_low": gain.low if gain else np.nan,
            "gain_ci_high": gain.high if gain else np.nan, "n_seeds": len(seeds),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


INTRO = (
    "Every neuron was tuned with the same budget (conf/tuning/, bench/tune.py): one Optuna study per neuron and task, "
    "the same space, number of trials, TPE sampler and seed and median pruner, on validation data only; trial 0 is the "
    "shared settings. The headline tables above use each study's best trial. Here: the chosen settings and the trial "
    "that chose them; validation top-1 at trial length (shared → best trial) and at full length (the shared-settings "
    "cells → the tuned cells, same seeds), a check that the choice made on short trials holds at the cells' length; "
    "the expected best validation top-1 of half the trials and of all of them (Dodge et al. 2019): a neuron whose "
    "expected best still grows between them might have gained from more trials; "
    "and the test top-1 gained by tuning, paired by seed and test sample, with its 95% CI. "
    "The plot tuning-evp.png shows each neuron's expected best validation top-1 against the number of trials "
    "(Dodge et al. 2019): a curve still rising at the last trial means the budget was not enough for that neuron."
)


def displayed(table: pd.DataFrame | None) -> list[tuple[str, pd.DataFrame]]:
    """(title, the strings shown) per task."""
    if table is None or table.empty:
        return []
    shown = []
    for task, rows in table.groupby("task", sort=True):
        lines = []
        for r in rows.sort_values("gain", ascending=False, na_position="last").itertuples():
            full = "—" if pd.isna(r.val_full_tuned) else f"{r.val_full_shared:.2f} → {r.val_full_tuned:.2f}"
            gain = "—" if pd.isna(r.gain) else f"{r.gain:+.2f} [{r.gain_ci_low:+.2f}, {r.gain_ci_high:+.2f}]"
            holds = {True: "yes", False: "no"}.get(r.holds_at_full_length, "—")
            evp = f"{r.evp_half:.2f} → {r.evp_full:.2f}"
            lines.append([r.neuron, r.settings, f"{r.best_trial} of {r.trials} ({r.pruned} pruned)",
                          f"{r.val_trial_shared:.2f} → {r.val_trial_best:.2f}", evp, full, holds,
                          "—" if pd.isna(r.top1_shared) else f"{r.top1_shared:.2f} → {r.top1_tuned:.2f}", gain])
        columns = ["neuron", "chosen settings", "best trial", "val top-1, trial length", "expected best, half → all trials",
                   "val top-1, full length", "holds", "test top-1, shared → tuned (same seeds)", "Δ top-1 from tuning [95% CI]"]
        shown.append((f"tuning on {task}", pd.DataFrame(lines, columns=columns)))
    return shown


def evp_plot(studies: dict, path, styles: dict[str, dict]) -> None:
    """Per task: each neuron's expected best validation top-1 against the number of trials."""
    import matplotlib.pyplot as plt

    from bench.leaderboard.plots import PNG, _grid, _legend_right

    tasks = sorted({task for task, _ in studies})
    fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks):
        for (t, neuron), study in sorted(studies.items()):
            if t != task:
                continue
            values = [trial["value"] for trial in study["trials"]]
            n = np.arange(1, len(values) + 1)
            ax.plot(n, [expected_max(values, k) for k in n], label=neuron,
                    **{k: v for k, v in styles.get(neuron, {}).items() if k != "hatch"})
        ax.set(title=task, xlabel="trials", ylabel="expected best val top-1 (%)")
        ax.grid(alpha=0.3)
        _legend_right(ax, list(styles))
    for ax in axes[len(tasks):]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, **PNG)
    plt.close(fig)
