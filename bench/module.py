"""The LightningModule every task uses: a spiking backbone, its loss, torchmetrics accuracy and
firing-rate measurement."""

from collections.abc import Callable

import lightning as L
import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from bench.efficiency import EfficiencyMetrics
from bench.neurons.base import Neuron

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
        lr_schedule: str = "cosine",
        encoding: str = "direct",
    ) -> None:
        super().__init__()
        if T < 1:
            raise ValueError(f"task T (timesteps) must be >= 1, got {T}")
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"task lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")
        self.backbone = backbone
        self.T = T
        self.loss = loss
        self.optimizer = optimizer
        self.lr_schedule = lr_schedule
        if encoding not in ENCODINGS:
            raise ValueError(f"task encoding must be one of {ENCODINGS}, got {encoding!r}")
        self.encoding = encoding
        metrics = accuracy_metrics(num_classes)
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.efficiency = EfficiencyMetrics()
        self.efficiency_results: dict = {}
        self.neuron_names = [name for name, m in backbone.named_modules() if isinstance(m, Neuron)]
        # Pooled over every neuron of every layer: mean spikes per neuron per timestep.
        self.firing_rate = MeanMetric()
        self.layer_firing_rates = nn.ModuleDict({str(i): MeanMetric() for i in range(len(self.neuron_names))})
        self._hooks: list = []

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
            raise DivergedError(f"non-finite training loss ({loss.item()}) at epoch {self.current_epoch}, step {batch_idx}")
        self.log("train/loss", loss, on_step=False, on_epoch=True, sync_dist=True)
        return loss

    def _evaluate(self, batch: tuple[Tensor, Tensor], stage: str, metrics: MetricCollection) -> None:
        x, y = batch
        logits = self(x)
        self.log(f"{stage}/loss", self.loss(logits, y), on_step=False, on_epoch=True, sync_dist=True)
        metrics.update(logits.mean(0), y)
        self.log_dict(metrics, on_step=False, on_epoch=True)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val", self.val_metrics)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test", self.test_metrics)
        self.efficiency.add_samples(len(batch[1]))
        self.log("test/firing_rate", self.firing_rate, on_step=False, on_epoch=True)
        for i, metric in self.layer_firing_rates.items():
            self.log(f"test/firing_rate/{self.neuron_names[int(i)]}", metric, on_step=False, on_epoch=True)

    def on_test_start(self) -> None:
        # Counting only at test time, so training pays nothing for it.
        self.efficiency.reset()
        self.efficiency.attach(self.backbone)
        modules = dict(self.backbone.named_modules())
        for i, name in enumerate(self.neuron_names):
            self._hooks.append(modules[name].register_forward_hook(self._count_spikes(self.layer_firing_rates[str(i)])))

    def on_test_epoch_end(self) -> None:
        self.efficiency_results = self.efficiency.compute()  # synchronised across processes

    def on_test_end(self) -> None:
        self.efficiency.detach()
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()

    def _count_spikes(self, layer_metric: MeanMetric):
        def hook(module: nn.Module, inputs, spikes: Tensor) -> None:
            rate, n = spikes.detach().float().mean(), spikes.numel()
            layer_metric.update(rate, weight=n)
            self.firing_rate.update(rate, weight=n)

        return hook

    def configure_optimizers(self):
        optimizer = self.optimizer(self.parameters())
        if self.lr_schedule == "constant":
            return optimizer
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.trainer.max_epochs)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
