"""Re-run committed cells and compare: does this machine give the committed numbers?

Usage: python -m bench.verify [<task>/<neuron>/<seed> ...] [--sample K] [--seed S] [--tolerance T]

Each cell (the ones named, else K drawn at random from the profile's committed cells, default 1)
is trained again from the committed params.yaml in a scratch folder (a temporary directory;
results/ is never touched) and its record is compared with the committed one: every metric,
the best and last epoch, the test-set size and split fingerprint, the per-epoch history and the
per-sample test predictions.
A cell is `identical` (every compared value equal), `within tolerance` (numbers differ by at
most T, in the metric's own unit) or `different` (the differing fields are listed); a committed
record made under another config than params.yaml now asks for is `stale` (re-run its stage
first). The exit code is non-zero unless every cell is identical or within tolerance.

Before training, each cell's record is compared with this machine's kernel fingerprint
(`python -m bench.numerics fingerprint`): where they differ, it says at once which kernels will
give other bits ("expect other bits: ..."), instead of after the whole re-run.
"""

import argparse
import math
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.config import Cell, cell_config, config_hash, load_params
from bench.plan import all_cells
from bench.record import HISTORY_FILE, PREDICTIONS_FILE, RECORD_FILE, RUNS_DIR, read_record, run_dir

COMPARED = ("metrics", "best_epoch", "epochs", "n_test", "split_fingerprint")


def flatten(value, prefix: str = "") -> dict:
    """Nested dicts as {"a.b": leaf}."""
    if isinstance(value, dict):
        out = {}
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def compare(committed: dict, fresh: dict, tolerance: float = 0.0) -> tuple[str, list[str]]:
    """(verdict, the fields that differ as "field: committed -> fresh")."""
    a, b = flatten({k: committed.get(k) for k in COMPARED}), flatten({k: fresh.get(k) for k in COMPARED})
    differing, beyond = [], False
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if x == y:
            continue
        differing.append(f"{key}: {x!r} -> {y!r}")
        numbers = isinstance(x, int | float) and isinstance(y, int | float) and not isinstance(x, bool)
        beyond |= not (numbers and math.isclose(x, y, rel_tol=0, abs_tol=tolerance))
    if not differing:
        return "identical", []
    return ("different" if beyond else "within tolerance"), differing


def train_into(scratch: Path, task: str, neuron: str, seed: int) -> None:
    """One cell trained into scratch/, in this (fresh) process: bench is imported before torch, so
    the CPU numerics are pinned exactly as in a pipeline run."""
    from bench.train import run_cell  # heavy: torch and Lightning

    run_cell(cell_config(load_params(), neuron, task, seed), [], runs_root=scratch / "runs", work_root=scratch / "work")


def verify_cell(params, task: str, neuron: str, seed: int, scratch: Path, tolerance: float) -> tuple[str, list[str]]:
    committed_dir = run_dir(task, neuron, seed)
    committed = read_record(committed_dir / RECORD_FILE).model_dump(exclude_unset=True)
    if committed.get("provenance", {}).get("config_hash") != config_hash(cell_config(params, neuron, task, seed)):
        return "stale", [f"made under another config than params.yaml asks for; re-run `dvc repro` for {task}/{neuron}/{seed}"]
    cell = str(Cell(neuron, task, seed))
    kernels = other_kernels(committed)
    if kernels:
        print(f"{cell}: expect other bits: this machine's kernels differ from the record's in {', '.join(kernels)}", flush=True)
    # the thread count is part of the config (runtime.cpu_threads), like the CPU's instruction set
    command = [sys.executable, "-m", "bench.verify", cell, "--into", str(scratch)]
    run = subprocess.run(command, capture_output=True, text=True)
    fresh_dir = run_dir(task, neuron, seed, scratch / "runs")
    if run.returncode != 0 or not (fresh_dir / RECORD_FILE).is_file():
        return "different", [f"the re-run failed (exit {run.returncode}): {run.stderr.strip().splitlines()[-1:]}"]
    fresh = read_record(fresh_dir / RECORD_FILE).model_dump(exclude_unset=True)
    verdict, differing = compare(committed, fresh, tolerance)
    for name in (HISTORY_FILE, PREDICTIONS_FILE):  # per-epoch history; per-sample test predictions
        old, new = committed_dir / name, fresh_dir / name
        if old.is_file() and (not new.is_file() or old.read_text() != new.read_text()):
            differing.append(f"{name}: differs")
            verdict = "different" if verdict == "identical" else verdict
    return verdict, differing


