"""Pipeline stage `prepare@<task>`: write the task's fixed train/val/test split file (and any data
the task generates) once, to data/prepared/<task>/. Usage: python -m bench.prepare <task>"""

import argparse

from hydra.utils import instantiate

from bench.config import load_params, lookup, prepared_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.prepare", description=__doc__)
    parser.add_argument("task")
    args = parser.parse_args(argv)
    task = lookup(load_params(), "tasks", args.task, "task")
    datamodule = instantiate(task.data, prepared_dir=str(prepared_dir(args.task)))
    split = datamodule.write_split()
    sizes = {name: len(split[name]) for name in ("train", "val", "test")}
    print(f"{args.task}: wrote {datamodule.split_file} ({split['protocol']}, {sizes})")


if __name__ == "__main__":
    main()
