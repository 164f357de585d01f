"""Sweeps as results: for each swept neuron setting (a profile's `sweeps`, expanded into sweep
points by bench.plan), top-1 against the setting's value per task, with the same
statistics as the leaderboard: each point's own CI (seeds and test-set sampling) and its paired
difference to the base neuron's own value (same seeds, same test samples), Holm-corrected over
the sweep's comparisons (bench.leaderboard.paired)."""

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from bench.config import Cell
from bench.leaderboard.paired import compare
from bench.plan import task_seeds
from bench.record import PRIMARY

COLUMNS = [
    "sweep", "task", "value", "is_default", "neuron", "n_seeds", "n_seeds_expected", "n_failed", "stale",
    "top1_mean", "top1_std", "top1_ci_low", "top1_ci_high", "delta", "delta_low", "delta_high", "delta_p_holm", "verdict",
]


def sweeps(params: DictConfig) -> dict[str, dict]:
    """`<base>.<param>` -> {base, param, default, points: {value: neuron name}, tasks}: every sweep of
    params.yaml's plan, with the base neuron's own value as one of its points."""
    found: dict[str, dict] = {}
    points = (params.get("plan") or {}).get("points") or {}
    cells = (params.get("plan") or {}).get("cells") or {}
    for name, point in points.items():
        key = f"{point.base}.{point.param}"
        default = OmegaConf.select(params.neurons[point.base], point.param)
        sweep = found.setdefault(key, {"base": point.base, "param": point.param, "default": default,
                                       "points": {default: point.base}, "tasks": []})
        sweep["points"][point.value] = name
        for cell in cells.values():
            if cell.neuron == name and cell.task not in sweep["tasks"]:
                sweep["tasks"].append(cell.task)
    return found


def _order(point: tuple) -> tuple:
    """Numbers ascending, then names (a sweep may try the values of a string setting)."""
    value = point[0]
    return (1, str(value), 0) if isinstance(value, str) else (0, "", value)


def value_text(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def sweep_cells(params: DictConfig) -> list[Cell]:
    """The cells of every sweep point and of the base neurons on the sweeps' tasks."""
    cells = []
    for sweep in sweeps(params).values():
        cells += [Cell(n, t, s) for n in sweep["points"].values() for t in sweep["tasks"] for s in task_seeds(params.profile, t)]
    return list(dict.fromkeys(cells))


def sensitivity_table(records: pd.DataFrame, params: DictConfig) -> pd.DataFrame:
    """One row per sweep x task x value (records: select_cells of sweep_cells, `stale` marked)."""
    rows = []
    for key, sweep in sweeps(params).items():
        names = list(sweep["points"].values())
        mine = records[records.neuron.isin(names) & records.task.isin(sweep["tasks"])]
        current = mine[~mine.stale.astype(bool)]
        ok = current[current.status == "ok"]
        paired = compare(ok, sweep["base"]).set_index(["task", "neuron"]) if len(ok) else pd.DataFrame()
        for task in sweep["tasks"]:
            for value, name in sorted(sweep["points"].items(), key=_order):
                runs = ok[(ok.task == task) & (ok.neuron == name)][PRIMARY.name]
                stats = paired.loc[(task, name)] if (task, name) in paired.index else {}
                rows.append({
                    "sweep": key, "task": task, "value": value, "is_default": value == sweep["default"], "neuron": name,
                    "n_seeds": len(runs), "n_seeds_expected": len(task_seeds(params.profile, task)),
                    "n_failed": int(((current.task == task) & (current.neuron == name) & (current.status == "failed")).sum()),
                    "stale": int(((mine.task == task) & (mine.neuron == name) & mine.stale.astype(bool)).sum()),
                    "top1_mean": runs.mean() if len(runs) else float("nan"),
                    "top1_std": runs.std() if len(runs) > 1 else float("nan"),
                    **{c: stats.get(c, float("nan")) for c in ("top1_ci_low", "top1_ci_high", "delta", "delta_low",
                                                               "delta_high", "delta_p_holm")},
                    "verdict": stats.get("verdict", "") if value != sweep["default"] else "(reference)",
                })
    return pd.DataFrame(rows, columns=COLUMNS)


def _fmt(x, spec: str = ".2f", signed: bool = False) -> str:
    if x is None or pd.isna(x):
        return "–"
    return f"{x:+{spec}}" if signed else f"{x:{spec}}"


INTRO = ("Each point trains the base neuron with one setting changed (every other setting, the seeds and the "
         "test samples as in its row above). Δ is the paired difference to the base neuron's own value, with "
         "its 95% CI (seeds and test-set sampling) and a verdict Holm-corrected over the sweep's comparisons "
         "(each sweep is its own question). Data: `sensitivity.csv`; plot: `plots/sensitivity.png`.")


def displayed(table: pd.DataFrame | None) -> list[tuple[str, pd.DataFrame]]:
    """(title, its rows as the strings every format shows), one per sweep and task."""
    if table is None or table.empty:
        return []
    shown = []
    for (sweep, task), rows in table.groupby(["sweep", "task"], sort=False):
        cells = []
        for r in rows.itertuples():
            seeds = f"{r.n_seeds}/{r.n_seeds_expected}" + (f", {r.n_failed} failed" if r.n_failed else "") + (
                f", {r.stale} stale" if r.stale else "")
            delta = "" if r.is_default else (
                f"{_fmt(r.delta, signed=True)} [{_fmt(r.delta_low, signed=True)}, {_fmt(r.delta_high, signed=True)}]")
            cells.append([value_text(r.value) + (" (default)" if r.is_default else ""), r.neuron, seeds,
                          _fmt(r.top1_mean) + (f" ± {_fmt(r.top1_std)}" if pd.notna(r.top1_std) else ""),
                          f"[{_fmt(r.top1_ci_low)}, {_fmt(r.top1_ci_high)}]", delta, r.verdict])
        columns = [sweep.split(".", 1)[1], "cell name", "seeds", "top-1 (%)", "95% CI", "Δ vs default (pp)", "verdict"]
        shown.append((f"{sweep} on {task}", pd.DataFrame(cells, columns=columns)))
    return shown


def to_markdown(table: pd.DataFrame | None) -> list[str]:
    """The leaderboard's "Sensitivity" section: one table per sweep and task."""
    sections = displayed(table)
    if not sections:
        return []
    lines = ["", "## Sensitivity", "", INTRO]
    for title, shown in sections:
        lines += ["", f"### {title}", "", shown.to_markdown(index=False, disable_numparse=True)]
    return lines