def other_kernels(committed: dict) -> list[str]:
    """The kernels whose fingerprint on this machine differs from the one the record was made
    with (provenance.numerics.fingerprint; none for a record that has none)."""
    made_with = (committed.get("provenance", {}).get("numerics") or {}).get("fingerprint") or {}
    if not made_with:
        return []
    from bench import numerics

    here = numerics.fingerprint()
    return sorted(k for k in made_with.keys() | here.keys() if made_with.get(k) != here.get(k))


def parse_cell(name: str, planned: list[Cell] | None) -> tuple[str, str, int]:
    """`<task>/<neuron>/<seed>` as (task, neuron, seed); one of params.yaml's planned cells when
    `planned` is given."""
    parts = name.split("/")
    cell = Cell(parts[1], parts[0], int(parts[2])) if len(parts) == 3 and parts[2].isdigit() else None
    if cell is None or (planned is not None and cell not in planned):
        example = f" (e.g. {planned[0]})" if planned else ""
        what = "is not a cell of params.yaml's plan" if cell else "is not of the form <task>/<neuron>/<seed>"
        raise SystemExit(f"bench.verify: {name} {what}; name a cell as its folder under results/runs/, "
                         f"<task>/<neuron>/<seed>{example}")
    return cell.task, cell.neuron, cell.seed


def at_least_one(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the number of cells to draw is an integer >= 1")
    return int(text)


def choose(params, named: list[str], sample: int, seed: int) -> list[tuple[str, str, int]]:
    if named:
        planned = all_cells(params) if params is not None else None
        return [parse_cell(name, planned) for name in named]
    committed = [(c.task, c.neuron, c.seed) for c in all_cells(params)
                 if (run_dir(c.task, c.neuron, c.seed) / RECORD_FILE).is_file()]
    if not committed:
        raise SystemExit(f"no committed records under {RUNS_DIR} for the profile's cells; run `dvc repro` first")
    return random.Random(seed).sample(committed, min(sample, len(committed)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.verify", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("cells", nargs="*", help="cells as <task>/<neuron>/<seed> (default: a random sample)")
    parser.add_argument("--sample", type=at_least_one, default=1, help="how many cells to draw when none is named")
    parser.add_argument("--seed", type=int, default=None, help="seed of the draw (default: a new one each time)")
    parser.add_argument("--tolerance", type=float, default=0.0, help="largest accepted difference of a number")
    parser.add_argument("--into", type=Path, help=argparse.SUPPRESS)  # internal: train one cell into this folder
    args = parser.parse_args(argv)
    if args.into:
        results = RUNS_DIR.resolve().parent
        if args.into.exists() or results in [args.into.resolve(), *args.into.resolve().parents]:
            parser.error(f"--into {args.into}: bench.verify trains into a new scratch folder of its own; this one exists "
                         f"or lies in {RUNS_DIR.parent}/, which only `dvc repro` writes")
        task, neuron, seed = choose(None, args.cells, 0, None)[0]
        train_into(args.into, task, neuron, seed)
        return 0
    params = load_params()
    failures = 0
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as scratch:
        for task, neuron, seed in choose(params, args.cells, args.sample, args.seed):
            verdict, differing = verify_cell(params, task, neuron, seed, Path(scratch) / f"{task}-{neuron}-{seed}",
                                             args.tolerance)
            failures += verdict in ("different", "stale")
            print(f"{task}/{neuron}/{seed}: {verdict}", *(f"    {line}" for line in differing), sep="\n", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
