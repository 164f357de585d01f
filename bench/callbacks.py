"""Lightning callbacks that measure a run: training throughput and peak memory."""

import resource
import time

import lightning as L
import torch


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
