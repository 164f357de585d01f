"""An equal tuning budget per arm: every neuron at its best, not at the settings chosen for LIF.

Usage:
  python -m bench.tune study <neuron> <task>       # the search (DVC stage tune@<neuron>-<task>)
  python -m bench.tune cell <neuron> <task> <seed>  # a cell at the chosen settings (stage tuned@<neuron>-<task>-<seed>)

For each neuron of the profile on each task of `tuning.tasks` (conf/tuning/), one Optuna study
searches the same space (`tuning.space`, plus the neuron's own settings in `tuning.neurons`, as
bench.plan writes it into params.yaml's plan.studies) with
the same number of trials, the same TPE sampler and seed, and the same median pruner. Trial 0 is
the shared settings themselves, so a study never chooses worse than them on validation. A trial
trains `tuning.epochs` epochs with the training seed `tuning.seed` (none of the profile's seeds) and
is scored by its best validation top-1; it never loads the test split. The study writes
results/tuning/<task>/<neuron>/study.json: every trial (settings, per-epoch validation top-1,
pruned or complete) and the best one.

A tuned cell is the cell of bench.train with the best trial's settings applied; its record's config
names the study and the trial (`tuning`), and it is written to results/tuned/<task>/<neuron>/<seed>/.
As with bench.train, only the DVC stage writes under results/; a run by hand writes under
outputs/scratch/.
"""

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

TUNING_DIR = Path("results/tuning")  # one study per (task, neuron)
TUNED_DIR = Path("results/tuned")  # the tuned cells' records, laid out as results/runs/
STUDY_FILE = "study.json"
SCRATCH_DIR = Path("outputs/scratch")


def study_dir(task: str, neuron: str, root: Path = TUNING_DIR) -> Path:
    return root / task / neuron


def stage_name(kind: str, neuron: str, task: str, seed: int | None = None) -> str:
    """The DVC stage that writes this under results/ (dvc.yaml's `tune` and `tuned`)."""
    return f"{kind}@{neuron}-{task}" + ("" if seed is None else f"-{seed}")


def is_pipeline_run(stage: str) -> bool:
    return os.environ.get("DVC_STAGE") == stage


# ---- the search --------------------------------------------------------------------------------


def trial_config(params: DictConfig, neuron: str, task: str, settings: dict) -> DictConfig:
    """The cell's config at a trial's settings: the tuning seed, `tuning.epochs`, and validation
    only (the per-epoch test pass of bench.train is off)."""
    from bench.config import cell_config

    cfg = cell_config(params, neuron, task, params.tuning.seed)
    for path, value in settings.items():
        OmegaConf.update(cfg, path, value, merge=False)
    cfg.trainer.max_epochs = params.tuning.epochs
    with open_dict(cfg):
        cfg.task.data.test_every_epoch = False
    return cfg


def run_trial(cfg: DictConfig, report) -> float:
    """Trains one trial and returns its best validation top-1 (%). `report(epoch, top1)` is called
    after every validation and may raise optuna.TrialPruned. The test split is never loaded."""
    import lightning as L

    from bench.builder import build
    from bench.trainer import trainer_settings

    scores: list[float] = []

    class Report(L.Callback):
        def on_validation_end(self, trainer, module) -> None:  # after the epoch's metrics are logged
            if not trainer.sanity_checking:
                scores.append(100 * float(trainer.callback_metrics["val/top1"]))
                report(trainer.current_epoch, scores[-1])

    def refuse(*_):  # a trial that reached the test split would leak it into the choice
        raise RuntimeError("a tuning trial asked for the test split")

    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, module = build(cfg)
    datamodule.test_dataloader = refuse
    trainer = L.Trainer(**{**trainer_settings(cfg), "enable_progress_bar": False}, logger=False, enable_checkpointing=False,
                        callbacks=[Report()], use_distributed_sampler=False)
    trainer.fit(module, datamodule=datamodule)
    return max(scores)


def shared_settings(params: DictConfig, neuron: str, task: str, space: dict) -> dict:
    """The settings the shared-settings cells use, at each path of the space: trial 0."""
    from bench.config import cell_config

    cfg = cell_config(params, neuron, task, params.tuning.seed)
    return {path: OmegaConf.select(cfg, path) for path in space}


