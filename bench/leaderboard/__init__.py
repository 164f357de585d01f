"""Pipeline stage `leaderboard`: every cell's record -> one DataFrame -> the tables people read
and cite (results/leaderboard.{md,csv,tex,html}), the table's version history
(results/table-versions.csv, results/CHANGELOG.md) and figures (results/plots/).

Only the cells of the current profile count, and only records made without ad-hoc overrides.
Everything is computed before anything is written, and each file is replaced atomically: a failed
run (e.g. a malformed record, named in the error) leaves the previous outputs as they were.
Usage: python -m bench.leaderboard
"""

import os
import tempfile
from pathlib import Path

import pandas as pd

from bench.atomic import write_text
from bench.config import cell_config, config_hash, load_params, planned_cells
from bench.leaderboard.plots import write_plots
from bench.leaderboard.records import load_records
from bench.leaderboard.render import to_csv, to_html, to_latex, to_markdown
from bench.leaderboard.stats import leaderboard_table, select_profile
from bench.leaderboard.version import identify, to_changelog
from bench.record import PRIMARY, RUNS_DIR

RESULTS_DIR = Path("results")
REPORTED_FILE = RESULTS_DIR / "reported.csv"
HISTORY_FILE = RESULTS_DIR / "table-versions.csv"
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
            for c in planned_cells(params.profile)}


def build(runs_dir: Path = RUNS_DIR, results_dir: Path = RESULTS_DIR, profile=None, params=None) -> tuple[pd.DataFrame, dict]:
    """(the table, its identity), writing every output under results_dir. With `params`, records
    made under another config than params.yaml asks for their cell are shown as stale, not as numbers."""
    if profile is None:
        params = params if params is not None else load_params()
        profile = params.profile
    hashes = expected_config_hashes(params) if params is not None else None
    records = select_profile(load_records(runs_dir), profile, hashes)
    table = leaderboard_table(records, profile, read_reported(results_dir / REPORTED_FILE.name))
    csv_path = results_dir / "leaderboard.csv"
    previous = pd.read_csv(csv_path) if csv_path.is_file() else None
    meta, history = identify(table, profile.name, results_dir / HISTORY_FILE.name, previous)
    with tempfile.TemporaryDirectory(dir=results_dir) as staging:  # figures first: they may fail
        write_plots(table, records, Path(staging))
        outputs = {
            results_dir / "leaderboard.md": to_markdown(table, meta),
            csv_path: to_csv(table, meta),
            results_dir / "leaderboard.tex": to_latex(table, meta),
            results_dir / "leaderboard.html": to_html(table, meta),
            results_dir / HISTORY_FILE.name: history.to_csv(index=False, lineterminator="\n"),
            results_dir / "CHANGELOG.md": to_changelog(history),
        }
        for path, text in outputs.items():
            write_text(path, text)
        (results_dir / "plots").mkdir(exist_ok=True)
        for figure in Path(staging).iterdir():
            os.replace(figure, results_dir / "plots" / figure.name)
    return table, meta


def main() -> None:
    build(params=load_params())
    print((RESULTS_DIR / "leaderboard.md").read_text())
