"""Train and test one cell of the benchmark matrix and write its record.

Usage: python -m bench.train <neuron> <task> <seed> [key=value ...]

Reads params.yaml (run from the repository root); overrides edit this run's config (e.g.
`trainer.max_epochs=1`, or `trainer=ddp trainer.devices=2` for one cell on two processes) and are
stored in the record. Writes results/runs/<task>/<neuron>/<seed>/{record.json,history.csv} all at
once, after the run, from the global-rank-0 process only: a crashed run leaves a record with
status "failed" and its reason, never a half-written one.

An interrupted run (killed, preempted) resumes from its last epoch checkpoint when rerun with the
same config, and ends with the same numbers as an uninterrupted run.
"""

import argparse
import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

import lightning as L
import pandas as pd
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from bench.callbacks import ResumableRNG, TrainThroughput, peak_memory
from bench.config import RUNS_DIR, cell_config, config_hash, load_params, run_dir
from bench.module import DivergedError, SpikingClassifier
from bench.neurons.base import Neuron
from bench.provenance import provenance

WORK_DIR = Path("outputs/runs")  # checkpoints and raw logs (git-ignored)


def is_global_zero() -> bool:
    """Before the Trainer exists Lightning reads the rank from the launcher's environment
    (LOCAL_RANK, RANK, SLURM_PROCID); once it runs, the strategy sets the global rank."""
    return rank_zero_only.rank == 0


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, SpikingClassifier]:
    datamodule = instantiate(cfg.task.data, shuffle_seed=cfg.seed)
    neuron = instantiate(cfg.neuron, _partial_=True)  # a factory: one neuron per layer
    c, h, _ = datamodule.input_shape
    backbone = instantiate(
        cfg.task.model, neuron=neuron, in_channels=c, input_size=h, num_classes=datamodule.num_classes
    )
    for layer in backbone.modules():
        if isinstance(layer, Neuron):
            layer.calibrate(T=cfg.task.T, alpha=cfg.task.model.alpha)
            layer.backend = cfg.runtime.neuron_backend
    module = SpikingClassifier(
        backbone,
        num_classes=datamodule.num_classes,
        T=cfg.task.T,
        loss=instantiate(cfg.task.loss),
        optimizer=instantiate(cfg.task.optimizer, _partial_=True),
        lr_schedule=cfg.task.lr_schedule,
        encoding=cfg.task.get("encoding", "direct"),
    )
    return datamodule, module


def resumable_checkpoint(cfg: DictConfig, work_dir: Path) -> Path | None:
    """The last checkpoint of an earlier, interrupted run of exactly this config, if it loads."""
    last = work_dir / "checkpoints" / "last.ckpt"
    stamp = work_dir / "config_hash"
    if not (last.is_file() and stamp.is_file() and stamp.read_text() == config_hash(cfg)):
        return None
    try:
        torch.load(last, map_location="cpu", weights_only=False)
    except Exception as e:  # e.g. killed while writing it
        print(f"not resuming from {last}: it does not load ({type(e).__name__}: {e})", file=sys.stderr)
        return None
    return last


def prepare_work_dir(cfg: DictConfig, work_dir: Path) -> Path | None:
    """Keeps the work dir of an interrupted run of this config (returns its checkpoint) or wipes
    it: a stale checkpoint must never be the "best" one. Only rank 0 touches the files; the other
    DDP ranks start later (inside fit) and see what rank 0 decided."""
    resume = resumable_checkpoint(cfg, work_dir)
    if resume is None and is_global_zero():
        shutil.rmtree(work_dir, ignore_errors=True)
        work_dir.mkdir(parents=True)
        (work_dir / "config_hash").write_text(config_hash(cfg))
    return resume


