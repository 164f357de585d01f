"""Train and test one cell of the benchmark matrix and write its record.

Usage: python -m bench.train <neuron> <task> <seed> [key=value ...] [--debug]

Reads params.yaml (run from the repository root) and builds the cell with bench.builder; the
Trainer's callbacks and loggers come from the config (conf/callbacks/, conf/logger/). Overrides
edit this run's config (e.g. `trainer.max_epochs=1`, `neuron.a=0.5`, or `trainer=ddp
trainer.devices=2` for one cell on two processes) and are stored in the record.

Where it writes: the cell's own DVC stage (`dvc repro train@<neuron>-<task>-<seed>`, no
overrides) writes results/runs/<task>/<neuron>/<seed>/{record.json,history.csv,
test-predictions.csv}; any other run (by hand, or with overrides) writes the same files under
outputs/scratch/runs/ and says so, so only the pipeline changes what the leaderboard reads. The
files appear all at once, after the run, from the global-rank-0 process only: a crashed run
leaves a record with status "failed" and its reason, never a half-written one. A wrong name,
setting or override is one line before anything trains (`--debug` shows the traceback).

CPU numerics (instruction set, threads) are pinned from `runtime` before torch loads
(bench/numerics.py). An interrupted run (SIGTERM: exit code 143; killed, preempted) resumes from
its last epoch checkpoint when rerun with the same config, and ends with the same numbers as an
uninterrupted run.
"""

import argparse
import fcntl
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from bench import numerics, skip_exit_collections
from bench.builder import build
from bench.callbacks import peak_memory
from bench.config import Cell, cell_config, config_hash, load_params
from bench.data.datamodule import DataError
from bench.module import DivergedError
from bench.neurons.base import BACKENDS, Neuron
from bench.provenance import provenance
from bench.record import METRICS, RUNS_DIR, SELECTION, SHOWN, run_dir, write_record
from bench.trainer import (
    UsageError,
    check_loggers,
    check_trainer,
    checkpoint_epoch,
    history,
    is_global_zero,
    make_trainer,
    prepare_work_dir,
    quiet_library_noise,
)

WORK_DIR = Path("outputs/runs")  # checkpoints and raw logs (git-ignored)
SCRATCH_DIR = Path("outputs/scratch")  # records of runs outside the pipeline: runs/ and work/ (git-ignored)


def fit_and_test(cfg: DictConfig, work_dir: Path, resume: tuple[Path, int] | None = None) -> tuple[dict, dict, str]:
    """Returns (metrics, extra facts, per-sample test predictions as CSV) for the record. Test uses
    the checkpoint best on validation."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, module = build(cfg)
    trainer, checkpoint, throughput = make_trainer(cfg, work_dir)
    # weights_only=False: our own checkpoints also hold optimizer and numpy RNG states
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume and resume[0], weights_only=False)
    by_epoch = dict(module.test_top1_by_epoch)  # before the best checkpoint is loaded back for the test
    (test,) = trainer.test(module, datamodule=datamodule, ckpt_path="best", verbose=False, weights_only=False)
    n_test, evaluated = len(datamodule.data["test"]), module.efficiency_results["samples"]
    full_test = trainer.limit_test_batches == 1.0 and isinstance(trainer.limit_test_batches, float)  # int 1 = one batch
    if full_test and evaluated != n_test:
        raise RuntimeError(f"the test evaluated {evaluated} samples but the test split has {n_test}")
    logged = {**test, SELECTION.logged: float(checkpoint.best_model_score)}
    metrics = {
        # float32 metric states: round away the noise below what the sample counts can resolve
        **{m.name: round((100 if m.unit == "%" else 1) * logged[m.logged], 4) for m in METRICS if m.logged},
        **module.efficiency_results,  # firing rates, operations, energy
    }
    if by_epoch:  # the literature's figure (optimistic: chosen on the test set), beside the headline
        metrics["test_top1_max_over_epochs"] = round(max(by_epoch.values()), 4)
    facts = {
        "epochs": trainer.current_epoch,
        "best_epoch": checkpoint_epoch(Path(checkpoint.best_model_path)),
        "test_top1_max_epoch": max(by_epoch, key=by_epoch.get) if by_epoch else None,
        "params": sum(p.numel() for p in module.parameters()),
        "surrogate": sorted({repr(m.surrogate) for m in module.modules() if isinstance(m, Neuron)}),
        "split_protocol": datamodule.split["protocol"],
        "split_fingerprint": datamodule.split["fingerprint"],
        "n_test": evaluated,
        "n_test_split": n_test,
        "world_size": trainer.world_size,
        "resumed_from_epoch": resume and resume[1],
        "train_samples_per_s": throughput and throughput.samples_per_s,
        **peak_memory(),
    }
    return metrics, facts, module.test_predictions.to_csv(index=False)


def is_pipeline_run(neuron: str, task: str, seed: int, overrides: list[str]) -> bool:
    """Only the cell's own DVC stage (DVC sets DVC_STAGE for its commands), without overrides,
    writes results/runs/; anything else is a scratch run."""
    return not overrides and os.environ.get("DVC_STAGE") == Cell(neuron, task, seed).addressing


@contextmanager
def exclusive(work_dir: Path) -> Iterator[None]:
    """Refuses a second run of the same cell while one runs (it would share checkpoints and logs).
    Held by the launching process (global rank 0) for the whole run; released when it exits."""
    if not is_global_zero():
        yield
        return
    lock_file = work_dir.with_name(work_dir.name + ".lock")
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another run of this cell is in progress (it holds {lock_file}); wait for it to end") from None
        yield


def check_writable(out_dir: Path, min_free_mib: int = 16) -> None:
    """Before training, not after hours of it: the record's folder can be written and has room."""
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir.parent):
            pass
    except OSError as e:
        raise UsageError(f"cannot write results to {out_dir.parent} ({e.strerror}); fix its permissions or free space") from e
    free = shutil.disk_usage(out_dir.parent).free / 2**20
    if free < min_free_mib:
        raise UsageError(f"only {free:.1f} MiB free under {out_dir.parent}; free some disk space before training")


