"""The Lightning Trainer of a cell, built from its config: the Trainer's settings, the configured
callbacks (conf/callbacks/) and loggers (conf/logger/) writing into the cell's work dir, the
checkpoint of an interrupted run to resume from, and the checks that make a wrong setting one
line (UsageError) before any data loads. bench.train runs a cell with it; bench.perf's bare
Lightning loop uses the same settings."""

import shutil
import sys
from pathlib import Path

import lightning as L
import pandas as pd
import torch
from hydra.utils import get_class, instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from bench.callbacks import TrainThroughput
from bench.config import config_hash
from bench.record import SELECTION


class UsageError(Exception):
    """A problem with what was asked for (names, overrides, files): one line, no traceback."""


def quiet_library_noise() -> None:
    """Drops what every run would print without telling the user anything about it: Lightning's
    advertisement for its cloud logger and a deprecation warning inside Lightning's own code."""
    import logging
    import warnings

    class NoTips(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return not str(record.msg).startswith("💡 Tip:")

    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
                 "lightning_utilities.core.rank_zero"):  # the loggers rank_zero_info writes to
        logging.getLogger(name).addFilter(NoTips())
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")


def is_global_zero() -> bool:
    """Before the Trainer exists Lightning reads the rank from the launcher's environment
    (LOCAL_RANK, RANK, SLURM_PROCID); once it runs, the strategy sets the global rank."""
    return rank_zero_only.rank == 0


def checkpoint_epoch(path: Path) -> int:
    return torch.load(path, map_location="cpu", weights_only=False, mmap=True)["epoch"]


def resumable_checkpoint(cfg: DictConfig, work_dir: Path) -> tuple[Path, int] | None:
    """(the last checkpoint of an earlier, interrupted run of exactly this config, its epoch), if
    it loads."""
    last = work_dir / "checkpoints" / "last.ckpt"
    stamp = work_dir / "config_hash"
    if not (last.is_file() and stamp.is_file() and stamp.read_text() == config_hash(cfg)):
        return None
    try:
        return last, checkpoint_epoch(last)
    except Exception as e:  # e.g. killed while writing it
        print(f"not resuming from {last}: it does not load ({type(e).__name__}: {e})", file=sys.stderr)
        return None


def prepare_work_dir(cfg: DictConfig, work_dir: Path) -> tuple[Path, int] | None:
    """Keeps the work dir of an interrupted run of this config (returns its checkpoint) or wipes
    it: a stale checkpoint must never be the "best" one. Only rank 0 touches the files; the other
    DDP ranks start later (inside fit) and see what rank 0 decided."""
    resume = resumable_checkpoint(cfg, work_dir)
    if resume is None and is_global_zero():
        shutil.rmtree(work_dir, ignore_errors=True)
        work_dir.mkdir(parents=True)
        (work_dir / "config_hash").write_text(config_hash(cfg))
    return resume


def make_callbacks(cfg: DictConfig, work_dir: Path) -> tuple[list[L.Callback], ModelCheckpoint, TrainThroughput | None]:
    """The configured callbacks (conf/callbacks/), checkpoints written to the run's work dir;
    (all, the checkpoint that selects the tested model, the throughput meter if configured)."""
    callbacks = []
    for conf in (cfg.callbacks or {}).values():
        if conf is None:
            continue
        extra = {"dirpath": work_dir / "checkpoints"} if issubclass(get_class(conf._target_), ModelCheckpoint) else {}
        callbacks.append(instantiate(conf, **extra))
    mode = "max" if SELECTION.higher_is_better else "min"
    selecting = [c for c in callbacks if isinstance(c, ModelCheckpoint) and c.monitor == SELECTION.logged]
    if len(selecting) != 1 or selecting[0].mode != mode:
        raise ValueError(
            f"callbacks: exactly one ModelCheckpoint must monitor {SELECTION.logged!r} with mode {mode!r}: the test "
            "uses the checkpoint best on validation (conf/callbacks/default.yaml, model_checkpoint)"
        )
    throughput = next((c for c in callbacks if isinstance(c, TrainThroughput)), None)
    return callbacks, selecting[0], throughput


def attempts(work_dir: Path) -> list[Path]:
    """The CSV logs of this work dir's attempts (logs/<n>/, n = 0, 1, ... for resumed runs)."""
    folders = [p for p in (work_dir / "logs").glob("*") if p.name.isdigit()]
    return sorted(folders, key=lambda p: int(p.name))