def run_study(params: DictConfig, neuron: str, task: str, log=print) -> dict:
    """The study of one arm on one task, as study.json holds it."""
    import optuna

    from bench import numerics
    from bench.config import config_hash
    from bench.module import DivergedError

    tuning = params.tuning
    space = OmegaConf.to_container(params.plan.studies[f"{neuron}-{task}"].space)  # bench.plan.search_space
    trials: list[dict] = []

    def objective(trial: "optuna.Trial") -> float:
        settings = {path: trial.suggest_float(path, s["low"], s["high"], log=bool(s.get("log"))) for path, s in space.items()}
        curve: list[float] = []

        def report(epoch: int, top1: float) -> None:
            curve.append(top1)
            trial.report(top1, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        cfg = trial_config(params, neuron, task, settings)
        entry = {"number": trial.number, "settings": settings, "config_hash": config_hash(cfg), "val_top1_by_epoch": curve}
        trials.append(entry)
        start = time.perf_counter()
        try:
            entry["value"] = run_trial(cfg, report)
            entry["state"] = "complete"
        except optuna.TrialPruned:
            entry["value"], entry["state"] = max(curve), "pruned"
            raise
        except DivergedError as e:  # as a cell: a failed run, so these settings score nothing
            entry["value"], entry["state"], entry["reason"] = 0.0, "diverged", str(e)
        finally:
            entry["wall_s"] = round(time.perf_counter() - start, 2)
            log(f"{task}/{neuron} trial {trial.number}: {entry.get('state', 'failed')} after {len(curve)} epochs, "
                f"best val top-1 {max(curve, default=float('nan')):.2f} ({_settings_text(settings)}), {entry['wall_s']} s")
        return entry["value"]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # a trial's line says what matters
    sampler = optuna.samplers.TPESampler(seed=tuning.sampler_seed, n_startup_trials=tuning.startup_trials + 1)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=tuning.startup_trials, n_warmup_steps=tuning.warmup_epochs)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    study.enqueue_trial(shared_settings(params, neuron, task, space))
    start = time.perf_counter()
    with numerics.pinned_threads(params.runtime.get("cpu_threads", numerics.DEFAULT_THREADS)):
        study.optimize(objective, n_trials=tuning.trials, catch=())
    best = study.best_trial
    return {
        "neuron": neuron, "task": task, "metric": "val_top1", "seed": tuning.seed, "epochs": tuning.epochs,
        "sampler": f"optuna.samplers.TPESampler(seed={tuning.sampler_seed}, n_startup_trials={tuning.startup_trials + 1})",
        "pruner": f"optuna.pruners.MedianPruner(n_startup_trials={tuning.startup_trials}, n_warmup_steps={tuning.warmup_epochs})",
        "optuna": optuna.__version__, "space": space, "trials": trials,
        "best": {"trial": best.number, "value": best.value, "settings": dict(best.params)},
        "wall_s": round(time.perf_counter() - start, 2),
    }


def _settings_text(settings: dict) -> str:
    return ", ".join(f"{path.rpartition('.')[2]} {value:.4g}" for path, value in settings.items())


# ---- the tuned cells ---------------------------------------------------------------------------


def read_study(task: str, neuron: str, root: Path = TUNING_DIR) -> dict:
    path = study_dir(task, neuron, root) / STUDY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run its study first (dvc repro {stage_name('tune', neuron, task)})")
    study = json.loads(path.read_text())
    if study.get("neuron") != neuron or study.get("task") != task or "best" not in study:
        raise ValueError(f"{path}: not the study of {neuron} on {task}; re-run {stage_name('tune', neuron, task)}")
    return study


def tuned_config(params: DictConfig, neuron: str, task: str, seed: int, study: dict, study_path: str) -> DictConfig:
    """The cell's config at the study's best settings, naming the study and the trial that chose them."""
    from bench.config import cell_config

    cfg = cell_config(params, neuron, task, seed)
    settings = study["best"]["settings"]
    for path, value in settings.items():
        OmegaConf.update(cfg, path, value, merge=False)
    with open_dict(cfg):
        cfg.tuning = {"study": study_path, "trial": study["best"]["trial"], "val_top1": study["best"]["value"],
                      "trial_epochs": study["epochs"], "settings": settings}
    return cfg


def expected_config(params: DictConfig, neuron: str, task: str, seed: int, root: Path = TUNING_DIR) -> DictConfig | None:
    """What a tuned cell's record must have been made with (None: its study is missing)."""
    try:
        study = read_study(task, neuron, root)
    except (FileNotFoundError, ValueError):
        return None
    return tuned_config(params, neuron, task, seed, study, str(study_dir(task, neuron) / STUDY_FILE))


