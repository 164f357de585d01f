"""`snnbench <command> [arguments]`: the suite's entry points under one name. Each command is
exactly `python -m bench.<module> [arguments]` (same arguments, output and exit status); the
module's `--help` says more (`snnbench <command> --help`)."""

import importlib
import sys

# command -> (module, what it does)
COMMANDS = {
    "train": ("bench.train", "train and test one cell (neuron, task, seed) and write its record"),
    "tune": ("bench.tune", "run a neuron's tuning study on a task, or train a cell at the settings it chose"),
    "compose": ("bench.compose", "re-create params.yaml from conf/, as `dvc exp run` does"),
    "worklist": ("bench.worklist", "list the cells whose results are missing or out of date"),
    "run-stages": ("bench.runner", "run several train/dynamics/tune stages in one process, as DVC would"),
    "prepare": ("bench.prepare", "write a task's split (and generated data) to data/prepared/"),
    "data": ("bench.data.__main__", "check that tasks' datasets are in place and intact (CIFAR: download)"),
    "dynamics": ("bench.dynamics", "a neuron's fixed points, stability and trajectories (figure)"),
    "leaderboard": ("bench.leaderboard.__main__", "build the tables, plots and table version from the records"),
    "summary": ("bench.summary", "print a task's network: parameters, spiking layers, neurons, dense MACs"),
    "cite": ("bench.cite", "print a BibTeX entry for the current table version"),
    "verify": ("bench.verify", "re-run committed cells in a scratch folder and compare"),
    "perf": ("bench.perf", "measure neuron speed against the memory floor and peer libraries"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {what}" for name, (_, what) in COMMANDS.items()]
    return f"usage: snnbench <command> [arguments]\n\n{__doc__}\n\ncommands:\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        raise SystemExit(f"snnbench: no command {command!r}; one of: {', '.join(COMMANDS)} (snnbench --help)")
    status = importlib.import_module(COMMANDS[command][0]).main(rest)
    if isinstance(status, int):  # bench.verify returns its exit status; the others exit on failure
        raise SystemExit(status)


if __name__ == "__main__":
    main()
