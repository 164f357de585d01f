"""Run several pipeline stages in one process, each exactly as its DVC stage runs it, then enter
them in dvc.lock with one `dvc commit`.

Usage: python -m bench.runner [--no-commit] [--done FILE] train@<neuron>-<task>-<seed> | dynamics@<neuron> |
           tune@<neuron>-<task> | tuned@<neuron>-<task>-<seed> [...]
       python -m bench.runner [--no-commit] [--done FILE] --queue FILE

`dvc repro` starts one process per stage: DVC loads the pipeline and the stage's process imports
torch and Lightning, seconds each, against tens of seconds of training for an embedded cell and a
few seconds for a neuron's phase portrait (docs/performance.md). Here each stage's
command, `python -m bench.train <neuron> <task> <seed>` or `python -m bench.dynamics <neuron>`,
runs in this process one after the other (their `main`, with DVC_STAGE set as DVC sets it, so
bench.train writes results/runs/ as the stage does); then `dvc commit --force` records the stages
that succeeded in dvc.lock, as `dvc repro` would have (the SLURM path does the same per cell,
docs/cluster.md). Every cell starts from the state a fresh process would give it: bench.train
seeds every generator, pins the threads and builds everything anew per cell, and
tests/test_scale_out.py checks that the records equal those of separate `dvc repro` runs.

--queue FILE: a work list shared by several workers (one stage per line, `python -m bench.worklist
--schedule`): each worker takes the first line under a file lock whenever it is free, so the
workers stay busy until the list is empty.

A stage that fails leaves its failed record, is not committed (so DVC still sees it out of date)
and the others go on; the exit status is then 1. scripts/repro-parallel.sh runs one of these
per worker with --no-commit and --done, and commits every stage at once when all workers are
done: `dvc commit` re-reads the pipeline for each stage it is given (~4 s each with 105 stages),
but only once for a whole foreach group (`train`, `dynamics`).
"""

import argparse
import fcntl
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from bench import skip_exit_collections
from bench.config import Cell, dynamics_stage, load_params
from bench.plan import all_cells
from bench.worklist import tuning_commands

Stage = Cell | str  # a train cell, or a neuron's dynamics stage by the neuron's name, or a tune@/tuned@ stage


def planned(stages: list[str], by_name: dict[str, Stage] | None = None) -> list[Stage]:
    """The plan's stages with these names, in the order given."""
    by_name = by_name or plan_stages()
    unknown = [s for s in stages if s not in by_name]
    if unknown:
        raise SystemExit(f"bench.runner: not train or dynamics stages of params.yaml's plan: {', '.join(unknown)} "
                         "(`python -m bench.worklist --schedule --all` lists them)")
    return [by_name[s] for s in stages]


def plan_stages() -> dict[str, Stage]:
    """Every train and dynamics stage of params.yaml's plan, by its DVC name."""
    params = load_params()
    by_name: dict[str, Stage] = {cell.addressing: cell for cell in all_cells(params)}
    by_name |= {name: name for name in tuning_commands(params)}
    return by_name | {dynamics_stage(neuron): neuron for neuron in params.plan.neurons}


def is_tuning(stage: Stage) -> bool:
    return isinstance(stage, str) and stage.startswith(("tune@", "tuned@"))


def addressing(stage: Stage) -> str:
    if is_tuning(stage):
        return stage
    return stage.addressing if isinstance(stage, Cell) else dynamics_stage(stage)


def run(stage: Stage) -> bool:
    """Runs one stage's command in this process; True if it ended as the stage would have
    succeeded (a diverged cell is a result: its record says so)."""
    os.environ["DVC_STAGE"] = addressing(stage)
    try:
        if isinstance(stage, Cell):
            from bench import train

            train.main([stage.neuron, stage.task, str(stage.seed)])
        elif is_tuning(stage):
            from bench import tune

            tune.main(tuning_commands(load_params())[stage])
        else:
            from bench import dynamics

            dynamics.main([stage])
        return True
    except SystemExit as failure:  # bench.train's exit: a failed cell or a usage error, said on stderr
        if failure.code == 128 + signal.SIGTERM:  # stopped (preempted, killed): stop here too, commit nothing
            raise
        print(f"bench.runner: {addressing(stage)} failed ({failure.code})", file=sys.stderr)
        return False
    except Exception as error:  # bench.dynamics raises; its stage would have failed
        print(f"bench.runner: {addressing(stage)} failed ({type(error).__name__}: {error})", file=sys.stderr)
        return False
    finally:
        del os.environ["DVC_STAGE"]


def take(queue: Path) -> str | None:
    """Removes and returns the first stage of a shared work list (None when it is empty); the
    file lock makes each stage go to exactly one worker."""
    with open(queue, "r+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file is closed
        try:
            first, *others = f.read().splitlines() or [None]
        except UnicodeDecodeError:
            raise SystemExit(f"bench.runner: {queue} is not a work list (one stage name per line, as "
                             "`python -m bench.worklist --schedule` writes)") from None
        f.seek(0)
        f.truncate()
        f.writelines(line + "\n" for line in others)
    return first


def from_queue(queue: Path) -> Iterator[Stage]:
    by_name = plan_stages()
    while (name := take(queue)) is not None:
        if name.strip():
            yield from planned([name.strip()], by_name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.runner", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stages", nargs="*", help="stages, e.g. train@lif-digits-0 dynamics@lif")
    parser.add_argument("--queue", type=Path, help="take the stages one at a time from this shared work list")
    parser.add_argument("--no-commit", action="store_true", help="leave dvc.lock to the caller")
    parser.add_argument("--done", type=Path, help="append the stages that succeeded to this file, one per line")
    args = parser.parse_args(argv)
    if bool(args.stages) == bool(args.queue):
        parser.error("give either stages or --queue FILE")
    if args.queue and not args.queue.is_file():
        parser.error(f"--queue {args.queue}: no such file (write a work list with `python -m bench.worklist --schedule`)")
    stages = from_queue(args.queue) if args.queue else planned(args.stages)
    done, ran = [], 0
    for stage in stages:
        ran += 1
        if run(stage):
            done.append(addressing(stage))
            if args.done:
                with open(args.done, "a") as f:
                    f.write(addressing(stage) + "\n")
    if done and not args.no_commit:
        subprocess.run(["dvc", "--wait-for-lock", "commit", "--force", "--quiet", *done], check=True)
    if ran > len(done):
        raise SystemExit(f"bench.runner: {ran - len(done)} of {ran} stages failed; said above (a cell's record says why)")


if __name__ == "__main__":
    main()
    skip_exit_collections()