# ---- command line ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["study", "cell"])
    parser.add_argument("neuron")
    parser.add_argument("task")
    parser.add_argument("seed", nargs="?", type=int)
    parser.add_argument("--debug", action="store_true", help="show the traceback of a refusal")
    args = parser.parse_args(argv)
    if (args.what == "cell") != (args.seed is not None):
        parser.error("`cell` takes <neuron> <task> <seed>; `study` takes <neuron> <task>")
    try:
        if args.what == "study":
            tune(args.neuron, args.task)
        else:
            train_tuned(args.neuron, args.task, args.seed)
    except (KeyError, ValueError, FileNotFoundError) as e:
        if args.debug:
            raise
        raise SystemExit(f"bench.tune: {e.args[0] if isinstance(e, KeyError) else e} (--debug shows where)") from None


def checked_params(neuron: str, task: str, seed: int | None = None) -> DictConfig:
    """params.yaml, if its plan has this study (seed None) or tuned cell."""
    from bench.config import Cell, load_params

    params = load_params()
    plan = params.get("plan") or {}
    planned = (plan.get("studies") or {}) if seed is None else (plan.get("tuned") or {})
    key = f"{neuron}-{task}" if seed is None else Cell(neuron, task, seed).key
    if key not in planned:
        what = f"a study of {neuron} on {task}" if seed is None else f"a tuned cell {task}/{neuron}/{seed}"
        raise ValueError(f"params.yaml's plan has no {what} (the profile's neurons x `tuning.tasks`, conf/tuning/)")
    trainer = params.get("trainer") or {}
    if trainer.get("devices", 1) != 1 or trainer.get("num_nodes", 1) != 1:
        raise ValueError("a tuning study runs in one process: trainer.devices and trainer.num_nodes must be 1")
    return params


def tune(neuron: str, task: str) -> dict:
    from bench import atomic
    from bench.provenance import provenance
    from bench.train import refuse_a_second_dvc_run, stop_with_parent
    from bench.trainer import quiet_library_noise

    params = checked_params(neuron, task)
    quiet_library_noise()
    stop_with_parent()
    pipeline = is_pipeline_run(stage_name("tune", neuron, task))
    if pipeline:
        refuse_a_second_dvc_run()
    root = TUNING_DIR if pipeline else SCRATCH_DIR / "tuning"
    study = run_study(params, neuron, task, log=lambda line: print(line, file=sys.stderr))
    study["provenance"] = provenance()
    out = study_dir(task, neuron, root)
    with atomic.atomic_path(out) as staging:
        staging.mkdir(parents=True)
        (staging / STUDY_FILE).write_text(json.dumps(study, indent=1, sort_keys=True, allow_nan=False) + "\n")
    best = study["best"]
    print(f"{task}/{neuron}: best trial {best['trial']} of {len(study['trials'])}, val top-1 {best['value']:.2f} "
          f"({_settings_text(best['settings'])}) in {study['wall_s']} s; wrote {out}/", file=sys.stderr)
    return study


def train_tuned(neuron: str, task: str, seed: int) -> dict:
    from bench.train import refuse_a_second_dvc_run, run_cell, stop_with_parent
    from bench.trainer import quiet_library_noise

    params = checked_params(neuron, task, seed)
    quiet_library_noise()
    stop_with_parent()
    pipeline = is_pipeline_run(stage_name("tuned", neuron, task, seed))
    if pipeline:
        refuse_a_second_dvc_run()
    study = read_study(task, neuron)
    cfg = tuned_config(params, neuron, task, seed, study, str(study_dir(task, neuron) / STUDY_FILE))
    if pipeline:
        record = run_cell(cfg, [], TUNED_DIR, Path("outputs/tuned"))
    else:
        record = run_cell(cfg, [], SCRATCH_DIR / "tuned", SCRATCH_DIR / "tuned-work")
        print(f"not the cell's pipeline stage: wrote under {SCRATCH_DIR / 'tuned'}/, not {TUNED_DIR}/", file=sys.stderr)
    m = record.get("metrics") or {}
    top1 = m.get("test_top1")
    print(f"{task}/{neuron}/{seed} (tuned, trial {study['best']['trial']}): {record['status']}"
          + (f", top-1 {top1:.2f}" if top1 is not None else ""), file=sys.stderr)
    return record


if __name__ == "__main__":
    main()
    if "torch" in sys.modules:
        from bench import skip_exit_collections

        skip_exit_collections()
