"""The identity of a leaderboard table, so a cited table can never silently change.

- content hash: sha256 of the rows the tables show (every column, full precision, reported rows
  and failures included). Any changed number changes it; a rerun that reproduces the same
  numbers does not.
- version: `<profile>-v<N>`; N grows by one whenever the content hash differs from the latest
  version's. Each version keeps the date, git commit and dvc.lock hash of the run that made it,
  so regenerating an unchanged table rewrites identical files.
- history: results/leaderboard/table-versions.csv (kept across runs: the stage's output is `persist`ed) and
  its readable form results/leaderboard/CHANGELOG.md, with what changed between versions.
"""

import hashlib
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from bench.provenance import _git, git_state

VERSIONS_FILE = Path("results/leaderboard/table-versions.csv")  # the version history (the stage's `persist`ed output)
HISTORY_COLUMNS = ["profile", "version", "date", "content_hash", "git_commit", "git_dirty", "dvc_lock_hash", "changes"]
IDENTITY_COLUMNS = ["task", "neuron", "kind"]


def content_hash(table: pd.DataFrame) -> str:
    rows = table.astype(object).where(table.notna(), None).to_dict("records")  # NaN/<NA> -> null
    canonical = json.dumps(rows, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def dvc_lock_hash(path: Path = Path("dvc.lock")) -> str | None:
    """sha256 of the dvc.lock entries of every stage but `leaderboard` (the one being run): the
    exact code, params and outputs of every cell the table aggregates."""
    if not path.is_file():
        return None
    stages = (yaml.safe_load(path.read_text()) or {}).get("stages", {})
    stages = {name: entry for name, entry in stages.items() if name != "leaderboard"}
    return hashlib.sha256(json.dumps(stages, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def today() -> str:
    """UTC date; SOURCE_DATE_EPOCH (the reproducible-builds convention) fixes it."""
    epoch = float(os.environ.get("SOURCE_DATE_EPOCH", time.time()))
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def read_history(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    history = pd.read_csv(path, dtype={"git_commit": str, "changes": str}, keep_default_na=False)
    missing = set(HISTORY_COLUMNS) - set(history.columns)
    if missing:
        raise ValueError(f"{path}: lacks the columns {sorted(missing)}; restore it from git (it is the table history)")
    bad = [v for v in history.version.astype(str) if not re.fullmatch(r"[1-9][0-9]*", v)]
    if bad:
        raise ValueError(f"{path}: version {bad[0]!r} is not a positive integer; restore it from git (it is the table history)")
    return history.astype({"version": int})


def _differs(new: pd.Series, old: pd.Series) -> bool:
    for column, a in new.items():
        b = old.get(column)
        if pd.isna(a) and pd.isna(b):
            continue
        if isinstance(a, (int, float, np.number)) and not isinstance(a, (bool, np.bool_)):
            if pd.isna(a) or pd.isna(b) or not np.isclose(float(a), float(b), rtol=1e-9, atol=0):
                return True
        elif str(a) != str(b):
            return True
    return False


def changes(table: pd.DataFrame, previous: pd.DataFrame | None) -> str:
    """What differs from the previous table, row by row (task/neuron, and the settings section
    where the table has one: a table from before tuning had only the shared settings)."""
    if previous is None or previous.empty:
        return "first version"
    identity = IDENTITY_COLUMNS + (["settings"] if "settings" in table.columns else [])
    previous = previous.reindex(columns=table.columns)
    if "settings" in table.columns:
        previous["settings"] = previous.settings.fillna(previous.kind.map({"reported": "reported"})).fillna("shared")
    new, old = table.set_index(identity), previous.set_index(identity)

    def name(idx) -> str:
        settings = f" ({idx[3]})" if len(idx) > 3 and idx[3] not in ("shared", "reported") else ""
        return f"{idx[0]}/{idx[1]}" + (" (reported)" if idx[2] == "reported" else "") + settings

    added = [f"+{name(idx)}" for idx in new.index.difference(old.index)]
    removed = [f"-{name(idx)}" for idx in old.index.difference(new.index)]
    changed = []
    for idx in new.index.intersection(old.index):
        if _differs(new.loc[idx], old.loc[idx]):
            a, b = old.loc[idx, "top1_mean"], new.loc[idx, "top1_mean"]
            top1 = f" top-1 {a:.2f} -> {b:.2f}" if pd.notna(a) and pd.notna(b) and not np.isclose(a, b) else ""
            changed.append(f"~{name(idx)}{top1}")
    return "; ".join(added + removed + changed) or "metadata only"


def committed_text(path: Path) -> str:
    """The file as the last commit holds it ('' outside a repository, or where the commit has none)."""
    top = _git("rev-parse", "--show-toplevel")
    try:
        relative = Path(path).resolve().relative_to(top) if top else None
    except ValueError:
        return ""
    return (_git("show", f"HEAD:{relative.as_posix()}") or "") if relative else ""


def highest_version(profile: str, history: pd.DataFrame, previous_table: pd.DataFrame | None, changelog: Path) -> int:
    """The highest version the profile's table has had, by every trace of it: the history, the
    published CSV's table_version column, the CHANGELOG and the CHANGELOG of git's last commit (0
    if none). Neither a deleted history file nor a deleted results/leaderboard/ may let another
    table take a number a cited one had."""
    versions = [int(v) for v in history[history.profile == profile].version]
    published = [] if previous_table is None else previous_table.get("table_version", pd.Series(dtype=str)).dropna()
    texts = [*map(str, published), changelog.read_text() if changelog.is_file() else "", committed_text(changelog)]
    versions += [int(n) for text in texts for n in re.findall(rf"\b{re.escape(profile)}-v(\d+)\b", text)]
    return max(versions, default=0)


def contrast_changes(contrasts: pd.DataFrame | None, previous: pd.DataFrame | None) -> str:
    """Which answers differ from the previous set's (contrasts.csv), by task and contrast."""
    if contrasts is None or contrasts.empty or previous is None:
        return ""
    key = ["task", "family", "contrast"]
    new, old = contrasts.set_index(key), previous.reindex(columns=contrasts.columns).set_index(key)
    differ = [idx for idx in new.index if idx not in old.index or _differs(new.loc[idx], old.loc[idx])]
    gone = [idx for idx in old.index if idx not in new.index]
    return "; ".join([*(f"~{t}: {c} ({f})" for t, f, c in differ), *(f"-{t}: {c} ({f})" for t, f, c in gone)])


def identify(
    table: pd.DataFrame, profile: str, history_path: Path, previous_table: pd.DataFrame | None,
    contrasts: pd.DataFrame | None = None, previous_contrasts: pd.DataFrame | None = None,
) -> tuple[dict, pd.DataFrame]:
    """(this table's identity, the updated history). The content hash covers the table and, where
    the profile asks questions, the contrasts that answer them."""
    history = read_history(history_path)
    digest = content_hash(table)
    if contrasts is not None and not contrasts.empty:
        digest = hashlib.sha256(f"{digest}:{content_hash(contrasts)}".encode()).hexdigest()
    mine = history[history.profile == profile]
    if len(mine) and mine.iloc[-1].content_hash == digest:
        return mine.iloc[-1].to_dict(), history
    git = git_state()
    entry = {
        "profile": profile,
        "version": highest_version(profile, history, previous_table, history_path.with_name("CHANGELOG.md")) + 1,
        "date": today(),
        "content_hash": digest,
        "git_commit": git["git_commit"] or "unknown",
        "git_dirty": bool(git["git_dirty"]),
        "dvc_lock_hash": dvc_lock_hash() or "none",
        "changes": changes(table, previous_table if len(mine) else None),
    }
    answered = contrast_changes(contrasts, previous_contrasts if len(mine) else None)
    if answered:
        entry["changes"] = f"{entry['changes']}; answers: {answered}"
    return entry, pd.concat([history, pd.DataFrame([entry])], ignore_index=True)


def to_changelog(history: pd.DataFrame) -> str:
    lines = [
        "# Leaderboard table versions",
        "",
        "Every published state of results/leaderboard/leaderboard.* (newest first). A version's content hash covers every row",
        "its tables show and, from mini-v9 on, every contrast of contrasts.csv (the answers to the profile's questions); its",
        "commit and dvc.lock hash are those of the run that first produced it.",
        "Generated by the `leaderboard` stage from results/leaderboard/table-versions.csv; do not edit by hand.",
    ]
    for entry in history.iloc[::-1].itertuples():
        dirty = " (with uncommitted source changes)" if str(entry.git_dirty) == "True" else ""
        lines += [
            "",
            f"## {entry.profile}-v{entry.version} — {entry.date}",
            "",
            f"- content sha256: `{entry.content_hash}`",
            f"- git commit: `{entry.git_commit}`{dirty}",
            f"- dvc.lock sha256: `{entry.dvc_lock_hash}`",
            f"- changes: {entry.changes}",
        ]
    return "\n".join(lines) + "\n"
