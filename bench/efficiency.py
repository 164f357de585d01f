"""Efficiency of a spiking network, measured with forward hooks into torchmetrics sums (so the
counts are synchronised correctly across DDP processes). Names follow NeuroBench where they
coincide (ActivationSparsity, SynapticOperations: Dense / Effective_MACs / Effective_ACs,
MembraneUpdates).

- firing rate: spikes per neuron per timestep, per spiking layer and pooled over all neurons;
  activation sparsity is 1 minus the pooled rate.

Per sample, over all T timesteps:
- dense: multiply-accumulates of every convolution and linear layer as if its input were dense;
- effective MACs: operations of layers whose input is not binary (the first layer, fed the
  analog image by direct encoding): nonzero inputs times the weights they reach;
- effective ACs: the same for layers fed with spikes: each spike costs one accumulate per
  weight it reaches (counted exactly, borders and strides included, by convolving the input's
  nonzero mask with the weights' nonzero mask);
- membrane updates: neurons x T; neuron operations: membrane updates x each neuron's declared
  per-update cost by kind (bench.neurons.base.OpCount: add, mul, div, cmp, exp, log, sigmoid,
  tanh, sqrt), which includes the threshold comparison;
- energy under a named model, every operation kind priced (docs/efficiency.md has the sources).
  `horowitz45-fp32`: Horowitz, ISSCC 2014, 45 nm, fp32: 0.9 pJ per addition or accumulate,
  3.7 pJ per multiplication, 4.6 pJ per MAC. A comparison is priced as the subtraction it is
  (0.9 pJ) and a division as 7.1 multiplications (26.3 pJ), both after Table 3 of
  https://pmc.ncbi.nlm.nih.gov/articles/PMC8934428/ (the 7.1 measured on an ARM Cortex-M4F).
  No hardware figure was found for the transcendental functions; the suite prices them by how a
  libm-style fp32 implementation computes them: exp and log as range reduction plus a degree-5
  polynomial (6 multiplications, 7 additions: 28.5 pJ), sigmoid as 1 / (1 + exp(-x)) (exp,
  addition, division: 55.7 pJ), tanh as 2 sigmoid(2x) - 1 (64.0 pJ), sqrt as a division
  (the same latency on the Cortex-M4F).
"""

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import SumMetric

from bench.neurons.base import OP_KINDS, Neuron


@dataclass(frozen=True)
class EnergyModel:
    """pJ per synaptic operation (MAC, AC) and per neuron operation of each OpCount kind."""

    name: str
    pj_per_mac: float
    pj_per_ac: float
    pj_per_op: Mapping[str, float]

    def __post_init__(self) -> None:
        missing = set(OP_KINDS) - set(self.pj_per_op)
        if missing:
            raise ValueError(f"energy model {self.name!r} prices no {sorted(missing)}: every operation kind needs a cost")


_ADD, _MUL = 0.9, 3.7  # Horowitz 2014, fp32
_DIV = 7.1 * _MUL
_EXP = 6 * _MUL + 7 * _ADD
_SIGMOID = _EXP + _ADD + _DIV
HOROWITZ45_FP32 = EnergyModel(
    "horowitz45-fp32",
    pj_per_mac=4.6,  # Horowitz's fp32 multiply plus add
    pj_per_ac=_ADD,
    pj_per_op={
        "add": _ADD, "mul": _MUL, "div": _DIV, "cmp": _ADD, "exp": _EXP, "log": _EXP,
        "sigmoid": _SIGMOID, "tanh": _SIGMOID + 2 * _MUL + _ADD, "sqrt": _DIV,
    },
)

NEURON_COUNTERS = tuple(f"neuron_{kind}" for kind in OP_KINDS)
COUNTERS = ("samples", "dense", "effective_macs", "effective_acs", "membrane_updates", *NEURON_COUNTERS, "spikes")


def _sum() -> SumMetric:
    # float64: a float32 sum loses operations beyond 2^24 (276,576,624 would read 276,576,640)
    return SumMetric().set_dtype(torch.float64)


def _synaptic_ops(layer: nn.Module, inp: Tensor, out: Tensor) -> tuple[float, float]:
    """(dense ops, effective ops) of one conv/linear call."""
    nonzero_in = (inp != 0).to(inp.dtype)
    reach = (layer.weight != 0).to(inp.dtype)
    if isinstance(layer, nn.Conv2d):
        dense = out.numel() * layer.weight[0].numel()
        effective = F.conv2d(nonzero_in, reach, None, layer.stride, layer.padding, layer.dilation, layer.groups).sum()
    else:
        dense = out.numel() * layer.in_features
        effective = (nonzero_in @ reach.t()).sum()
    return float(dense), float(effective)