def run_cell(cfg: DictConfig, overrides: list[str], runs_root: Path | None = None, work_root: Path | None = None) -> dict:
    out_dir = run_dir(cfg.task_name, cfg.neuron_name, cfg.seed, runs_root or RUNS_DIR)
    work_dir = run_dir(cfg.task_name, cfg.neuron_name, cfg.seed, work_root or WORK_DIR)
    if is_global_zero():
        check_writable(out_dir)
    with exclusive(work_dir), numerics.pinned_threads(cfg.runtime.get("cpu_threads", numerics.DEFAULT_THREADS)):
        return _run_cell(cfg, overrides, out_dir, work_dir)


def _run_cell(cfg: DictConfig, overrides: list[str], out_dir: Path, work_dir: Path) -> dict:
    resume = prepare_work_dir(cfg, work_dir)
    record = {
        "neuron": cfg.neuron_name,
        "task": cfg.task_name,
        "seed": cfg.seed,
        "status": "ok",
        "overrides": list(overrides),
    }
    start = time.perf_counter()
    error, predictions = None, None
    try:
        record["metrics"], facts, predictions = fit_and_test(cfg, work_dir, resume)
        record.update(facts)
        if not overrides and facts["n_test"] != facts["n_test_split"]:  # e.g. trainer.limit_test_batches in params.yaml
            raise ValueError(f"the test evaluated {facts['n_test']} of the test split's {facts['n_test_split']} samples "
                             f"(trainer.limit_test_batches={cfg.trainer.get('limit_test_batches')}): a partial test is "
                             "not a result; remove the setting from conf/ and params.yaml")
    except SIGTERMException:  # preempted, timed out, stopped: no record, a resumable work dir
        print(f"cell {Cell(cfg.neuron_name, cfg.task_name, cfg.seed)} stopped by SIGTERM; no record written; "
              "rerun it to resume from its last epoch checkpoint", file=sys.stderr)
        raise SystemExit(128 + signal.SIGTERM) from None
    except Exception as e:  # recorded, then re-raised unless it is a divergence (a real outcome)
        error, predictions = e, None  # a failed cell has no test predictions to compare
        record["status"] = "failed"
        record["reason"] = f"{type(e).__name__}: {e}"
    record["provenance"] = {
        **provenance(),
        "config_hash": config_hash(cfg),
        "wall_s": round(time.perf_counter() - start, 2),
    }
    record["config"] = OmegaConf.to_container(cfg, resolve=True)
    if is_global_zero():
        write_record(out_dir, record, history(work_dir), predictions)
        if error is None or isinstance(error, DivergedError):
            (work_dir / "config_hash").unlink(missing_ok=True)  # finished: a rerun trains afresh
    if error is not None and not isinstance(error, DivergedError):
        if isinstance(error, DataError):  # names its file and what to do: no traceback needed
            print(f"{type(error).__name__}: {error}", file=sys.stderr)
        else:
            traceback.print_exception(error)
        raise SystemExit(f"cell {Cell(cfg.neuron_name, cfg.task_name, cfg.seed)} failed; wrote {out_dir}/record.json")
    return record


def seed_number(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"the seed must be a non-negative integer, got {text!r}")
    return int(text)


