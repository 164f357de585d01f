"""The leaderboard's figures (matplotlib, deterministic PNGs; DVC `plots` in dvc.yaml shows them):
the answers to the profile's questions (forest plot), accuracy vs energy per task with the Pareto
front marked, per-layer firing rates per neuron, and training curves (validation top-1 per epoch)
from the runs' logged histories. Each neuron has one style (colour and marker, line style,
hatch) in every figure, distinct for any number of neurons up to 110, and is named in a legend
rather than by labels that could overlap."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.leaderboard.paired import CONFIDENCE  # noqa: E402
from bench.leaderboard.questions import EXPLORATORY, NOT_TESTED  # noqa: E402
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


COLOURS = list(plt.get_cmap("tab10").colors)
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h"]  # 11: coprime with 10 colours
LINES = ["-", "--", "-.", ":"]
HATCHES = ["", "//", "..", "xx", "\\\\", "++"]


def neuron_styles(neurons: list[str]) -> dict[str, dict]:
    """neuron -> its colour, marker, line style and hatch, by its place in the profile: the
    (colour, marker) pair of the i-th neuron repeats only after 110 neurons."""
    return {name: {"color": COLOURS[i % 10], "marker": MARKERS[i % 11], "linestyle": LINES[(i // 10) % 4],
                   "hatch": HATCHES[(i // 10) % len(HATCHES)]} for i, name in enumerate(neurons)}


def _legend_right(ax, order: list[str] = ()) -> None:
    """The legend beside the axes, entries named in `order` (the profile's neurons) first."""
    handles, labels = ax.get_legend_handles_labels()
    rank = {name: i for i, name in enumerate(order)}
    pairs = sorted(zip(handles, labels), key=lambda hl: rank.get(hl[1].split(" (")[0], len(rank)))
    ax.legend(*zip(*pairs), fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def _grid(n: int, width: float = 4.8, height: float = 3.6):
    fig, axes = plt.subplots(1, max(n, 1), figsize=(width * max(n, 1), height), squeeze=False)
    return fig, axes[0]


def accuracy_vs_energy(table: pd.DataFrame, path: Path, styles: dict[str, dict]) -> None:
    """The primary metric against energy per sample, per task (the Pareto front assumes higher is
    better for the first and lower for the second, as the metric spec says). Each neuron is its
    own marker and colour, named in the legend; the front is ringed and joined by a step line."""
    acc_col, energy_col = PRIMARY.col("mean"), ENERGY.col("mean")
    measured = table[(table.kind == "measured") & table[acc_col].notna() & table[energy_col].notna()]
    tasks = sorted(measured.task.unique())
    fig, axes = _grid(len(tasks), width=6.4, height=4.2)
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
        ax.errorbar(energy, acc, yerr=yerr, fmt="none", ecolor="0.7", capsize=2, zorder=1)
        ax.step(energy[front], acc[front], where="post", color="k", alpha=0.35, lw=1, zorder=2)
        ax.scatter(energy[front], acc[front], s=170, facecolors="none", edgecolors="k", lw=1.2, zorder=3)
        for e, a, name in zip(energy, acc, rows.neuron):
            style = styles.get(name, {"color": "0.4", "marker": "o"})
            ax.scatter(e, a, color=style["color"], marker=style["marker"], s=42, zorder=4, label=name)
        ax.scatter([], [], s=170, facecolors="none", edgecolors="k", label="Pareto front (ringed)")
        ax.plot([], [], color="0.7", label=f"{CONFIDENCE:.0%} CI of top-1")
        model = rows[ENERGY.qualifier].iloc[0]
        ax.set(title=task, xlabel=f"{ENERGY.label} ({unit}, {model})", ylabel=f"test {PRIMARY.header}")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
        ax.ticklabel_format(axis="x", style="plain", useOffset=False)
        ax.margins(x=0.1)
        _legend_right(ax, list(styles))
    fig.tight_layout()
    fig.savefig(path, **PNG)
    plt.close(fig)


VERDICT_COLOURS = {"better": "tab:green", "worse": "tab:red", "not resolved": "0.25", NOT_TESTED: "0.6",
                   EXPLORATORY: "0.6"}
VERDICT_MARKERS = {NOT_TESTED: "s"}  # hollow square: a question whose gate stayed shut; hollow circle: exploratory
FAMILY_TITLES = {"primary": "primary", "mechanism": "mechanism", EXPLORATORY: "exploratory (vs baseline)"}


def forest(contrasts: pd.DataFrame, path: Path) -> None:
    """Per task, every contrast of the table grouped by family: its estimate with the 95% CI
    (thin, capped) and, for a question, the interval at the level its verdict was tested at
    (thick), coloured by the verdict; exploratory and untested contrasts hollow and grey."""
    rows = contrasts[contrasts.delta.notna()]
    tasks = sorted(rows.task.unique())
    height = 1.4 + 0.34 * max([(rows.task == t).sum() + 2 for t in tasks], default=1)
    fig, axes = _grid(len(tasks), width=6.0, height=height)
    for ax, task in zip(axes, tasks):
        mine = rows[rows.task == task]
        ordered = pd.concat([mine[mine.family == f] for f in FAMILY_TITLES])
        y = len(ordered) + 2 - np.arange(len(ordered)) - [list(FAMILY_TITLES).index(f) for f in ordered.family]
        for yi, c in zip(y, ordered.itertuples()):
            colour = VERDICT_COLOURS.get(c.verdict, "0.6")
            hollow = c.verdict in (EXPLORATORY, NOT_TESTED)
            ax.errorbar(c.delta, yi, xerr=[[c.delta - c.ci_low], [c.ci_high - c.delta]], fmt="none", ecolor=colour,
                        elinewidth=1, capsize=3)
            if pd.notna(c.ci_tested_low):
                ax.plot([c.ci_tested_low, c.ci_tested_high], [yi, yi], color=colour, lw=4, alpha=0.6, solid_capstyle="butt")
            ax.plot(c.delta, yi, VERDICT_MARKERS.get(c.verdict, "o"), color=colour, mfc="white" if hollow else colour, ms=6)
        for family in dict.fromkeys(ordered.family):
            top = y[(ordered.family == family).to_numpy()].max()
            ax.text(0.0, top + 0.75, FAMILY_TITLES[family], transform=ax.get_yaxis_transform(), fontsize=8,
                    fontweight="bold", ha="right", va="center")
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(y, list(ordered.contrast), fontsize=8)
        ax.set_ylim(y.min() - 0.7, y.max() + 1.3)
        ax.set(title=f"{task}: Δ {PRIMARY.label} (pp)", xlabel=f"pp; thin: {CONFIDENCE:.0%} CI, thick: CI at the tested level")
    hollow = (EXPLORATORY, NOT_TESTED)
    handles = [plt.Line2D([], [], marker=VERDICT_MARKERS.get(v, "o"), ls="", color=c, mfc="white" if v in hollow else c, label=v)
               for v, c in VERDICT_COLOURS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, **PNG)
    plt.close(fig)


def firing_rates(records: pd.DataFrame, path: Path, styles: dict[str, dict]) -> None:
    ok = records[(records.status == "ok") & records[PER_LAYER_RATES.name].notna()]
    tasks = sorted(ok.task.unique())
    fig, axes = _grid(len(tasks), width=6.4, height=4.2)
    for ax, task in zip(axes, tasks):
        rows = ok[ok.task == task]
        per_layer = pd.DataFrame(list(rows[PER_LAYER_RATES.name]), index=rows.neuron).groupby(level=0).mean()
        neurons = [n for n in styles if n in per_layer.index] + sorted(set(per_layer.index) - set(styles))
        layers = list(per_layer.columns)
        width = 0.8 / max(len(neurons), 1)
        for i, neuron in enumerate(neurons):
            style = styles.get(neuron, {"color": "0.5", "hatch": ""})
            ax.bar(np.arange(len(layers)) + i * width, per_layer.loc[neuron], width, label=neuron, color=style["color"],
                   hatch=style["hatch"], edgecolor="white" if not style["hatch"] else "k", linewidth=0.3)
        # spiking layers in network order, with the module path that names them in the records
        ticks = [f"spiking layer {k + 1}\n({name})" for k, name in enumerate(layers)]
        ax.set_xticks(np.arange(len(layers)) + 0.4 - width / 2, ticks, fontsize=7)
        ax.set(title=task, ylabel="firing rate (spikes/neuron/step)")
        _legend_right(ax)
    fig.tight_layout()
    fig.savefig(path, **PNG)
    plt.close(fig)


def training_curves(records: pd.DataFrame, path: Path, styles: dict[str, dict], metric=SELECTION) -> None:
    ok = records[records.status == "ok"]
    tasks = sorted(ok.task.unique())
    fig, axes = _grid(len(tasks), width=6.4, height=4.2)
    for ax, task in zip(axes, tasks):
        mine = ok[ok.task == task]
        for neuron in [n for n in styles if n in set(mine.neuron)] + sorted(set(mine.neuron) - set(styles)):
            rows = mine[mine.neuron == neuron]
            curves = [pd.read_csv(Path(p).with_name(HISTORY_FILE)).set_index("epoch")[metric.logged]
                      for p in rows.path if Path(p).with_name(HISTORY_FILE).is_file()]
            if not curves:
                continue
            runs = pd.concat(curves, axis=1)  # history.csv holds the record's units (percent)
            style = styles.get(neuron, {"color": "0.5", "marker": "o", "linestyle": "-"})
            ax.plot(runs.index, runs.mean(axis=1), label=f"{neuron} ({runs.shape[1]} seeds)", color=style["color"],
                    marker=style["marker"], linestyle=style["linestyle"], markevery=max(len(runs) // 5, 1), ms=4, lw=1.2)
            ax.fill_between(runs.index, runs.min(axis=1), runs.max(axis=1), color=style["color"], alpha=0.12)
        ax.set(title=f"{task}: mean, min-max over seeds", xlabel="epoch", ylabel=metric.header)
        if ax.get_legend_handles_labels()[0]:
            _legend_right(ax)
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
        if rows.empty:  # every point stale or missing (e.g. the base neuron's settings changed)
            ax.text(0.5, 0.5, "no current records:\nsee the table's notes", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(f"{task}: {sweep}")
            continue
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
    if panels and axes[-1].get_legend_handles_labels()[0]:
        axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    fig.savefig(path, **PNG)
    plt.close(fig)


def write_plots(table: pd.DataFrame, records: pd.DataFrame, out_dir: Path, sweeps: pd.DataFrame | None = None,
                contrasts: pd.DataFrame | None = None, neurons: list[str] | None = None) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    styles = neuron_styles(neurons if neurons is not None else sorted(set(records.neuron)))
    if sweeps is not None and len(sweeps):
        sensitivity(sweeps, out_dir / "sensitivity.png")
    accuracy_vs_energy(table, out_dir / "accuracy-energy.png", styles)
    if contrasts is not None and contrasts.delta.notna().any():
        forest(contrasts, out_dir / "forest.png")
    firing_rates(records, out_dir / "firing-rates.png", styles)
    training_curves(records, out_dir / "training-curves.png", styles)