class EfficiencyMetrics(nn.Module):
    """Counts, while attached, the operations and spikes of a backbone's forward passes."""

    def __init__(self, backbone: nn.Module, energy_model: EnergyModel = HOROWITZ45_FP32) -> None:
        super().__init__()
        self.backbone = [backbone]  # a list: not registered as a submodule of the metrics
        self.energy_model = energy_model
        self.counts = nn.ModuleDict({name: _sum() for name in COUNTERS})
        self.layer_names = [name for name, m in backbone.named_modules() if isinstance(m, Neuron)]
        # per spiking layer (ModuleDict keys cannot hold the dots of module names)
        self.layer_spikes = nn.ModuleDict({str(i): _sum() for i in range(len(self.layer_names))})
        self.layer_updates = nn.ModuleDict({str(i): _sum() for i in range(len(self.layer_names))})
        self._hooks: list = []

    def attach(self) -> None:
        for metric in self._metrics():  # a zero update: a sum nothing adds to reads 0, not a warning
            metric.update(0.0)
        layer_index = {name: i for i, name in enumerate(self.layer_names)}
        for name, module in self.backbone[0].named_modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                self._hooks.append(module.register_forward_hook(self._count_synapses))
            elif isinstance(module, Neuron):
                self._hooks.append(module.register_forward_hook(self._neuron_counter(str(layer_index[name]))))

    def detach(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()

    def add_samples(self, n: int) -> None:
        self.counts["samples"].update(float(n))

    @torch.no_grad()
    def _count_synapses(self, layer: nn.Module, inputs: tuple[Tensor, ...], out: Tensor) -> None:
        inp = inputs[0]
        dense, effective = _synaptic_ops(layer, inp, out)
        binary = bool(((inp == 0) | (inp == 1)).all())
        self.counts["dense"].update(dense)
        self.counts["effective_acs" if binary else "effective_macs"].update(effective)

    def _neuron_counter(self, layer: str):
        @torch.no_grad()
        def count(neuron: Neuron, inputs: tuple[Tensor, ...], spikes: Tensor) -> None:
            updates, fired = float(spikes.numel()), spikes.detach().float().sum()
            self.counts["membrane_updates"].update(updates)
            for kind, count in type(neuron).ops_per_update().as_dict().items():
                self.counts[f"neuron_{kind}"].update(updates * count)
            self.counts["spikes"].update(fired)
            self.layer_updates[layer].update(updates)
            self.layer_spikes[layer].update(fired)

        return count

    def compute(self) -> dict:
        """Per-sample figures (after DDP synchronisation of the sums)."""
        c = {name: float(metric.compute()) for name, metric in self.counts.items()}
        n = max(c["samples"], 1.0)
        per = {name: c[name] / n for name in COUNTERS if name != "samples"}
        m = self.energy_model
        energy_pj = (
            m.pj_per_mac * per["effective_macs"]
            + m.pj_per_ac * per["effective_acs"]
            + sum(m.pj_per_op[kind] * per[f"neuron_{kind}"] for kind in OP_KINDS)
        )
        firing = per["spikes"] / per["membrane_updates"] if per["membrane_updates"] else 0.0
        per_layer = {
            name: float(self.layer_spikes[str(i)].compute()) / max(float(self.layer_updates[str(i)].compute()), 1.0)
            for i, name in enumerate(self.layer_names)
        }
        return {
            "firing_rate": firing,  # mean spikes per neuron per timestep, pooled over all layers
            "firing_rate_per_layer": per_layer,
            "synaptic_operations": {
                "dense": per["dense"],
                "effective_macs": per["effective_macs"],
                "effective_acs": per["effective_acs"],
            },
            "membrane_updates": per["membrane_updates"],
            "neuron_operations": {kind: per[f"neuron_{kind}"] for kind in OP_KINDS},
            "activation_sparsity": 1.0 - firing,
            "energy_mj": energy_pj * 1e-9,
            "energy_model": m.name,
            "samples": int(c["samples"]),
        }

    def _metrics(self) -> list[SumMetric]:
        return [*self.counts.values(), *self.layer_spikes.values(), *self.layer_updates.values()]

    def reset(self) -> None:
        for metric in self._metrics():
            metric.reset()
