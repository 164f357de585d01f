"""Costs at paper scale, measured: what one training step of a task's real network costs, and
what a whole profile would cost on this device.

`train`: for each task's network, built exactly as a cell builds it (bench.builder) and fed
synthetic data of the task's input shape, the median time of a training step (forward, loss,
backward, optimiser step) and of an evaluation step (forward only), samples/s, the bytes
autograd keeps for backward and, on CUDA, the peak memory of a training step; per neuron and
neuron backend, at the batch size given (default: the task's own; a paper task on a CPU wants a
smaller one, e.g. --batch 8: a step's time grows about linearly with it) and the task's
precision (or --precision: bf16-mixed runs the step under torch.autocast).

`profile`: the cells of a profile (composed from conf/ as `dvc exp run -S profile=<name>` does),
each projected from the measured step times: epochs x (training steps + validation steps) +
one test pass, with the sample counts of the task's split (split_samples). The table's cells
are projected (a profile's sweep cells are not). Projections read measurements from --measured
(JSON written by `train --out`, e.g. by scripts/gpu-check.sh on a GPU; those of the profile's
neuron backend and the precision asked for) and measure what is missing on this device. They
are device-hours of that device at that batch size: data loading, logging and checkpoints are
not included, so a real run takes longer (docs/performance.md compares one cell). It says up
front what it will measure and prints a line per (task, neuron) as it goes, with the time left;
on a CPU it measures at batch 2 with one timed step unless --batch/--steps say otherwise.
"""

import json
import math
import statistics
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from bench.builder import build
from bench.config import cell_config, load_params, prepared_dir


def split_samples(cfg: DictConfig) -> tuple[int, int, int]:
    """Training, validation and test samples of the task's split, from its data settings and the
    official dataset sizes: CIFAR 50,000 training + 10,000 test images; ImageNet-1k 1,281,167
    training images + 50,000 validation images (the test set; val_per_class are held out of
    training); CIFAR10-DVS 10,000 recordings, 1,000 per class (bench.data.cifar10dvs); SHD and SSC
    their published files' recordings (bench.data.hsd). Other
    tasks: the sample lists of their committed split (data/prepared/<task>/split.json)."""
    source = cfg.task.data.source
    target = source._target_.rsplit(".", 1)[-1]
    if target == "CIFAR":
        return 50_000 - source.val_size, source.val_size, 10_000
    if target == "ImageNet":
        val = source.val_per_class * 1000
        return 1_281_167 - val, val, 50_000
    if target == "CIFAR10DVS":  # 1,000 recordings per class; tet70 tests on 300 of them, the others on 100
        pool = 7_000 if source.protocol == "tet70" else 9_000
        val = 10 * round(source.val_fraction * pool / 10)
        return (pool - val, val, 10_000 - pool) if val else (pool, 10_000 - pool, 10_000 - pool)  # 0: test selects
    if target in ("SHD", "SSC"):  # the published files' recordings (bench.data.hsd; reads no file)
        hsd = instantiate(source)
        counts = hsd.published_counts
        train, test = counts["train"], counts["test"]
        if hsd.validation == "published":
            return train, counts["valid"], test
        if hsd.validation == "random":
            val = round(hsd.val_fraction * train)
            return train - val, val, test
        return train, test, test  # none: the test file selects
    split_file = prepared_dir(cfg.task_name) / "split.json"  # an embedded task's committed split lists its samples
    if split_file.is_file():
        split = json.loads(split_file.read_text())
        if all(isinstance(split.get(k), list) for k in ("train", "val", "test")):
            return len(split["train"]), len(split["val"]), len(split["test"])
    raise ValueError(f"task {cfg.task_name}: no sample counts known for {source._target_} (bench/costs.py split_samples) "
                     f"and no {split_file} listing them (run `dvc repro prepare@{cfg.task_name}`)")


def synthetic_batch(cfg: DictConfig, input_shape, num_classes: int, batch: int, device: str):
    g = torch.Generator().manual_seed(0)
    if cfg.task.encoding == "direct":
        x = torch.randn(batch, *input_shape, generator=g)
    else:  # event frames: nonnegative counts per timestep
        x = torch.rand(batch, cfg.task.T, *input_shape, generator=g)
    return x.to(device), torch.randint(num_classes, (batch,), generator=g).to(device)


