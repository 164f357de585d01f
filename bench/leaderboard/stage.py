"""The pipeline stage `leaderboard` (`python -m bench.leaderboard`): every cell's record -> one DataFrame -> one published set in
results/leaderboard/: the tables people read and cite (leaderboard.{md,csv,tex,html}), the answers to the profile's
questions and every other contrast (contrasts.csv), the table's
version history (table-versions.csv, CHANGELOG.md), the sweeps' sensitivity (sensitivity.csv and a
section of leaderboard.md) and figures (plots/).

Only the cells of the current profile count, and only records made without ad-hoc overrides.
The set is published all-or-nothing (bench.leaderboard.publish): a failed or killed run (e.g. a
malformed record, named in the error) leaves the previous set as it was.
Usage: python -m bench.leaderboard
"""

import json
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from bench.config import Cell, cell_config, config_hash, load_params
from bench.leaderboard.plots import neuron_styles, write_plots
from bench.leaderboard.publish import publishing, recover
from bench.leaderboard.records import load_records
from bench.leaderboard.render import display, tasks, to_csv, to_html, to_latex, to_markdown
from bench.leaderboard.sensitivity import sensitivity_table, sweep_cells
from bench.leaderboard.sensitivity import to_markdown as sensitivity_markdown
from bench.leaderboard.stats import leaderboard_tables, select_cells, select_profile
from bench.leaderboard.tuning import INTRO as TUNING_INTRO
from bench.leaderboard.tuning import displayed as tuning_displayed
from bench.leaderboard.tuning import evp_plot, read_studies, tuning_table
from bench.leaderboard.version import VERSIONS_FILE, identify, to_changelog
from bench.plan import all_cells, tuned_tasks
from bench.record import PRIMARY, RUNS_DIR
from bench.tune import TUNED_DIR, TUNING_DIR, expected_config

RESULTS_DIR = Path("results")
REPORTED_FILE = RESULTS_DIR / "reported.csv"
PUBLISHED = "leaderboard"  # the folder under results/ that holds the published set
METRICS_FILE = "metrics.json"  # DVC metrics (dvc.yaml): what `dvc exp show` tabulates
# papers' numbers of the primary metric (its column stem, e.g. top1), with their source
REPORTED_COLUMNS = ["task", "neuron", PRIMARY.stem, PRIMARY.col("std"), "n_seeds", "source", "where", "note"]


def read_reported(path: Path = REPORTED_FILE) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=REPORTED_COLUMNS)
    reported = pd.read_csv(path)
    missing = set(REPORTED_COLUMNS) - set(reported.columns)
    if missing:
        raise ValueError(f"{path}: lacks the columns {sorted(missing)} (expected {REPORTED_COLUMNS})")
    incomplete = reported[PRIMARY.stem].isna() | reported.source.isna()
    if incomplete.any():
        rows = list(reported.index[incomplete] + 2)
        raise ValueError(f"{path}: every reported row needs {PRIMARY.stem} and source (rows {rows})")
    return reported[REPORTED_COLUMNS]


def expected_config_hashes(params) -> dict:
    """(neuron, task, seed) -> the config hash params.yaml asks for, for every planned cell."""
    return {(c.neuron, c.task, c.seed): config_hash(cell_config(params, c.neuron, c.task, c.seed))
            for c in all_cells(params)}


def settings_of(table: pd.DataFrame, tuned_names: list[str]) -> pd.Series:
    """Per row of the headline: `tuned` on a tuned task (measured rows), `shared` on another, or `reported`."""
    kind = table.task.isin(tuned_names).map({True: "tuned", False: "shared"})
    return kind.where(table.kind == "measured", "reported")


SHARED_INTRO = (
    "The same neurons at the shared settings (conf/task/: chosen for LIF, the same for every neuron), with the same "
    "statistics; exploratory (the questions are answered by the tuned headline). Compared with the headline, it shows "
    "how much each neuron gained from tuning (the Tuning section gives the paired gain)."
)


def metrics_json(table: pd.DataFrame, swept: pd.DataFrame | None) -> str:
    """The headline numbers as DVC metrics (dvc.yaml `metrics:`), so that `dvc exp show` and
    `dvc metrics diff` have columns: per task and measured neuron the mean top-1 and the paired
    difference to the baseline with its CI; per sweep point its mean top-1."""
    def number(x):
        return None if pd.isna(x) else round(float(x), 4)

    out: dict = {}
    for row in table[table.kind == "measured"].itertuples():
        out.setdefault(row.task, {})[row.neuron] = {
            "top1": number(getattr(row, PRIMARY.col("mean"))), "delta": number(row.delta_top1),
            "delta_low": number(row.delta_ci_low), "delta_high": number(row.delta_ci_high)}
    for row in (swept.itertuples() if swept is not None else []):
        out.setdefault("sweeps", {}).setdefault(row.task, {})[row.neuron] = number(row.top1_mean)
    return json.dumps(out, indent=1, sort_keys=True) + "\n"


def tuned_config_hashes(params, tuning_dir: Path) -> dict:
    """(neuron, task, seed) -> the config hash of every planned tuned cell whose study exists."""
    hashes = {}
    for cell in ((params.get("plan") or {}).get("tuned") or {}).values():
        cfg = expected_config(params, cell.neuron, cell.task, cell.seed, tuning_dir)
        hashes[(cell.neuron, cell.task, cell.seed)] = cfg and config_hash(cfg)
    return hashes


