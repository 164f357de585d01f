"""Re-run committed cells and compare: does this machine give the committed numbers?

Usage: python -m bench.verify [<task>/<neuron>/<seed> ...] [--sample K] [--seed S] [--tolerance T] [--tuned]
       python -m bench.verify --study <task>/<neuron> [...]

Each cell (the ones named, else K drawn at random from the profile's committed cells, default 1;
with --tuned, the tuned cells of results/tuned/ at the settings their committed study chose)
is trained again from the committed params.yaml in a scratch folder (a temporary directory;
results/ is never touched) and its record is compared with the committed one: every metric,
the best and last epoch, the test-set size and split fingerprint, the per-epoch history and the
per-sample test predictions.
A cell is `identical` (every compared value equal), `within tolerance` (numbers differ by at
most T, in the metric's own unit) or `different` (the differing fields are listed); a committed
record made under another config than params.yaml now asks for is `stale` (re-run its stage
first). The exit code is non-zero unless every cell is identical or within tolerance.

--study re-runs a tuning study (bench/tune.py) under outputs/scratch/tuning/ and compares every
trial (settings, state, per-epoch validation top-1, config hash) and the choice with the committed
results/tuning/<task>/<neuron>/study.json.

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
from bench.tune import TUNED_DIR, expected_config

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


def expected(params, task: str, neuron: str, seed: int, tuned: bool):
    """The config the cell's record must have been made with (a tuned cell's: at its committed
    study's choice; None if that study is missing)."""
    return expected_config(params, neuron, task, seed) if tuned else cell_config(params, neuron, task, seed)


def train_into(scratch: Path, task: str, neuron: str, seed: int, tuned: bool = False) -> None:
    """One cell trained into scratch/, in this (fresh) process: bench is imported before torch, so
    the CPU numerics are pinned exactly as in a pipeline run."""
    from bench.train import run_cell  # heavy: torch and Lightning

    run_cell(expected(load_params(), task, neuron, seed, tuned), [], runs_root=scratch / "runs", work_root=scratch / "work")


def verify_cell(params, task: str, neuron: str, seed: int, scratch: Path, tolerance: float,
                tuned: bool = False) -> tuple[str, list[str]]:
    committed_dir = run_dir(task, neuron, seed, TUNED_DIR if tuned else RUNS_DIR)
    committed = read_record(committed_dir / RECORD_FILE).model_dump(exclude_unset=True)
    cfg = expected(params, task, neuron, seed, tuned)
    if cfg is None or committed.get("provenance", {}).get("config_hash") != config_hash(cfg):
        return "stale", [f"made under another config than params.yaml asks for; re-run `dvc repro` for {task}/{neuron}/{seed}"]
    cell = str(Cell(neuron, task, seed))
    kernels = other_kernels(committed)
    if kernels:
        print(f"{cell}: expect other bits: this machine's kernels differ from the record's in {', '.join(kernels)}", flush=True)
    # the thread count is part of the config (runtime.cpu_threads), like the CPU's instruction set
    command = [sys.executable, "-m", "bench.verify", cell, "--into", str(scratch), *(["--tuned"] if tuned else [])]
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


STUDY_COMPARED = ("number", "settings", "state", "value", "val_top1_by_epoch", "config_hash")