def _timed(step, device: str, n: int) -> float:
    times = []
    for _ in range(n):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_step(task: str, neuron: str, backend: str, device: str, batch: int | None = None, steps: int = 5,
                 precision: str | None = None, params: DictConfig | None = None) -> dict:
    """Median training-step and evaluation-step time of one task's network with one neuron."""
    cfg = cell_config(params or load_params(), neuron, task, 0, [f"runtime.neuron_backend={backend}"])
    precision = precision or str(cfg.trainer.get("precision", "32-true"))
    if precision not in ("32-true", "32", "bf16-mixed"):
        raise ValueError(f"bench.perf train: precision {precision!r} is not measured here (32-true or bf16-mixed)")
    batch = batch or int(cfg.task.data.batch_size)
    torch.manual_seed(0)
    datamodule, module = build(cfg)
    module.to(device)
    x, y = synthetic_batch(cfg, datamodule.input_shape, datamodule.num_classes, batch, device)
    optimizer = module.optimizer(module.parameters())
    autocast = torch.autocast(device, dtype=torch.bfloat16) if precision == "bf16-mixed" else nullcontext()

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = module.loss(module(x), y)
        loss.backward()
        optimizer.step()

    def eval_step() -> None:
        with torch.no_grad(), autocast:
            module(x)

    module.train()
    train_step(), train_step()  # warm-up, including compilation on the fused path
    train_s = _timed(train_step, device, steps)
    saved = saved_bytes(lambda: module.loss(module(x), y), autocast)
    peak = _cuda_peak(train_step) if device == "cuda" else None
    module.eval()
    eval_step()
    eval_s = _timed(eval_step, device, steps)
    return {
        "task": task, "neuron": neuron, "backend": backend, "device": _device_name(device), "precision": precision,
        "batch": batch, "train_step_s": train_s, "eval_step_s": eval_s, "train_samples_per_s": batch / train_s,
        "eval_samples_per_s": batch / eval_s, "saved_for_backward_mib": saved / 2**20,
        **({"cuda_peak_mib": peak / 2**20} if peak is not None else {}),
    }


def saved_bytes(forward, context=None) -> int:
    """Bytes of the distinct storages autograd keeps for backward during one forward (a callable
    returning a scalar, run under `context`, then backpropagated)."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), context or nullcontext():
        loss = forward()
    loss.backward()
    return sum(storages.values())


def _cuda_peak(step) -> int:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated()


def _device_name(device: str) -> str:
    return torch.cuda.get_device_name() if device == "cuda" else f"cpu ({torch.get_num_threads()} threads)"


def profile_cells(profile: str) -> tuple[DictConfig, list]:
    """params.yaml as `dvc exp run -S profile=<profile>` composes it, and the profile's cells."""
    from bench.compose import compose
    from bench.plan import planned_cells

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "params.yaml"
        compose(path, [f"profile={profile}"])
        params = OmegaConf.load(path)
    return params, planned_cells(params.profile)


def project(params: DictConfig, cells: list, measured: list[dict]) -> list[dict]:
    """Device-hours per cell from the step times measured for its task and neuron."""
    by_pair = {(m["task"], m["neuron"]): m for m in measured}
    rows = []
    for cell in cells:
        cfg = cell_config(params, cell.neuron, cell.task, cell.seed)
        m = by_pair[(cell.task, cell.neuron)]
        train, val, test = split_samples(cfg)
        epochs = int(cfg.trainer.max_epochs)
        steps = math.ceil(train / m["batch"])
        eval_steps = math.ceil(val / m["batch"])
        test_s = math.ceil(test / m["batch"]) * m["eval_step_s"]
        # the test split after every epoch too, for the max over epochs (task.data.test_every_epoch)
        per_epoch_test_s = test_s if cfg.task.data.get("test_every_epoch", True) else 0.0
        seconds = epochs * (steps * m["train_step_s"] + eval_steps * m["eval_step_s"] + per_epoch_test_s) + test_s
        rows.append({"cell": str(cell), "task": cell.task, "neuron": cell.neuron,
                     "epochs": epochs, "train_samples": train, "device": m["device"], "precision": m["precision"],
                     "batch": m["batch"], "hours": seconds / 3600})
    return rows