def checked_config(args: argparse.Namespace) -> DictConfig:
    """The cell's config, with the settings a run would otherwise fail on (after loading data,
    or inside Lightning with a bare assertion) checked first."""
    cfg = cell_config(load_params(), args.neuron, args.task, args.seed, args.overrides)
    if not (isinstance(cfg.trainer.get("max_epochs"), int) and cfg.trainer.max_epochs >= 1):
        raise UsageError(f"trainer.max_epochs must be an integer >= 1, got {cfg.trainer.get('max_epochs')!r}")
    for key in ("callbacks", "logger", "default_root_dir", "use_distributed_sampler"):
        if key in cfg.trainer:
            raise UsageError(f"trainer.{key} is set by bench.train (callbacks and loggers come from the callbacks/ and "
                             f"logger/ config groups); remove it")
    check_trainer(cfg)
    check_loggers(cfg)
    if cfg.runtime.get("neuron_backend") not in BACKENDS:
        backend = cfg.runtime.get("neuron_backend")
        raise UsageError(f"runtime.neuron_backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    numerics.thread_count(cfg.runtime.get("cpu_threads", numerics.DEFAULT_THREADS))  # ValueError: one line
    if any(o.removeprefix("+").startswith("runtime.cpu_isa=") for o in args.overrides):
        raise UsageError("runtime.cpu_isa is fixed when the process starts, before torch loads (params.yaml's "
                         "runtime.cpu_isa, or BENCH_CPU_ISA=<isa> python -m bench.train ...); it cannot change for one run")
    try:
        instantiate(cfg.neuron)  # the neuron checks its own parameters
    except InstantiationException as e:
        raise UsageError(f"neuron {args.neuron}: {e.__cause__ or e}") from e
    return cfg


def stop_with_parent() -> None:
    """SIGTERM to this process when the one that started it ends (Linux): a killed `dvc repro`
    stops its cell as a SIGTERM would (no record, resumable) instead of leaving it to train on
    and write a record nothing commits."""
    if sys.platform != "linux":
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


DVC_RUNS = ("repro", "exp", "commit")  # dvc commands that write dvc.lock under the repository lock


def dvc_commands(root: Path) -> dict[int, list[str]]:
    """pid -> argv of the dvc commands in DVC_RUNS working in the repository at `root` (Linux)."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = [a for a in (proc / "cmdline").read_bytes().decode(errors="replace").split("\0") if a]
            cwd = (proc / "cwd").resolve()
        except OSError:
            continue
        at = next((i for i, a in enumerate(argv[:2]) if Path(a).name == "dvc"), None)  # dvc, or python .../dvc
        command = next((a for a in argv[at + 1:] if not a.startswith("-")), None) if at is not None else None
        if command in DVC_RUNS and (cwd == root or root in cwd.parents):
            found[int(proc.name)] = argv[at:]
    return found


def ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        pid = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])  # field 4: the parent
    return pids


def refuse_a_second_dvc_run(root: Path | None = None) -> None:
    """DVC releases its repository lock while a stage's command runs and takes it back to commit
    the stage: a second `dvc repro` started meanwhile would train its cells for nothing, then fail
    on the lock with their records uncommitted. So a cell that a `dvc repro` or `dvc exp run`
    started without --wait-for-lock refuses to start while another dvc command writes here."""
    if sys.platform != "linux" or "DVC_STAGE" not in os.environ:
        return
    running, mine = dvc_commands((root or Path.cwd()).resolve()), ancestors()
    parents = [argv for pid, argv in running.items() if pid in mine]
    if not parents or any("--wait-for-lock" in argv for argv in parents):
        return
    for pid, argv in running.items():
        if pid not in mine:
            raise UsageError(
                f"another dvc command works in this repository (pid {pid}: dvc {' '.join(argv[1:])}); DVC commits one run "
                "at a time, so this cell would train and then fail on its lock: wait for it, or start both with "
                "`dvc --wait-for-lock repro ...` (scripts/repro-parallel.sh trains many cells and commits once)"
            )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m bench.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("neuron")
    parser.add_argument("task")
    parser.add_argument("seed", type=seed_number)
    parser.add_argument("overrides", nargs="*", help="key=value edits of this cell's config")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a usage error")
    args = parser.parse_args(argv)
    quiet_library_noise()
    stop_with_parent()
    scratch = not is_pipeline_run(args.neuron, args.task, args.seed, args.overrides)
    try:
        if not scratch:
            refuse_a_second_dvc_run()
        cfg = checked_config(args)
        if scratch:  # results/runs/ holds only what the pipeline made
            record = run_cell(cfg, args.overrides, SCRATCH_DIR / "runs", SCRATCH_DIR / "work")
        else:
            record = run_cell(cfg, args.overrides)
    except (UsageError, KeyError, ValueError, FileNotFoundError) as e:  # raised before training starts
        if args.debug:
            raise
        raise SystemExit(f"bench.train: {e.args[0] if isinstance(e, KeyError) else e} (--debug shows where)") from None
    if not is_global_zero():
        return record
    if scratch:
        where = run_dir(args.task, args.neuron, args.seed, SCRATCH_DIR / "runs")
        print(f"not the cell's pipeline stage (overrides, or run by hand): wrote {where}/, not results/runs/ "
              "(only `dvc repro` writes there)", file=sys.stderr)
    m = record.get("metrics", {})
    print(
        f"{Cell(args.neuron, args.task, args.seed)}: {record['status']}"
        + "".join(f", {x.label} {m[x.name]:{x.fmt}}" for x in SHOWN if m.get(x.name) is not None)
        + f" in {record['provenance']['wall_s']} s",
        file=sys.stderr,
    )
    return record


if __name__ == "__main__":
    main()
    skip_exit_collections()