def verify_study(params, name: str) -> tuple[str, list[str]]:
    """Re-runs the study <task>/<neuron> in a fresh process and compares it with the committed one."""
    import os

    from bench.tune import SCRATCH_DIR, read_study

    task, _, neuron = name.partition("/")
    if f"{neuron}-{task}" not in ((params.get("plan") or {}).get("studies") or {}):
        raise SystemExit(f"bench.verify: {name} is not a study of params.yaml's plan (name it <task>/<neuron>)")
    committed = read_study(task, neuron)
    env = {k: v for k, v in os.environ.items() if k != "DVC_STAGE"}  # a scratch run, never results/
    run = subprocess.run([sys.executable, "-m", "bench.tune", "study", neuron, task], capture_output=True, text=True, env=env)
    if run.returncode != 0:
        return "different", [f"the re-run failed (exit {run.returncode}): {run.stderr.strip().splitlines()[-1:]}"]
    fresh = read_study(task, neuron, SCRATCH_DIR / "tuning")
    differing = [f"best: {committed['best']} -> {fresh['best']}"] if committed["best"] != fresh["best"] else []
    for old, new in zip(committed["trials"], fresh["trials"]):
        differing += [f"trial {old['number']} {key}: {old.get(key)!r} -> {new.get(key)!r}"
                      for key in STUDY_COMPARED if old.get(key) != new.get(key)]
    if len(committed["trials"]) != len(fresh["trials"]):
        differing.append(f"trials: {len(committed['trials'])} -> {len(fresh['trials'])}")
    return ("different" if differing else "identical"), differing


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


def planned_cells(params, tuned: bool) -> list[Cell]:
    if tuned:
        return [Cell(c.neuron, c.task, c.seed) for c in ((params.get("plan") or {}).get("tuned") or {}).values()]
    return all_cells(params)


def choose(params, named: list[str], sample: int, seed: int, tuned: bool = False) -> list[tuple[str, str, int]]:
    if named:
        planned = planned_cells(params, tuned) if params is not None else None
        return [parse_cell(name, planned) for name in named]
    root = TUNED_DIR if tuned else RUNS_DIR
    committed = [(c.task, c.neuron, c.seed) for c in planned_cells(params, tuned)
                 if (run_dir(c.task, c.neuron, c.seed, root) / RECORD_FILE).is_file()]
    if not committed:
        raise SystemExit(f"no committed records under {root} for the profile's cells; run `dvc repro` first")
    return random.Random(seed).sample(committed, min(sample, len(committed)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.verify", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("cells", nargs="*", help="cells as <task>/<neuron>/<seed> (default: a random sample)")
    parser.add_argument("--sample", type=at_least_one, default=1, help="how many cells to draw when none is named")
    parser.add_argument("--seed", type=int, default=None, help="seed of the draw (default: a new one each time)")
    parser.add_argument("--tolerance", type=float, default=0.0, help="largest accepted difference of a number")
    parser.add_argument("--tuned", action="store_true", help="the tuned cells (results/tuned/) instead")
    parser.add_argument("--study", action="store_true", help="the named items are tuning studies, <task>/<neuron>")
    parser.add_argument("--into", type=Path, help=argparse.SUPPRESS)  # internal: train one cell into this folder
    args = parser.parse_args(argv)
    if args.into:
        results = RUNS_DIR.resolve().parent
        if args.into.exists() or results in [args.into.resolve(), *args.into.resolve().parents]:
            parser.error(f"--into {args.into}: bench.verify trains into a new scratch folder of its own; this one exists "
                         f"or lies in {RUNS_DIR.parent}/, which only `dvc repro` writes")
        task, neuron, seed = choose(None, args.cells, 0, None)[0]
        train_into(args.into, task, neuron, seed, args.tuned)
        return 0
    params = load_params()
    failures = 0
    if args.study:
        if not args.cells:
            parser.error("--study needs the studies to re-run, as <task>/<neuron>")
        for name in args.cells:
            verdict, differing = verify_study(params, name)
            failures += verdict != "identical"
            print(f"study {name}: {verdict}", *(f"    {line}" for line in differing[:20]), sep="\n", flush=True)
        return 1 if failures else 0
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as scratch:
        for task, neuron, seed in choose(params, args.cells, args.sample, args.seed, args.tuned):
            verdict, differing = verify_cell(params, task, neuron, seed, Path(scratch) / f"{task}-{neuron}-{seed}",
                                             args.tolerance, args.tuned)
            failures += verdict in ("different", "stale")
            print(f"{task}/{neuron}/{seed}: {verdict}", *(f"    {line}" for line in differing), sep="\n", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
