"""The benchmark cells whose results are missing or out of date, one per line as
`<neuron> <task> <seed> <dvc stage>`: the work list of a SLURM job array (docs/cluster.md).

Usage: python -m bench.worklist [--all] > outputs/slurm/cells.txt
       python -m bench.worklist --schedule [--all] > queue    (scripts/repro-parallel.sh)

--schedule: the work list of scripts/repro-parallel.sh's workers instead, one DVC stage per line:
the out-of-date `train@` cells and `dynamics@` stages (the neurons' phase portraits, which no
cell depends on), longest first. A cell's expected time is the wall time in its committed record
(provenance.wall_s; a changed cell usually costs what it cost before), else the median of its
task's recorded cells (a task never recorded: first, in plan order, as the least known); a
dynamics stage is expected to take DYNAMICS_S. Workers taking the next
stage from this list as they become free end within about one short stage of each other
(longest-processing-time-first scheduling), where dealing the stages round-robin left one
worker minutes behind the other.
"""

import argparse
import json
import statistics
from collections.abc import Iterator

from bench.config import Cell, dynamics_stage, load_params
from bench.plan import all_cells
from bench.record import RECORD_FILE, run_dir

DYNAMICS_S = 8.0  # a dynamics stage in a worker that has imported torch (docs/performance.md)


def cells(include_up_to_date: bool = False) -> Iterator[Cell]:
    """Every cell of params.yaml's plan (the table's and the sweeps'), those DVC finds out of date
    unless include_up_to_date."""
    planned = all_cells(load_params())
    if include_up_to_date:
        yield from planned
        return
    stale = stale_stages()
    yield from (cell for cell in planned if cell.addressing in stale)


def stale_stages() -> set[str]:
    from dvc.repo import Repo

    with Repo() as repo:
        return set(repo.status())


def recorded_seconds(cell: Cell) -> float | None:
    """The wall time of the cell's committed record, if it has one."""
    try:
        record = json.loads((run_dir(cell.task, cell.neuron, cell.seed) / RECORD_FILE).read_text())
        return float(record["provenance"]["wall_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def schedule(include_up_to_date: bool = False) -> list[str]:
    """The out-of-date train and dynamics stages (all of them with include_up_to_date), longest
    expected first."""
    params = load_params()
    every = all_cells(params)
    recorded = {cell: recorded_seconds(cell) for cell in every}
    planned = every
    dynamics = [dynamics_stage(neuron) for neuron in params.plan.neurons]
    if not include_up_to_date:
        stale = stale_stages()
        planned = [cell for cell in every if cell.addressing in stale]
        dynamics = [stage for stage in dynamics if stage in stale]
    by_task: dict[str, list[float]] = {}
    for cell, seconds in recorded.items():
        if seconds is not None:
            by_task.setdefault(cell.task, []).append(seconds)

    def expected(cell: Cell) -> float:
        if recorded[cell] is not None:
            return recorded[cell]
        return statistics.median(by_task[cell.task]) if cell.task in by_task else float("inf")

    work = [(expected(cell), cell.addressing) for cell in planned] + [(DYNAMICS_S, stage) for stage in dynamics]
    return [stage for _, stage in sorted(work, key=lambda item: -item[0])]  # stable: plan order among equals


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.worklist", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--all", action="store_true", help="also the cells (and stages) whose results are up to date")
    parser.add_argument("--schedule", action="store_true",
                        help="out-of-date train and dynamics stages, longest expected first, one per line")
    args = parser.parse_args(argv)
    if args.schedule:
        for stage in schedule(args.all):
            print(stage)
        return
    for cell in cells(args.all):
        print(cell.neuron, cell.task, cell.seed, cell.addressing)


if __name__ == "__main__":
    main()
