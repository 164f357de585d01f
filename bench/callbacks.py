"""Lightning callbacks that measure a run (training throughput, peak memory), report its
progress (one line per epoch) or make it resumable (random number generator states in
checkpoints)."""

import resource
import sys
import time

import lightning as L
import torch
from lightning.fabric.utilities.seed import _collect_rng_states, _set_rng_states  # used by Lightning's isolate_rng


class TrainThroughput(L.Callback):
    """Training samples per second over the optimisation steps only (data loading of the next
    batch, validation and checkpointing excluded), summed over all processes."""

    def __init__(self) -> None:
        self.samples = 0
        self.seconds = 0.0
        self._start = 0.0

    def _sync(self, trainer: L.Trainer) -> None:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize(trainer.strategy.root_device)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._sync(trainer)
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._sync(trainer)
        self.seconds += time.perf_counter() - self._start
        self.samples += len(batch[1]) * trainer.world_size

    @property
    def samples_per_s(self) -> float | None:
        return self.samples / self.seconds if self.seconds else None


def peak_memory() -> dict:
    """CUDA: peak memory allocated by tensors; CPU: the process's peak resident set size."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return {"peak_memory_mib": torch.cuda.max_memory_allocated() / 2**20, "peak_memory_kind": "cuda_allocated"}
    return {"peak_memory_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "peak_memory_kind": "process_rss"}


class ResumableRNG(L.Callback):
    """Stores the torch/numpy/python random number generator states in every checkpoint and puts
    them back at the start of the first epoch after resuming, so that a run interrupted and
    resumed draws the same shuffles, augmentations and dropout masks as an uninterrupted one.

    The states are captured when the checkpoint is written (after the epoch's validation) and
    restored at the next epoch's start: nothing in between draws random numbers (Lightning's
    sanity check runs under isolate_rng)."""

    def __init__(self) -> None:
        self._pending: dict | None = None

    def state_dict(self) -> dict:
        return _collect_rng_states(include_cuda=torch.cuda.is_available())

    def load_state_dict(self, state_dict: dict) -> None:
        self._pending = state_dict

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if self._pending is not None:
            _set_rng_states(self._pending)
            self._pending = None


class EpochReport(L.Callback):
    """One line per epoch on stderr (global rank 0), so that a long run is not silent and a log
    file shows its course: epoch, training loss, validation top-1 and the best so far, seconds.
    `+trainer.enable_progress_bar=true` adds Lightning's per-batch bar."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._best: tuple[float, int] | None = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:  # after the epoch's validation
        if not trainer.is_global_zero:
            return
        logged = trainer.callback_metrics
        epoch = trainer.current_epoch + 1
        parts = []
        if "train/loss" in logged:
            parts.append(f"train loss {float(logged['train/loss']):.4f}")
        if "val/top1" in logged:
            top1 = 100 * float(logged["val/top1"])
            if self._best is None or top1 > self._best[0]:
                self._best = (top1, epoch)
            parts.append(f"val top-1 {top1:.2f}% (best {self._best[0]:.2f}% at epoch {self._best[1]})")
        parts.append(f"{time.perf_counter() - self._start:.1f} s")
        print(f"epoch {epoch}/{trainer.max_epochs}: " + ", ".join(parts), file=sys.stderr, flush=True)
