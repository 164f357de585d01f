"""The leaderboard's figures (matplotlib, deterministic PNGs; DVC `plots` in dvc.yaml shows them):
accuracy vs energy per task with the Pareto front marked, per-layer firing rates per neuron, and
training curves (validation top-1 per epoch) from the runs' logged histories."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.leaderboard.paired import CONFIDENCE  # noqa: E402
from bench.leaderboard.stats import DELTA, DELTA_HIGH, DELTA_LOW  # noqa: E402
from bench.record import BY_NAME, HISTORY_FILE, PRIMARY, SELECTION  # noqa: E402

PNG = {"dpi": 110, "metadata": {"Software": None}}  # no version string: identical bytes on rerun
ENERGY = BY_NAME["energy_mj"]
PER_LAYER_RATES = BY_NAME["firing_rate_per_layer"]


def pareto_front(accuracy: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """Mask of the points no other point beats on both (higher accuracy, lower energy)."""
    front = np.ones(len(accuracy), dtype=bool)
    for i in range(len(accuracy)):
        dominated = (accuracy >= accuracy[i]) & (energy <= energy[i]) & ((accuracy > accuracy[i]) | (energy < energy[i]))
        front[i] = not dominated.any()
    return front


def _grid(n: int, width: float = 4.8, height: float = 3.6):
    fig, axes = plt.subplots(1, max(n, 1), figsize=(width * max(n, 1), height), squeeze=False)
    return fig, axes[0]


def accuracy_vs_energy(table: pd.DataFrame, path: Path) -> None:
    """The primary metric against energy per sample, per task (the Pareto front assumes higher is
    better for the first and lower for the second, as the metric spec says)."""
    acc_col, energy_col = PRIMARY.col("mean"), ENERGY.col("mean")
    measured = table[(table.kind == "measured") & table[acc_col].notna() & table[energy_col].notna()]
    tasks = sorted(measured.task.unique())
    fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks):
        rows = measured[measured.task == task].sort_values(energy_col)
        acc, energy = rows[acc_col].to_numpy(float), rows[energy_col].to_numpy(float)
        small = ENERGY.unit.startswith("mJ") and energy.max() < 0.1  # e.g. 0.0075 mJ: show 7.5 µJ
        scale, unit = (1e3, ENERGY.unit.replace("mJ", "µJ", 1)) if small else (1.0, ENERGY.unit)
        energy = energy * scale
        front = pareto_front(acc, energy)
        # the table's CI of each mean top-1 (seeds and test-set sampling), not the seeds' std
        low, high = rows[PRIMARY.col("ci_low")].to_numpy(float), rows[PRIMARY.col("ci_high")].to_numpy(float)
        yerr = np.nan_to_num(np.vstack([acc - low, high - acc]))
        ax.errorbar(energy, acc, yerr=yerr, fmt="none", ecolor="0.6", capsize=3, label=f"{CONFIDENCE:.0%} CI")
        ax.scatter(energy[~front], acc[~front], color="0.55", zorder=3, label="dominated")
        ax.scatter(energy[front], acc[front], color="tab:red", zorder=4, label="Pareto front")
        ax.step(energy[front], acc[front], where="post", color="tab:red", alpha=0.5)
        for i, (e, a, name) in enumerate(zip(energy, acc, rows.neuron)):  # alternate sides: fewer overlaps
            ax.annotate(name, (e, a), textcoords="offset points", xytext=(5, 4) if i % 2 else (-5, -10),
                        ha="left" if i % 2 else "right", fontsize=8)
        model = rows[ENERGY.qualifier].iloc[0]
        ax.set(title=task, xlabel=f"{ENERGY.label} ({unit}, {model})", ylabel=f"test {PRIMARY.header}")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
        ax.ticklabel_format(axis="x", style="plain", useOffset=False)
        ax.margins(x=0.15)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    fig.tight_layout()
    fig.savefig(path, **PNG)
    plt.close(fig)


VERDICT_COLOURS = {"better": "tab:green", "worse": "tab:red", "not resolved": "0.45"}


def forest(table: pd.DataFrame, path: Path) -> None:
    """Per task, every neuron's paired difference to the baseline with the table's CI, coloured by
    its Holm-corrected verdict: the story of the table at a glance."""
    rows = table[(table.kind == "measured") & table[DELTA].notna()]
    tasks = sorted(rows.task.unique())
    height = 0.9 + 0.38 * max([(rows.task == t).sum() for t in tasks], default=1)
    fig, axes = _grid(len(tasks), width=5.6, height=height)
    for ax, task in zip(axes, tasks):
        arms = rows[rows.task == task].sort_values(["arm_rank", "neuron"], ascending=[False, False], na_position="first")
        y = np.arange(len(arms))
        for yi, r in zip(y, arms.itertuples()):
            colour = VERDICT_COLOURS.get(r.verdict, "0.45")
            delta, low, high = getattr(r, DELTA), getattr(r, DELTA_LOW), getattr(r, DELTA_HIGH)
            ax.errorbar(delta, yi, xerr=[[delta - low], [high - delta]], fmt="o", color=colour, capsize=3)
        ax.axvline(0, color="k", lw=0.8)
        labels = [f"{r.neuron}" + (f"\n{r.arm.split(' (')[0]}" if isinstance(r.arm, str) else "") for r in arms.itertuples()]
        ax.set_yticks(y, labels, fontsize=8)
        ax.set_ylim(-0.6, len(arms) - 0.4)
        ax.set(title=f"{task}: Δ {PRIMARY.label} vs {arms.baseline.iloc[0]}", xlabel=f"pp, {CONFIDENCE:.0%} CI (paired)")
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=v) for v, c in VERDICT_COLOURS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, **PNG)
    plt.close(fig)


def firing_rates(records: pd.DataFrame, path: Path) -> None:
    ok = records[(records.status == "ok") & records[PER_LAYER_RATES.name].notna()]
    tasks = sorted(ok.task.unique())
    fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks):
        rows = ok[ok.task == task]
        per_layer = pd.DataFrame(list(rows[PER_LAYER_RATES.name]), index=rows.neuron).groupby(level=0).mean()
        neurons, layers = list(per_layer.index), list(per_layer.columns)
        width = 0.8 / max(len(neurons), 1)
        for i, neuron in enumerate(neurons):
            ax.bar(np.arange(len(layers)) + i * width, per_layer.loc[neuron], width, label=neuron)
        # spiking layers in network order, with the module path that names them in the records
        ticks = [f"spiking layer {k + 1}\n({name})" for k, name in enumerate(layers)]
        ax.set_xticks(np.arange(len(layers)) + 0.4 - width / 2, ticks, fontsize=7)
        ax.set(title=task, ylabel="firing rate (spikes/neuron/step)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, **PNG)
    plt.close(fig)


def training_curves(records: pd.DataFrame, path: Path, metric=SELECTION) -> None:
    ok = records[records.status == "ok"]
    tasks = sorted(ok.task.unique())
    fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks):
        for neuron, rows in ok[ok.task == task].groupby("neuron"):
            curves = [pd.read_csv(Path(p).with_name(HISTORY_FILE)).set_index("epoch")[metric.logged]
                      for p in rows.path if Path(p).with_name(HISTORY_FILE).is_file()]
            if not curves:
                continue
            runs = pd.concat(curves, axis=1)  # history.csv holds the record's units (percent)
            line = ax.plot(runs.index, runs.mean(axis=1), label=f"{neuron} ({runs.shape[1]} seeds)")[0]
            ax.fill_between(runs.index, runs.min(axis=1), runs.max(axis=1), color=line.get_color(), alpha=0.2)
        ax.set(title=f"{task}: mean, min-max over seeds", xlabel="epoch", ylabel=metric.header)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, **PNG)
    plt.close(fig)


def sensitivity(table: pd.DataFrame, path: Path) -> None:
    """Top-1 against each swept setting, one panel per sweep and task: each point's CI (seeds and
    test-set sampling, as in the table), the base neuron's own value marked, and the points whose
    paired difference to it is resolved (Holm over the sweep) filled."""
    panels = list(table.groupby(["sweep", "task"], sort=False))
    fig, axes = _grid(len(panels))
    for ax, ((sweep, task), rows) in zip(axes, panels):
        rows = rows[rows.n_seeds > 0]
        numeric = pd.api.types.is_numeric_dtype(rows.value)
        x = rows.value.to_numpy(float) if numeric else np.arange(len(rows))
        acc = rows.top1_mean.to_numpy(float)
        yerr = np.nan_to_num(np.vstack([acc - rows.top1_ci_low.to_numpy(float), rows.top1_ci_high.to_numpy(float) - acc]))
        ax.errorbar(x, acc, yerr=yerr, color="tab:blue", capsize=3, marker="none", label=f"top-1, {CONFIDENCE:.0%} CI")
        resolved = rows.verdict.isin(["better", "worse"]).to_numpy()
        default = rows.is_default.to_numpy(bool)
        ax.scatter(x[~resolved & ~default], acc[~resolved & ~default], facecolors="white", edgecolors="tab:blue", zorder=3,
                   label="not resolved vs default")
        ax.scatter(x[resolved], acc[resolved], color="tab:blue", zorder=3, label="resolved vs default (Holm)")
        ax.scatter(x[default], acc[default], marker="*", s=140, color="tab:red", zorder=4, label="default")
        if numeric and (x > 0).all() and x.max() / x.min() >= 4:
            ax.set_xscale("log")
        if numeric:
            ax.set_xticks(x, [f"{v:g}" for v in x])
            ax.minorticks_off()
        else:
            ax.set_xticks(x, [str(v) for v in rows.value])
        ax.set_xlabel(sweep)
        ax.set_ylabel(f"{PRIMARY.label} ({PRIMARY.unit})")
        ax.set_title(f"{task}: {sweep}")
    if panels:
        axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    fig.savefig(path, **PNG)
    plt.close(fig)


def write_plots(table: pd.DataFrame, records: pd.DataFrame, out_dir: Path, sweeps: pd.DataFrame | None = None) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    if sweeps is not None and len(sweeps):
        sensitivity(sweeps, out_dir / "sensitivity.png")
    accuracy_vs_energy(table, out_dir / "accuracy-energy.png")
    forest(table, out_dir / "forest.png")
    firing_rates(records, out_dir / "firing-rates.png")
    training_curves(records, out_dir / "training-curves.png")