def without_questions(profile):
    """The profile with no questions: the shared-settings section is exploratory (the questions are
    answered once, by the headline)."""
    profile = OmegaConf.create(OmegaConf.to_container(profile))
    profile.questions = {"primary": [], "mechanism": []}
    return profile


def build(runs_dir: Path = RUNS_DIR, results_dir: Path = RESULTS_DIR, profile=None, params=None) -> tuple[pd.DataFrame, dict]:
    """(the table, its identity), publishing the set in results_dir/leaderboard/. With `params`,
    records made under another config than params.yaml asks for their cell are shown as stale.
    Where the tuning config tunes a task, its headline rows are the tuned cells (results/tuned/) and
    the shared-settings cells (results/runs/) are their own section."""
    if profile is None:
        params = params if params is not None else load_params()
        profile = params.profile
    hashes = expected_config_hashes(params) if params is not None else None
    runtime = {key: (params.get("runtime") or {}).get(key) for key in ("cpu_isa", "cpu_threads")} if params is not None else None
    all_records = load_records(runs_dir)
    shared = select_profile(all_records, profile, hashes, runtime)
    tuned_names = tuned_tasks(profile, params.get("tuning")) if params is not None else []
    records, sections, studies, shared_table = shared, [], {}, None
    if tuned_names:
        tuning_dir, tuned_dir = results_dir / TUNING_DIR.name, results_dir / TUNED_DIR.name
        tuned_hashes = tuned_config_hashes(params, tuning_dir)
        tuned = select_cells(load_records(tuned_dir), [Cell(*key) for key in tuned_hashes], tuned_hashes, runtime)
        records = pd.concat([tuned, shared[~shared.task.isin(tuned_names)]], ignore_index=True)
        in_tuned = shared[shared.task.isin(tuned_names)]
        shared_table, _ = leaderboard_tables(in_tuned, without_questions(profile), pd.DataFrame(columns=REPORTED_COLUMNS))
        shared_table = shared_table[shared_table.task.isin(tuned_names)]
        studies = read_studies(tuned_names, list(profile.neurons), tuning_dir)
        tuning = tuning_table(studies, tuned, in_tuned)
        sections = [
            {"title": "Tuning", "intro": TUNING_INTRO, "tables": tuning_displayed(tuning)},
            {"title": "Shared settings", "intro": SHARED_INTRO,
             "tables": [(f"shared settings on {task}", display(rows)) for task, rows in tasks(shared_table)]},
        ]
    per_neuron = None
    if tuned_names:
        planned = pd.DataFrame([(c.task, c.neuron) for c in params.plan.tuned.values()], columns=["task", "neuron"])
        per_neuron = planned.value_counts().to_dict()  # the primary arms' tuned cells have more seeds
    table, contrasts = leaderboard_tables(records, profile, read_reported(results_dir / REPORTED_FILE.name), per_neuron)
    swept = None
    if params is not None and (params.get("plan") or {}).get("points"):
        swept = sensitivity_table(select_cells(all_records, sweep_cells(params), hashes, runtime), params)
    published = results_dir / PUBLISHED
    recover(published)  # a run killed mid-swap is undone before its outputs are read
    csv_path = published / "leaderboard.csv"
    previous = pd.read_csv(csv_path) if csv_path.is_file() else None
    contrasts_path = published / "contrasts.csv"
    previous_contrasts = pd.read_csv(contrasts_path) if contrasts_path.is_file() else None
    both = table if shared_table is None else pd.concat([table.assign(settings=settings_of(table, tuned_names)),
                                                         shared_table.assign(settings="shared")], ignore_index=True)
    meta, history = identify(both, profile.name, published / VERSIONS_FILE.name, previous, contrasts, previous_contrasts)
    meta = {**meta, "tuned": tuned_names}
    with publishing(published) as staging:
        write_plots(table, records, staging / "plots", swept, contrasts, list(profile.neurons))
        if studies:
            evp_plot(studies, staging / "plots" / "tuning-evp.png", neuron_styles(list(profile.neurons)))
        outputs = {
            "leaderboard.md": (to_markdown(table, meta, contrasts, sections)
                               + "".join(f"{line}\n" for line in sensitivity_markdown(swept))),
            "leaderboard.csv": to_csv(both, meta),
            "contrasts.csv": to_csv(contrasts, meta),
            "leaderboard.tex": to_latex(table, meta, contrasts, swept, sections),
            "leaderboard.html": to_html(table, meta, [p.name for p in (staging / "plots").glob("*.png")], contrasts, swept,
                                        sections),
            VERSIONS_FILE.name: history.to_csv(index=False, lineterminator="\n"),
            "CHANGELOG.md": to_changelog(history),
        }
        outputs[METRICS_FILE] = metrics_json(table, swept)
        if studies:
            outputs["tuning.csv"] = tuning.to_csv(index=False, lineterminator="\n", float_format="%.4f")
        if swept is not None:
            outputs["sensitivity.csv"] = swept.to_csv(index=False, lineterminator="\n", float_format="%.4f")
        for name, text in outputs.items():
            (staging / name).write_text(text, encoding="utf-8")
    return table, meta


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m bench.leaderboard", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of a refusal")
    args = parser.parse_args(argv)  # anything else is refused before anything is written
    try:
        build(params=load_params())
    except (ValueError, FileNotFoundError) as e:  # a malformed record, history or params.yaml: named in the message
        if args.debug:
            raise
        raise SystemExit(f"bench.leaderboard: {e}; nothing was published (--debug shows where)") from None
    print((RESULTS_DIR / PUBLISHED / "leaderboard.md").read_text())
