"""The LightningModule every task uses: a spiking backbone, its loss, torchmetrics accuracy and
the efficiency measurements of bench.efficiency (firing rates, operations, energy) at test time."""

from collections.abc import Callable
from functools import partial

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from bench.efficiency import EfficiencyMetrics
from bench.neurons import Neuron

LR_SCHEDULES = ("cosine", "constant")
ENCODINGS = ("direct", "frames")


class DivergedError(RuntimeError):
    """Training produced a non-finite loss: a scientific outcome, recorded as a failed run."""


def accuracy_metrics(num_classes: int) -> MetricCollection:
    # average="micro": the fraction of samples classified correctly (torchmetrics' default is macro).
    return MetricCollection(
        {
            "top1": MulticlassAccuracy(num_classes, top_k=1, average="micro"),
            "top5": MulticlassAccuracy(num_classes, top_k=min(5, num_classes), average="micro"),
        }
    )


class SpikingClassifier(L.LightningModule):
    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        T: int,
        loss: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        lr_schedule: str,
        encoding: str,
    ) -> None:
        super().__init__()
        if T < 1:
            raise ValueError(f"task T (timesteps) must be >= 1, got {T}")
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"task lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")
        self.backbone = backbone
        self.T = T
        if not callable(getattr(loss, "readout", None)):
            raise ValueError(f"task loss {type(loss).__name__} has no readout(logits) naming what predictions are made "
                             "from; subclass bench.losses.TimeLoss")
        self.loss = loss
        self.optimizer = optimizer
        self.lr_schedule = lr_schedule
        if encoding not in ENCODINGS:
            raise ValueError(f"task encoding must be one of {ENCODINGS}, got {encoding!r}")
        self.encoding = encoding
        # Every logged value is accumulated here per step and logged once per epoch: Lightning's
        # self.log costs more Python per call than an embedded task's whole training step.
        # Losses are means weighted by batch size (what self.log(on_epoch=True) computes).
        metrics = accuracy_metrics(num_classes)
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        # the test set after every epoch: the literature's max-over-epochs figure (never selection)
        self.epoch_test_metrics = metrics.clone(prefix="epoch_test/")
        self.losses = nn.ModuleDict({f"{stage}_loss": MeanMetric() for stage in ("train", "val", "epoch_test", "test")})
        self.test_top1_by_epoch: dict[int, float] = {}
        self.efficiency = EfficiencyMetrics(backbone, T)
        self.efficiency_results: dict = {}
        self.test_predictions: pd.DataFrame | None = None  # per test sample: index, target, prediction
        self._predicted: list[Tensor] = []
        self._targets: list[Tensor] = []

    def encode(self, x: Tensor) -> Tensor:
        """direct: the analog image [B, ...] is presented at every timestep;
        frames: event frames [B, T, ...] are presented one per timestep."""
        if self.encoding == "direct":
            return x.unsqueeze(0).expand(self.T, *x.shape)
        if x.shape[1] != self.T:
            raise ValueError(f"event frames have {x.shape[1]} time bins but the task's T is {self.T}")
        return x.transpose(0, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Images [B, ...] -> per-timestep logits [T, B, classes]."""
        return self.backbone(self.encode(x))

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        loss = self.loss(self(x), y)
        if not torch.isfinite(loss):
            where = self.non_finite_source(x)
            raise DivergedError(
                f"non-finite training loss ({loss.item()}) at epoch {self.current_epoch}, step {batch_idx}; {where}"
            )
        self.losses["train_loss"].update(loss.detach(), len(y))
        if batch_idx + 1 == self.trainer.num_training_batches:  # logged before validation and every epoch-end hook
            self.log("train/loss", self.losses["train_loss"].compute(), on_step=False, on_epoch=True)  # averaged over processes
            self.losses["train_loss"].reset()
        return loss

    @torch.no_grad()
    def non_finite_source(self, x: Tensor) -> str:
        """Which layer first produces non-finite values on input x (a forward pass with hooks, run
        only after a failure)."""
        found: list[str] = []

        def check(name: str, module: nn.Module, inputs, output) -> None:
            if not found and isinstance(output, Tensor) and not output.isfinite().all():
                kind = "the neuron's potential" if isinstance(module, Neuron) else type(module).__name__
                finite_input = bool(inputs[0].isfinite().all())
                found.append(f"first non-finite values from layer {name} ({kind}, finite input: {finite_input})")

        hooks = [module.register_forward_hook(partial(check, name)) for name, module in self.backbone.named_modules() if name]
        try:
            self(x)
        finally:
            for hook in hooks:
                hook.remove()
        return found[0] if found else "every layer's output is finite on this batch (the loss itself overflowed)"

    def _evaluate(self, batch: tuple[Tensor, Tensor], stage: str, metrics: MetricCollection) -> Tensor:
        x, y = batch
        logits = self(x)
        if not logits.isfinite().all():  # an argmax over NaN is a class: chance accuracy, not a result
            raise DivergedError(f"non-finite outputs in {stage} at epoch {self.current_epoch}, batch of {len(y)}; "
                                f"{self.non_finite_source(x)}")
        scores = self.loss.readout(logits)
        metrics.update(scores, y)
        self.losses[f"{stage}_loss"].update(self.loss(logits, y), len(y))
        return scores

    def _log_epoch(self, stage: str, metrics: MetricCollection) -> None:
        """Logs what a stage accumulated this epoch (averaged over processes) and resets it."""
        loss = self.losses[f"{stage}_loss"]
        if loss.update_called:
            values = {**metrics.compute(), f"{stage}/loss": loss.compute()}
            if not self.trainer.sanity_checking:
                self.log_dict(values)
        metrics.reset()
        loss.reset()

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        """Loader 0 is the validation split (checkpoint selection); loader 1, when the datamodule
        gives one (test_every_epoch), the test split, only to report the max over epochs."""
        if dataloader_idx == 0:
            self._evaluate(batch, "val", self.val_metrics)
        else:
            self._evaluate(batch, "epoch_test", self.epoch_test_metrics)

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking and self.epoch_test_metrics["top1"].update_called:
            self.test_top1_by_epoch[self.current_epoch] = 100 * float(self.epoch_test_metrics["top1"].compute())
        self._log_epoch("val", self.val_metrics)
        self._log_epoch("epoch_test", self.epoch_test_metrics)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["test_top1_by_epoch"] = dict(self.test_top1_by_epoch)  # a resumed run keeps the earlier epochs

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.test_top1_by_epoch = dict(checkpoint.get("test_top1_by_epoch", {}))

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        logits = self._evaluate(batch, "test", self.test_metrics)
        self.efficiency.add_samples(len(batch[1]))
        self._predicted.append(logits.argmax(-1).cpu())
        self._targets.append(batch[1].cpu())

    def on_test_start(self) -> None:
        # Counting only at test time, so training pays nothing for it.
        self.efficiency.reset()
        self.efficiency.attach()
        self._predicted, self._targets = [], []

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test", self.test_metrics)
        self.efficiency_results = self.efficiency.compute()  # synchronised across processes
        self.test_predictions = self.gather_predictions()

    def gather_predictions(self) -> pd.DataFrame:
        """Every test sample's target and predicted class, by its index in the test split, for the
        paired statistics of the leaderboard. Process r of w evaluated samples r, r + w, ...
        (bench.data.datamodule), in order."""
        empty = np.array([], dtype=np.int64)
        mine = (torch.cat(self._targets).numpy(), torch.cat(self._predicted).numpy()) if self._targets else (empty, empty)
        world = self.trainer.world_size if self._trainer is not None else 1
        shards = [mine]
        if world > 1:
            shards = [None] * world
            torch.distributed.all_gather_object(shards, mine)
        rows = [pd.DataFrame({"index": rank + world * np.arange(len(targets)), "target": targets, "prediction": predicted})
                for rank, (targets, predicted) in enumerate(shards)]
        return pd.concat(rows).sort_values("index").astype(int).reset_index(drop=True)

    def on_test_end(self) -> None:
        self.efficiency.detach()

    def transfer_batch_to_device(self, batch, device, dataloader_idx: int):
        # A batch is (inputs, targets): moved directly, not by Lightning's generic walk over
        # collections, which costs more Python per step than the embedded tasks' whole forward.
        x, y = batch
        return x.to(device, non_blocking=True), y.to(device, non_blocking=True)

    def configure_optimizers(self):
        optimizer = self.optimizer(self.parameters())
        if self.lr_schedule == "constant":
            return optimizer
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.trainer.max_epochs)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
