"""Train several cells in one process, each exactly as its DVC stage runs it, then enter them in
dvc.lock with one `dvc commit`.

Usage: python -m bench.run_cells [--no-commit] [--done FILE] train@<neuron>-<task>-<seed> [...]

`dvc repro` starts one process per stage: DVC loads the pipeline (~6 s with the mini profile's
stages) and the stage's process imports torch and Lightning (~10 s), against 25-60 s of training
for an embedded cell. Here each stage's command, `python -m bench.train <neuron> <task> <seed>`,
runs in this process one after the other (bench.train's `main`, with DVC_STAGE set as DVC sets
it, so it writes results/runs/ as the stage does); then `dvc commit --force` records the cells
that succeeded in dvc.lock, as `dvc repro` would have (the SLURM path does the same per cell,
docs/cluster.md). Every cell starts from the state a fresh process would give it: bench.train
seeds every generator, pins the threads and builds everything anew per cell, and
tests/test_scale_out.py checks that the records equal those of separate `dvc repro` runs.

A cell that fails leaves its failed record, is not committed (so DVC still sees it out of date)
and the others go on; the exit status is then 1. scripts/repro-parallel.sh runs one of these
per worker with --no-commit and --done, and commits every cell at once when all workers are done:
`dvc commit` re-reads the pipeline for each stage it is given (~4 s each with 105 stages), but
only once for the whole `train` group.
"""

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from bench.config import Cell, load_params
from bench.plan import all_cells


def planned(stages: list[str]) -> list[Cell]:
    """The plan's cells named by these stages, in the order given."""
    by_stage = {cell.addressing: cell for cell in all_cells(load_params())}
    unknown = [s for s in stages if s not in by_stage]
    if unknown:
        raise SystemExit(f"bench.run_cells: not train stages of params.yaml's plan: {', '.join(unknown)} "
                         "(`python -m bench.cells --all` lists them)")
    return [by_stage[s] for s in stages]


def run(cell: Cell) -> bool:
    """Trains one cell as its stage; True if it ended as the stage would have succeeded (a diverged
    cell is a result: its record says so)."""
    from bench import train

    os.environ["DVC_STAGE"] = cell.addressing
    try:
        train.main([cell.neuron, cell.task, str(cell.seed)])
        return True
    except SystemExit as failure:  # bench.train's exit: a failed cell or a usage error, said on stderr
        if failure.code == 128 + signal.SIGTERM:  # stopped (preempted, killed): stop here too, commit nothing
            raise
        print(f"bench.run_cells: {cell.addressing} failed ({failure.code})", file=sys.stderr)
        return False
    finally:
        del os.environ["DVC_STAGE"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run_cells", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stages", nargs="+", help="train stages, e.g. train@lif-digits-0")
    parser.add_argument("--no-commit", action="store_true", help="leave dvc.lock to the caller")
    parser.add_argument("--done", type=Path, help="append the stages that succeeded to this file, one per line")
    args = parser.parse_args(argv)
    cells = planned(args.stages)
    done = []
    for cell in cells:
        if run(cell):
            done.append(cell.addressing)
            if args.done:
                with open(args.done, "a") as f:
                    f.write(cell.addressing + "\n")
    if done and not args.no_commit:
        subprocess.run(["dvc", "--wait-for-lock", "commit", "--force", "--quiet", *done], check=True)
    failed = len(cells) - len(done)
    if failed:
        raise SystemExit(f"bench.run_cells: {failed} of {len(cells)} cells failed; their records say why")


if __name__ == "__main__":
    main()
