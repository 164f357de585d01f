"""Building one cell from its resolved config (bench.config.cell_config): the datamodule, the
neurons (calibrated for the task, on the configured backend), the backbone and the
LightningModule. Training (bench.train) and the read-only reports (bench.summary, bench.perf)
build a cell the same way."""

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

from bench import numerics
from bench.config import prepared_dir
from bench.module import SpikingClassifier
from bench.neurons.base import Neuron


def neuron_factory(cfg: DictConfig):
    """A function returning a new neuron per call (every spiking layer owns one), with the
    runtime's backend and its surrogate calibrated for what that layer receives: the task's T,
    the tdBN scale of its input (the model's alpha unless the backbone says otherwise, e.g. a
    residual sum) and, for the stem under direct encoding, the same input at every step."""
    make = instantiate(cfg.neuron, _partial_=True, backend=cfg.runtime.neuron_backend)

    def neuron(*, stem: bool = False, alpha: float | None = None) -> Neuron:
        layer = make()
        layer.calibrate(
            T=cfg.task.T,
            alpha=cfg.task.model.alpha if alpha is None else alpha,
            repeated_input=stem and cfg.task.encoding == "direct",
        )
        return layer

    return neuron


def build_datamodule(cfg: DictConfig) -> L.LightningDataModule:
    return instantiate(cfg.task.data, prepared_dir=str(prepared_dir(cfg.task_name)), shuffle_seed=cfg.seed)


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, SpikingClassifier]:
    numerics.route_vendor_kernels()  # before anything computes: no kernel whose bits depend on the CPU vendor
    datamodule = build_datamodule(cfg)
    backbone = instantiate(
        cfg.task.model, neuron=neuron_factory(cfg), input_shape=datamodule.input_shape, num_classes=datamodule.num_classes
    )
    module = SpikingClassifier(
        backbone,
        num_classes=datamodule.num_classes,
        T=cfg.task.T,
        loss=instantiate(cfg.task.loss),
        optimizer=instantiate(cfg.task.optimizer, _partial_=True),
        lr_schedule=cfg.task.lr_schedule,
        encoding=cfg.task.encoding,
    )
    return datamodule, module
