"""Check that tasks' datasets are in place and intact before training on them.

Usage: python -m bench.data check [--download] [TASK ...]

Without tasks: every task of params.yaml's profile. One line per finding (ok or PROBLEM, with what
to do); exit status 1 if any dataset is missing or differs from the official files. --download
lets torchvision fetch (and verify) CIFAR-10/100; the other datasets need a manual download
(ImageNet's licence, CIFAR10-DVS's figshare archive), which the findings name. bench/data/check.py
says what is checked.
"""

import argparse

from bench.config import load_params, lookup
from bench.data.check import check_task


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.data", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="check the datasets of these tasks (default: the profile's)")
    check.add_argument("tasks", nargs="*")
    check.add_argument("--download", action="store_true", help="let torchvision download CIFAR-10/100 first")
    args = parser.parse_args(argv)
    params = load_params()
    problems = 0
    for name in args.tasks or list(params.profile.tasks):
        try:
            task = lookup(params, "tasks", name, "task")
        except KeyError as e:
            raise SystemExit(f"bench.data: {e.args[0]}") from None
        findings = check_task(name, task, args.download)
        print(f"{name}: {task.data.source._target_}" + ("" if findings else " (embedded: generated here, nothing to download)"))
        for finding in findings:
            print(finding)
        problems += sum(not f.ok for f in findings)
    if problems:
        raise SystemExit(f"bench.data: {problems} problem(s); fix them before training these tasks")


if __name__ == "__main__":
    main()
