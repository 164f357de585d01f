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
  per-update (mul, add) cost;
- energy under a named model. `horowitz45-fp32` (Horowitz, ISSCC 2014, 45 nm, fp32):
  4.6 pJ per MAC, 0.9 pJ per accumulate/addition, 3.7 pJ per multiplication.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import SumMetric

from bench.neurons.base import Neuron


@dataclass(frozen=True)
class EnergyModel:
    name: str
    pj_per_mac: float
    pj_per_ac: float
    pj_per_mul: float
    pj_per_add: float


HOROWITZ45_FP32 = EnergyModel("horowitz45-fp32", pj_per_mac=4.6, pj_per_ac=0.9, pj_per_mul=3.7, pj_per_add=0.9)

COUNTERS = ("samples", "dense", "effective_macs", "effective_acs", "membrane_updates", "neuron_mul", "neuron_add", "spikes")


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
        self.counts = nn.ModuleDict({name: SumMetric() for name in COUNTERS})
        self.layer_names = [name for name, m in backbone.named_modules() if isinstance(m, Neuron)]
        # per spiking layer (ModuleDict keys cannot hold the dots of module names)
        self.layer_spikes = nn.ModuleDict({str(i): SumMetric() for i in range(len(self.layer_names))})
        self.layer_updates = nn.ModuleDict({str(i): SumMetric() for i in range(len(self.layer_names))})
        self._hooks: list = []

    def attach(self) -> None:
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
            ops = type(neuron).ops_per_update()
            self.counts["membrane_updates"].update(updates)
            self.counts["neuron_mul"].update(updates * ops.mul)
            self.counts["neuron_add"].update(updates * ops.add)
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
            + m.pj_per_mul * per["neuron_mul"]
            + m.pj_per_add * per["neuron_add"]
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
            "neuron_operations": {"mul": per["neuron_mul"], "add": per["neuron_add"]},
            "activation_sparsity": 1.0 - firing,
            "energy_mj": energy_pj * 1e-9,
            "energy_model": m.name,
            "samples": int(c["samples"]),
        }

    def reset(self) -> None:
        for group in (self.counts, self.layer_spikes, self.layer_updates):
            for metric in group.values():
                metric.reset()
