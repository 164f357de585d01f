"""The benchmark cells whose results are missing or out of date, one per line as
`<neuron> <task> <seed> <dvc stage>`: the work list of a SLURM job array (docs/cluster.md).

Usage: python -m bench.cells [--all] > outputs/slurm/cells.txt
"""

import argparse
from collections.abc import Iterator

from bench.config import Cell, load_params
from bench.plan import all_cells


def cells(include_up_to_date: bool = False) -> Iterator[Cell]:
    """Every cell of params.yaml's plan (the table's and the sweeps'), those DVC finds out of date
    unless include_up_to_date."""
    planned = all_cells(load_params())
    if include_up_to_date:
        yield from planned
        return
    from dvc.repo import Repo

    with Repo() as repo:
        stale = set(repo.status())
    yield from (cell for cell in planned if cell.addressing in stale)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cells", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--all", action="store_true", help="also the cells whose results are up to date")
    for cell in cells(parser.parse_args(argv).all):
        print(cell.neuron, cell.task, cell.seed, cell.addressing)


if __name__ == "__main__":
    main()