def cpu_defaults(device: str, batch: int | None, steps: int | None) -> tuple[int | None, int]:
    """A paper network's step at its own batch size takes minutes on a CPU: there a profile is
    measured at batch 2 with one timed step unless asked otherwise (the projection is per sample)."""
    if device == "cpu":
        return batch or 2, steps or 1
    return batch, steps or 3


def profile_hours(profile: str, measured_files: list[Path], device: str, batch: int | None = None,
                  precision: str | None = None, steps: int | None = None, say=print) -> list[dict]:
    """Projected hours of every cell of a profile; what --measured lacks is measured here, one
    line per (task, neuron) as it is measured, with the time left estimated from those done."""
    params, cells = profile_cells(profile)
    backend = params.runtime.neuron_backend  # what the profile's cells run
    measured = [
        m for path in measured_files for m in json.loads(Path(path).read_text())
        if m["backend"] == backend and (precision is None or m["precision"] == precision)
    ]
    have = {(m["task"], m["neuron"]) for m in measured}
    todo = sorted({(c.task, c.neuron) for c in cells} - have)
    batch, steps = cpu_defaults(device, batch, steps)
    say(f"profile {profile}: {len(cells)} cells; {len(todo)} (task, neuron) pairs to measure on {device} "
        f"({len(have)} from --measured), each {steps} timed training and evaluation step(s) after 2 warm-up steps, "
        f"at batch {batch or 'of the task'}; the time left is estimated after the first")
    took: dict[str, list[float]] = {}  # task -> seconds per pair: its network decides the cost
    for i, (task, neuron) in enumerate(todo, 1):
        start = time.perf_counter()
        m = measure_step(task, neuron, backend, device, batch, steps, precision, params)
        took.setdefault(task, []).append(time.perf_counter() - start)
        measured.append(m)
        every = [t for ts in took.values() for t in ts]
        left = sum(statistics.mean(took.get(t, every)) for t, _ in todo[i:])
        say(f"[{i}/{len(todo)}] {task} {neuron}: training step {m['train_step_s']:.3g} s, evaluation step "
            f"{m['eval_step_s']:.3g} s at batch {m['batch']} (measured in {took[task][-1]:.1f} s)"
            + (f"; about {left / 60:.1f} min left" if i < len(todo) else ""))
    return project(params, cells, measured)


def save(path: Path, rows: list[dict], append: bool = True) -> None:
    from bench.atomic import write_text

    old = json.loads(path.read_text()) if append and path.is_file() else []
    write_text(path, json.dumps(old + rows, indent=1) + "\n")


def step_table(rows: list[dict]) -> str:
    lines = ["| task | neuron | backend | device | precision | batch | train step (ms) | train samples/s | "
             "eval samples/s | saved for backward (MiB) | CUDA peak (MiB) |", "|" + "---|" * 11]
    for r in rows:
        peak = f"{r['cuda_peak_mib']:.0f}" if "cuda_peak_mib" in r else "-"
        lines.append(f"| {r['task']} | {r['neuron']} | {r['backend']} | {r['device']} | {r['precision']} | {r['batch']} | "
                     f"{1e3 * r['train_step_s']:.1f} | {r['train_samples_per_s']:.1f} | {r['eval_samples_per_s']:.1f} | "
                     f"{r['saved_for_backward_mib']:.0f} | {peak} |")
    return "\n".join(lines)


def hours_table(profile: str, rows: list[dict]) -> str:
    """Hours per cell and in total, per task and neuron, then for the whole profile."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["task"], r["neuron"]), []).append(r)
    lines = [f"profile {profile}: projected device-hours (training + validation + test compute; no data loading)",
             "| task | neuron | cells | epochs | train samples | device | precision | batch | hours per cell | hours |",
             "|" + "---|" * 10]
    for (task, neuron), group in groups.items():
        r = group[0]
        lines.append(f"| {task} | {neuron} | {len(group)} | {r['epochs']} | {r['train_samples']} | {r['device']} | "
                     f"{r['precision']} | {r['batch']} | {r['hours']:.3g} | {sum(g['hours'] for g in group):.3g} |")
    lines.append(f"| **all** | | {len(rows)} | | | | | | | **{sum(r['hours'] for r in rows):.3g}** |")
    return "\n".join(lines)
