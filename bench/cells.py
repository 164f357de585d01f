"""The benchmark cells whose results are missing or out of date, one per line as
`<neuron> <task> <seed> <dvc stage>`: the work list of a SLURM job array (docs/cluster.md).

Usage: python -m bench.cells [--all] > outputs/slurm/cells.txt
"""

import argparse
from collections.abc import Iterator

from dvc.repo import Repo

TRAIN_STAGES = ("train", "train-single-seed")


def cells(include_up_to_date: bool = False) -> Iterator[tuple[str, str, str, str]]:
    with Repo() as repo:
        stale = None if include_up_to_date else set(repo.status())
        for stage in repo.index.stages:
            if stage.name.split("@")[0] in TRAIN_STAGES and (stale is None or stage.addressing in stale):
                neuron, task, seed = stage.cmd.split()[-3:]  # python -m bench.train <neuron> <task> <seed>
                yield neuron, task, seed, stage.addressing


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--all", action="store_true", help="also the cells whose results are up to date")
    for cell in cells(parser.parse_args(argv).all):
        print(*cell)


if __name__ == "__main__":
    main()
