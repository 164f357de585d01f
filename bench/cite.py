"""Print a BibTeX entry for the current leaderboard table: the software (CITATION.cff) plus the
table's version, content hash, git commit and dvc.lock hash (results/leaderboard/table-versions.csv).

Usage: python -m bench.cite [--profile NAME] [--version N]
"""

import argparse
import sys
from pathlib import Path

import yaml

from bench import __version__
from bench.config import load_params
from bench.leaderboard.version import VERSIONS_FILE, read_history

CITATION_FILE = Path("CITATION.cff")


def entry(
    profile: str, version: int | None = None, history_path: Path = VERSIONS_FILE, citation_path: Path = CITATION_FILE
) -> str:
    history = read_history(history_path)
    mine = history[history.profile == profile]
    if version is not None:
        mine = mine[mine.version.astype(int) == version]
    if mine.empty:
        which = "" if version is None else f" {version}"
        raise SystemExit(f"{history_path}: no table version{which} for profile {profile!r}; run `dvc repro` first")
    row = mine.iloc[-1]
    software = yaml.safe_load(citation_path.read_text())
    authors = " and ".join(
        a.get("name") or f"{a.get('family-names', '')}, {a.get('given-names', '')}".strip(", ") for a in software["authors"]
    )
    key = f"{software['title'].replace('-', '')}_{profile}_v{row.version}".replace(" ", "")
    dirty = str(row.git_dirty) == "True"
    commit = f"git commit {row.git_commit}" + (" plus uncommitted source changes (not reproducible from that commit alone)"
                                               if dirty else "")
    fields = {
        "title": f"{software['title']}: leaderboard, profile {profile}, table version {profile}-v{row.version}",
        "author": f"{{{authors}}}" if " and " not in authors else authors,
        "year": str(row.date)[:4],
        "version": f"{profile}-v{row.version}",
        "note": (
            f"Table content sha256 {row.content_hash}; produced by {commit} "
            f"with dvc.lock sha256 {row.dvc_lock_hash} on {row.date}; software version {__version__}"
        ),
    }
    if software.get("repository-code"):
        fields["url"] = software["repository-code"]
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields.items())
    return f"@misc{{{key},\n{body}\n}}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cite", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", help="default: the profile in params.yaml")
    parser.add_argument("--version", type=int, help="default: the latest version")
    args = parser.parse_args(argv)
    try:
        text = entry(args.profile or load_params().profile.name, args.version)
    except ValueError as e:  # a damaged history (bench.leaderboard.version.read_history)
        raise SystemExit(f"bench.cite: {e}") from None
    if "uncommitted source changes" in text:
        print("bench.cite: this table version was made from a working tree with uncommitted changes; commit, re-run "
              "`dvc repro` and cite the version that produces", file=sys.stderr)
    print(text)


if __name__ == "__main__":
    main()