# The package each of Lightning's optional loggers imports when it is built (after the data is set up).
LOGGER_PACKAGES = {"MLFlowLogger": "mlflow", "WandbLogger": "wandb", "TensorBoardLogger": "tensorboard"}


def check_loggers(cfg: DictConfig) -> None:
    """Each configured logger's package is installed: a missing one is named before training."""
    import importlib.util

    for name, conf in (cfg.logger or {}).items():
        package = LOGGER_PACKAGES.get(str((conf or {}).get("_target_", "")).rsplit(".", 1)[-1])
        if package and importlib.util.find_spec(package) is None:
            raise UsageError(f"logger {name} needs the {package} package: pip install {package} "
                             "(or `pip install -e '.[loggers]'`), or choose another logger (logger=csv)")


def make_loggers(cfg: DictConfig, work_dir: Path) -> list:
    """The configured loggers (conf/logger/), writing under the run's work dir. A resumed run's
    CSV logger gets a new version folder (CSVLogger would overwrite an earlier attempt's file)."""
    loggers = []
    for conf in (cfg.logger or {}).values():
        if conf is None:
            continue
        extra = {"version": str(len(attempts(work_dir)))} if issubclass(get_class(conf._target_), CSVLogger) else {}
        loggers.append(instantiate(conf, save_dir=str(work_dir / "logs"), **extra))
    return loggers


def history(work_dir: Path) -> str | None:
    """Per-epoch logged metrics as CSV (one row per epoch), for training curves, in the record's
    units (accuracies in percent, as in record.json and the tables); for a resumed run, an epoch
    logged by several attempts keeps the last attempt's values."""
    paths = [p / "metrics.csv" for p in attempts(work_dir) if (p / "metrics.csv").is_file()]
    if not paths:
        return None
    logged = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    logged = logged[[c for c in logged.columns if not c.startswith("test/") and c != "step"]]
    per_epoch = logged.groupby("epoch", sort=False).last()  # last non-null value of each column
    per_epoch = per_epoch.dropna(how="all").sort_index().reset_index()
    percent = [c for c in per_epoch if c.rpartition("/")[2].startswith("top")]  # val/top1, val/top5, ...
    per_epoch[percent] = 100 * per_epoch[percent]  # logged as fractions by torchmetrics
    return per_epoch.to_csv(index=False, float_format="%.6g")


def trainer_settings(cfg: DictConfig) -> dict:
    """The configured Trainer arguments. Lightning's progress bar shows on a terminal and stays out
    of logs (`+trainer.enable_progress_bar=true|false` decides otherwise); the EpochReport callback
    writes one line per epoch either way."""
    return {"enable_progress_bar": sys.stderr.isatty(), "enable_model_summary": False, **OmegaConf.to_container(cfg.trainer)}


def check_trainer(cfg: DictConfig) -> None:
    """Builds the configured Trainer once, without running anything, so that a wrong setting
    (`trainer.precision=abc`, an unknown key, a GPU that is not there) is one line before any
    data loads, not a traceback from inside the run."""
    import logging

    quiet = logging.getLogger("lightning.pytorch")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # its "GPU available" lines are printed by the real run
    try:
        L.Trainer(**trainer_settings(cfg), logger=False, enable_checkpointing=False)
    except Exception as e:
        raise UsageError(f"trainer settings ({', '.join(f'{k}={v}' for k, v in cfg.trainer.items())}): {e}") from e
    finally:
        quiet.setLevel(level)


def make_trainer(cfg: DictConfig, work_dir: Path) -> tuple[L.Trainer, ModelCheckpoint, TrainThroughput | None]:
    """The cell's Trainer, writing checkpoints and logs under work_dir; (the Trainer, the checkpoint
    that selects the tested model, the throughput meter if configured)."""
    callbacks, checkpoint, throughput = make_callbacks(cfg, work_dir)
    trainer = L.Trainer(
        **trainer_settings(cfg),
        default_root_dir=work_dir,
        callbacks=callbacks,
        logger=make_loggers(cfg, work_dir) or False,
        use_distributed_sampler=False,  # the DataModule shards the data itself (exact test, no padding)
    )
    return trainer, checkpoint, throughput
