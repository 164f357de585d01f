"""The benchmark cells whose results are missing or out of date, one per line as
`<neuron> <task> <seed> <dvc stage>`: the work list of a SLURM job array (docs/cluster.md).

Usage: python -m bench.worklist [--all] > outputs/slurm/cells.txt
       python -m bench.worklist --schedule [--tuned FILE] [--all] > queue    (scripts/repro-parallel.sh)

--schedule: the work list of scripts/repro-parallel.sh's workers instead, one DVC stage per line:
the out-of-date `train@` cells, `dynamics@` stages (the neurons' phase portraits, which no
cell depends on) and `tune@` studies (bench/tune.py), longest first; --tuned FILE writes the
`tuned@` cells to FILE, which read their studies and so run after them (those out of date, and
those of every study in the first list), from the same `dvc status`. A cell's expected time is the
wall time in its committed record (provenance.wall_s; a changed cell usually costs what it cost before), else the median of its
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
from pathlib import Path

from bench.config import Cell, dynamics_stage, load_params
from bench.plan import all_cells
from bench.record import RECORD_FILE, RUNS_DIR, run_dir
from bench.tune import STUDY_FILE, TUNED_DIR, study_dir

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


def recorded_seconds(cell: Cell, root: Path = RUNS_DIR) -> float | None:
    """The wall time of the cell's committed record, if it has one."""
    try:
        record = json.loads((run_dir(cell.task, cell.neuron, cell.seed, root) / RECORD_FILE).read_text())
        return float(record["provenance"]["wall_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def tuning_commands(params) -> dict[str, list[str]]:
    """Every tuning study and tuned cell of params.yaml's plan (dvc.yaml's tune@ and tuned@ stages):
    stage name -> the arguments of its command, `python -m bench.tune <arguments>`."""
    plan = params.get("plan") or {}
    studies = {f"tune@{key}": ["study", s.neuron, s.task] for key, s in (plan.get("studies") or {}).items()}
    tuned = {f"tuned@{key}": ["cell", c.neuron, c.task, str(c.seed)] for key, c in (plan.get("tuned") or {}).items()}
    return studies | tuned


def study_seconds(neuron: str, task: str) -> float | None:
    """The wall time of the committed study, if there is one."""
    try:
        return float(json.loads((study_dir(task, neuron) / STUDY_FILE).read_text())["wall_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def schedule(include_up_to_date: bool = False) -> tuple[list[str], list[str]]:
    """(the out-of-date train, dynamics and tune stages; the tuned cells to run after them: those
    out of date and those of a study in the first list), each longest expected first; every stage
    with include_up_to_date. One `dvc status` for both."""
    params = load_params()
    cells = all_cells(params)
    commands = tuning_commands(params)
    tuned = [Cell(c[1], c[2], int(c[3])) for name, c in commands.items() if name.startswith("tuned@")]
    dynamics = [dynamics_stage(neuron) for neuron in params.plan.neurons]
    studies = [name for name in commands if name.startswith("tune@")]
    if not include_up_to_date:
        stale = stale_stages()
        cells = [cell for cell in cells if cell.addressing in stale]
        dynamics = [name for name in dynamics if name in stale]
        studies = [name for name in studies if name in stale]
        rerun = {tuple(commands[name][1:3]) for name in studies}  # (neuron, task)
        tuned = [c for c in tuned if f"tuned@{c.key}" in stale or (c.neuron, c.task) in rerun]
    first = longest_first([(cell.addressing, cell) for cell in cells], RUNS_DIR)
    first += [(DYNAMICS_S, name) for name in dynamics]
    first += [(study_seconds(*commands[name][1:3]) or float("inf"), name) for name in studies]
    second = longest_first([(f"tuned@{cell.key}", cell) for cell in tuned], TUNED_DIR)
    return [name for _, name in sorted(first, key=lambda item: -item[0])], [name for _, name in second]


def longest_first(stages: list[tuple[str, Cell]], root: Path) -> list[tuple[float, str]]:
    """(expected seconds, stage) longest first: a cell's committed record's wall time, else the median
    of its task's recorded cells, else first (a task never recorded: the least known). Stable: plan
    order among equals."""
    recorded = {cell: recorded_seconds(cell, root) for _, cell in stages}
    by_task: dict[str, list[float]] = {}
    for cell, seconds in recorded.items():
        if seconds is not None:
            by_task.setdefault(cell.task, []).append(seconds)

    def expected(cell: Cell) -> float:
        if recorded[cell] is not None:
            return recorded[cell]
        return statistics.median(by_task[cell.task]) if cell.task in by_task else float("inf")

    return sorted([(expected(cell), name) for name, cell in stages], key=lambda item: -item[0])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.worklist", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--all", action="store_true", help="also the cells (and stages) whose results are up to date")
    parser.add_argument("--schedule", action="store_true",
                        help="out-of-date train, dynamics and tune stages, longest expected first, one per line")
    parser.add_argument("--tuned", type=Path, metavar="FILE",
                        help="with --schedule: write the tuned cells to run after the listed stages to FILE")
    args = parser.parse_args(argv)
    if args.schedule:
        first, second = schedule(args.all)
        for stage in first:
            print(stage)
        if args.tuned:
            args.tuned.write_text("".join(f"{stage}\n" for stage in second))
        return
    for cell in cells(args.all):
        print(cell.neuron, cell.task, cell.seed, cell.addressing)


if __name__ == "__main__":
    main()