def fit_and_test(cfg: DictConfig, work_dir: Path, resume: Path | None = None) -> tuple[dict, dict]:
    """Returns (metrics in percent, extra facts). Test uses the checkpoint best on validation."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, module = build(cfg)
    checkpoint = ModelCheckpoint(
        dirpath=work_dir / "checkpoints",
        filename="best",
        monitor="val/top1",
        mode="max",
        save_last=True,  # resume point, written after every epoch
        enable_version_counter=False,  # a resumed run overwrites best.ckpt instead of adding best-v1.ckpt
    )
    throughput = TrainThroughput()
    attempt = len(list((work_dir / "logs").glob("*")))  # CSVLogger would delete an earlier attempt's metrics.csv
    trainer = L.Trainer(
        **OmegaConf.to_container(cfg.trainer),
        default_root_dir=work_dir,
        callbacks=[checkpoint, throughput, ResumableRNG()],
        logger=CSVLogger(work_dir / "logs", name="", version=str(attempt)),
        use_distributed_sampler=False,  # the DataModule shards the data itself (exact test, no padding)
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    # weights_only=False: our own checkpoints also hold optimizer and numpy RNG states
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume, weights_only=False)
    (test,) = trainer.test(module, datamodule=datamodule, ckpt_path="best", verbose=False, weights_only=False)
    n_test = len(datamodule.data["test"])
    full_test = trainer.limit_test_batches == 1.0 and isinstance(trainer.limit_test_batches, float)  # int 1 = one batch
    if full_test and module.efficiency_results["samples"] != n_test:
        raise RuntimeError(
            f"the test evaluated {module.efficiency_results['samples']} samples but the test split has {n_test}"
        )
    # float32 metric states: round away the noise below what the sample counts can resolve
    metrics = {
        "test_top1": round(100 * test["test/top1"], 4),
        "test_top5": round(100 * test["test/top5"], 4),
        "val_top1": round(100 * float(checkpoint.best_model_score), 4),
        **module.efficiency_results,  # firing rates, operations, energy
    }
    facts = {
        "epochs": trainer.current_epoch,
        "best_epoch": torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=False)["epoch"],
        "params": sum(p.numel() for p in module.parameters()),
        "surrogate": sorted({repr(m.surrogate) for m in module.modules() if isinstance(m, Neuron)}),
        "split_protocol": datamodule.split["protocol"],
        "split_fingerprint": datamodule.split["fingerprint"],
        "n_test": n_test,
        "world_size": trainer.world_size,
        "resumed_from_epoch": None if resume is None else torch.load(resume, map_location="cpu", weights_only=False, mmap=True)["epoch"],
        "train_samples_per_s": throughput.samples_per_s,
        **peak_memory(),
    }
    return metrics, facts


def history(work_dir: Path) -> pd.DataFrame | None:
    """Per-epoch logged metrics (one row per epoch), for training curves; for a resumed run, an
    epoch logged by several attempts keeps the last attempt's values."""
    paths = sorted((work_dir / "logs").glob("*/metrics.csv"), key=lambda p: int(p.parent.name))
    if not paths:
        return None
    logged = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    logged = logged[[c for c in logged.columns if not c.startswith("test/") and c != "step"]]
    per_epoch = logged.groupby("epoch", sort=False).last()  # last non-null value of each column
    return per_epoch.dropna(how="all").sort_index().reset_index()


def write_atomically(out_dir: Path, record: dict, hist: pd.DataFrame | None) -> None:
    staging = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / "record.json").write_text(json.dumps(record, indent=2) + "\n")
    if hist is not None:
        hist.to_csv(staging / "history.csv", index=False, float_format="%.6g")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(staging, out_dir)


def run_cell(cfg: DictConfig, overrides: list[str], runs_root: Path | None = None, work_root: Path | None = None) -> dict:
    out_dir = run_dir(cfg.task_name, cfg.neuron_name, cfg.seed, runs_root or RUNS_DIR)
    work_dir = run_dir(cfg.task_name, cfg.neuron_name, cfg.seed, work_root or WORK_DIR)
    resume = prepare_work_dir(cfg, work_dir)
    record = {
        "neuron": cfg.neuron_name,
        "task": cfg.task_name,
        "seed": cfg.seed,
        "status": "ok",
        "overrides": list(overrides),
    }
    start = time.perf_counter()
    error = None
    try:
        record["metrics"], facts = fit_and_test(cfg, work_dir, resume)
        record.update(facts)
    except Exception as e:  # recorded, then re-raised unless it is a divergence (a real outcome)
        error = e
        record["status"] = "failed"
        record["reason"] = f"{type(e).__name__}: {e}"
    record["provenance"] = {
        **provenance(),
        "config_hash": config_hash(cfg),
        "wall_s": round(time.perf_counter() - start, 2),
    }
    record["config"] = OmegaConf.to_container(cfg, resolve=True)
    if is_global_zero():
        write_atomically(out_dir, record, history(work_dir))
        if error is None or isinstance(error, DivergedError):
            (work_dir / "config_hash").unlink(missing_ok=True)  # finished: a rerun trains afresh
    if error is not None and not isinstance(error, DivergedError):
        traceback.print_exception(error)
        raise SystemExit(f"cell {cfg.neuron_name}/{cfg.task_name}/{cfg.seed} failed; wrote {out_dir}/record.json")
    return record


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("neuron")
    parser.add_argument("task")
    parser.add_argument("seed", type=int)
    parser.add_argument("overrides", nargs="*", help="key=value edits of this cell's config")
    args = parser.parse_args(argv)
    cfg = cell_config(load_params(), args.neuron, args.task, args.seed, args.overrides)
    record = run_cell(cfg, args.overrides)
    if not is_global_zero():
        return record
    m = record.get("metrics", {})
    print(
        f"{args.neuron}/{args.task}/{args.seed}: {record['status']}"
        + (f" test top-1 {m['test_top1']:.2f}% (val {m['val_top1']:.2f}%), firing rate {m['firing_rate']:.3f}" if m else "")
        + f" in {record['provenance']['wall_s']} s",
        file=sys.stderr,
    )
    return record


if __name__ == "__main__":
    main()
