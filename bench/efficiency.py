"""Efficiency of a spiking network, measured with forward hooks into torchmetrics sums (so the
counts are synchronised correctly across DDP processes). Where NeuroBench (Yik et al., Nature
Communications 2025; the `neurobench` package) defines a figure, the suite counts it NeuroBench's
way, and tests/test_neurobench.py checks it against the package number for number.

- firing rate: spikes per neuron per timestep, per spiking layer and pooled over all neurons;
  activation sparsity is 1 minus the pooled rate (NeuroBench's ActivationSparsity).

Per sample, over all T timesteps (NeuroBench's SynapticOperations and MembraneUpdates):
- dense: the operations of every convolution and linear layer with all its inputs and weights
  nonzero: padding excluded (a kernel position over zero padding is no operation);
- effective MACs: operations of layers whose input is not spikes (values other than -1, 0, 1: the
  first layer under direct encoding, a layer after average pooling): nonzero inputs times the
  nonzero weights they reach, borders and strides included;
- effective ACs: the same for layers fed with spikes: one accumulate per spike per weight it reaches;
- static MACs: the part of the effective MACs whose input is the same at every timestep (the stem
  under direct encoding computes one result T times);
- membrane updates: the potentials that changed (NeuroBench's MembraneUpdates: every neuron at the
  first step, then each neuron whose potential before its spike test, h, differs from the previous
  step's); neuron updates: every neuron at every step (neurons x T);
- neuron operations: neuron updates x each neuron's declared per-update cost by kind
  (bench.neurons.base.OpCount: add, mul, div, cmp, exp, log, sigmoid, tanh, sqrt).
Per network: footprint (bytes of parameters and buffers) and connection sparsity (the share of
zero weights in convolution and linear layers), NeuroBench's Footprint and ConnectionSparsity.

Two energy models, every record carries both (docs/efficiency.md):
- `conventional-horowitz45-fp32`, what SEW-ResNet/Spikformer-style papers report: MACs of a layer
  whose input is static once per sample, every other non-spike input's MACs at every step (those
  layers are named in the record's `synaptic_inputs`), one AC per synaptic event; neuron updates
  are not counted. The leaderboard shows this one.
- `full-horowitz45-fp32`: everything the network computes: every effective MAC at every step,
  the ACs, and every neuron's update at every step, each operation kind priced.
Prices: Horowitz, ISSCC 2014, 45 nm, fp32: 0.9 pJ per addition or accumulate, 3.7 pJ per
multiplication, 4.6 pJ per MAC. A comparison is priced as the subtraction it is (0.9 pJ) and a
division as 7.1 multiplications (26.3 pJ), both after Table 3 of
https://pmc.ncbi.nlm.nih.gov/articles/PMC8934428/ (the 7.1 measured on an ARM Cortex-M4F). No
hardware figure was found for the transcendental functions; the suite prices them by how a
libm-style fp32 implementation computes them: exp and log as range reduction plus a degree-5
polynomial (6 multiplications, 7 additions: 28.5 pJ), sigmoid as 1 / (1 + exp(-x)) (exp, addition,
division: 55.7 pJ), tanh as 2 sigmoid(2x) - 1 (64.0 pJ), sqrt as a division (the same latency on
the Cortex-M4F).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import SumMetric

from bench.neurons.base import OP_KINDS, Neuron


@dataclass(frozen=True)
class EnergyModel:
    """What is counted (`counting`) and its price: pJ per synaptic operation (MAC, AC) and per
    neuron operation of each OpCount kind."""

    name: str
    counting: Literal["conventional", "full"]
    pj_per_mac: float
    pj_per_ac: float
    pj_per_op: Mapping[str, float]

    def __post_init__(self) -> None:
        missing = set(OP_KINDS) - set(self.pj_per_op)
        if missing:
            raise ValueError(f"energy model {self.name!r} prices no {sorted(missing)}: every operation kind needs a cost")

    def energy_pj(self, per_sample: Mapping[str, float], T: int) -> float:
        """Energy of one sample from its counts (COUNTERS per sample)."""
        conventional = self.counting == "conventional"  # a static input's result computed once, neurons free
        macs = per_sample["effective_macs"] - (per_sample["static_macs"] * (1 - 1 / T) if conventional else 0)
        synapses = self.pj_per_mac * macs + self.pj_per_ac * per_sample["effective_acs"]
        if conventional:
            return synapses
        return synapses + sum(self.pj_per_op[kind] * per_sample[f"neuron_{kind}"] for kind in OP_KINDS)


_ADD, _MUL = 0.9, 3.7  # Horowitz 2014, fp32
_DIV = 7.1 * _MUL
_EXP = 6 * _MUL + 7 * _ADD
_SIGMOID = _EXP + _ADD + _DIV
_HOROWITZ45_FP32 = {
    "pj_per_mac": 4.6,  # Horowitz's fp32 multiply plus add
    "pj_per_ac": _ADD,
    "pj_per_op": {
        "add": _ADD, "mul": _MUL, "div": _DIV, "cmp": _ADD, "exp": _EXP, "log": _EXP,
        "sigmoid": _SIGMOID, "tanh": _SIGMOID + 2 * _MUL + _ADD, "sqrt": _DIV,
    },
}
CONVENTIONAL = EnergyModel("conventional-horowitz45-fp32", "conventional", **_HOROWITZ45_FP32)
FULL = EnergyModel("full-horowitz45-fp32", "full", **_HOROWITZ45_FP32)

NEURON_COUNTERS = tuple(f"neuron_{kind}" for kind in OP_KINDS)
COUNTERS = ("samples", "dense", "effective_macs", "static_macs", "effective_acs", "membrane_updates", "neuron_updates",
            *NEURON_COUNTERS, "spikes")
# what feeds a synaptic layer: spikes (ACs), an input equal at every step (MACs once), other values
INPUT_KINDS = ("spikes", "static", "analog")


def _sum() -> SumMetric:
    # float64: a float32 sum loses operations beyond 2^24 (276,576,624 would read 276,576,640)
    return SumMetric().set_dtype(torch.float64)


def is_spikes(inp: Tensor) -> bool:
    """NeuroBench's test: only -1, 0 and 1 (a signed spike costs an accumulate too)."""
    return bool(((inp == 0) | (inp == 1) | (inp == -1)).all())


def is_static(inp: Tensor, T: int) -> bool:
    """The input is the same at every one of T steps (time-major, as SeqToANN folds it)."""
    if T < 2 or inp.shape[0] % T:
        return False
    steps = inp.reshape(T, -1)
    return bool((steps[1:] == steps[:1]).all())


def synaptic_ops(layer: nn.Module, inp: Tensor, out: Tensor) -> tuple[float, float]:
    """(dense ops, effective ops) of one conv/linear call, NeuroBench's way: the layer applied to
    its binarised input with binarised weights (all ones for dense), no bias, summed."""
    if isinstance(layer, nn.Conv2d):
        def count(x: Tensor, w: Tensor) -> Tensor:
            return F.conv2d(x, w, None, layer.stride, layer.padding, layer.dilation, layer.groups).sum()

        ones = torch.ones((1, *inp.shape[1:]), dtype=inp.dtype, device=inp.device)
        dense = count(ones, torch.ones_like(layer.weight)) * inp.shape[0]  # zero padding adds nothing
        effective = count((inp != 0).to(inp.dtype), (layer.weight != 0).to(inp.dtype))
    else:
        dense = out.numel() * layer.in_features
        effective = ((inp != 0).to(inp.dtype) @ (layer.weight != 0).to(inp.dtype).t()).sum()
    return float(dense), float(effective)


def changed_potentials(neuron: Neuron, x: Tensor, recurrent: Tensor | None = None) -> float:
    """NeuroBench's membrane updates of one layer call [T, ...]: all neurons at the first step,
    then those whose potential h differs from the previous step's."""
    h = neuron.potentials(x, recurrent)
    return float(h[0].numel() + torch.count_nonzero(h[1:] - h[:-1]))


def footprint_bytes(network: nn.Module) -> int:
    """Bytes of parameters and buffers (NeuroBench's Footprint)."""
    return sum(t.numel() * t.element_size() for t in (*network.parameters(), *network.buffers()))


def connection_sparsity(network: nn.Module) -> float:
    """Zero weights / weights of the convolution and linear layers (NeuroBench's ConnectionSparsity,
    unrounded)."""
    weights = [m.weight for m in network.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    total = sum(w.numel() for w in weights)
    return float(sum(int((w == 0).sum()) for w in weights) / total) if total else 0.0


class EfficiencyMetrics(nn.Module):
    """Counts, while attached, the operations and spikes of a backbone's forward passes of T steps."""

    def __init__(self, backbone: nn.Module, T: int) -> None:
        super().__init__()
        self.backbone = [backbone]  # a list: not registered as a submodule of the metrics
        self.T = T
        self.counts = nn.ModuleDict({name: _sum() for name in COUNTERS})
        self.layer_names = [name for name, m in backbone.named_modules() if isinstance(m, Neuron)]
        # per spiking layer (ModuleDict keys cannot hold the dots of module names)
        self.layer_spikes = nn.ModuleDict({str(i): _sum() for i in range(len(self.layer_names))})
        self.layer_updates = nn.ModuleDict({str(i): _sum() for i in range(len(self.layer_names))})
        self.input_kinds: dict[str, str] = {}  # synaptic layer -> what fed it (the most costly kind seen)
        self._hooks: list = []

    def attach(self) -> None:
        for metric in self._metrics():  # a zero update: a sum nothing adds to reads 0, not a warning
            metric.update(0.0)
        layer_index = {name: i for i, name in enumerate(self.layer_names)}
        for name, module in self.backbone[0].named_modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                self._hooks.append(module.register_forward_hook(self._synapse_counter(name)))
            elif isinstance(module, Neuron):
                self._hooks.append(module.register_forward_hook(self._neuron_counter(str(layer_index[name]), name)))

    def detach(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()

    def add_samples(self, n: int) -> None:
        self.counts["samples"].update(float(n))

    def _synapse_counter(self, layer_name: str):
        @torch.no_grad()
        def count(layer: nn.Module, inputs: tuple[Tensor, ...], out: Tensor) -> None:
            inp = inputs[0]
            dense, effective = synaptic_ops(layer, inp, out)
            kind = "spikes" if is_spikes(inp) else "static" if is_static(inp, self.T) else "analog"
            self.counts["dense"].update(dense)
            self.counts["effective_acs" if kind == "spikes" else "effective_macs"].update(effective)
            if kind == "static":
                self.counts["static_macs"].update(effective)
            seen = self.input_kinds.get(layer_name, kind)
            self.input_kinds[layer_name] = max(seen, kind, key=INPUT_KINDS.index)

        return count

    def _neuron_counter(self, layer: str, name: str):
        @torch.no_grad()
        def count(neuron: Neuron, inputs: tuple[Tensor, ...], spikes: Tensor) -> None:
            recurrent = inputs[1] if len(inputs) > 1 else None  # Neuron.forward(x, recurrent)
            updates, fired = float(spikes.numel()), spikes.detach().float().sum()
            self.counts["neuron_updates"].update(updates)
            self.counts["membrane_updates"].update(changed_potentials(neuron, inputs[0], recurrent))
            if recurrent is not None:
                self._count_recurrent_synapses(f"{name} (recurrent)", spikes, recurrent)
            for kind, count in type(neuron).ops_per_update().as_dict().items():
                self.counts[f"neuron_{kind}"].update(updates * count)
            self.counts["spikes"].update(fired)
            self.layer_updates[layer].update(updates)
            self.layer_spikes[layer].update(fired)

        return count

    def _count_recurrent_synapses(self, name: str, spikes: Tensor, recurrent: Tensor) -> None:
        """A recurrent layer's synapses, fed the layer's spikes of the step before from the second
        step on (the first has none: Neuron.multistep), as synaptic_ops counts a linear layer."""
        previous = spikes[:-1].reshape(-1, recurrent.shape[1])
        self.counts["dense"].update(float(previous.shape[0] * recurrent.numel()))
        self.counts["effective_acs"].update(
            float(((previous != 0).to(previous.dtype) @ (recurrent != 0).to(previous.dtype).t()).sum()))
        self.input_kinds[name] = "spikes"

    def compute(self) -> dict:
        """Per-sample figures (after DDP synchronisation of the sums)."""
        c = {name: float(metric.compute()) for name, metric in self.counts.items()}
        n = max(c["samples"], 1.0)
        per = {name: c[name] / n for name in COUNTERS if name != "samples"}
        firing = per["spikes"] / per["neuron_updates"] if per["neuron_updates"] else 0.0
        per_layer = {
            name: float(self.layer_spikes[str(i)].compute()) / max(float(self.layer_updates[str(i)].compute()), 1.0)
            for i, name in enumerate(self.layer_names)
        }
        network = self.backbone[0]
        return {
            "firing_rate": firing,  # mean spikes per neuron per timestep, pooled over all layers
            "firing_rate_per_layer": per_layer,
            "synaptic_operations": {
                "dense": per["dense"],
                "effective_macs": per["effective_macs"],
                "effective_acs": per["effective_acs"],
                "static_macs": per["static_macs"],
            },
            "synaptic_inputs": dict(self.input_kinds),
            "membrane_updates": per["membrane_updates"],
            "neuron_updates": per["neuron_updates"],
            "neuron_operations": {kind: per[f"neuron_{kind}"] for kind in OP_KINDS},
            "activation_sparsity": 1.0 - firing,
            "footprint_bytes": footprint_bytes(network),
            "connection_sparsity": connection_sparsity(network),
            "energy_mj": CONVENTIONAL.energy_pj(per, self.T) * 1e-9,
            "energy_model": CONVENTIONAL.name,
            "energy_full_mj": FULL.energy_pj(per, self.T) * 1e-9,
            "energy_full_model": FULL.name,
            "samples": int(c["samples"]),
        }

    def _metrics(self) -> list[SumMetric]:
        return [*self.counts.values(), *self.layer_spikes.values(), *self.layer_updates.values()]

    def reset(self) -> None:
        for metric in self._metrics():
            metric.reset()
        self.input_kinds.clear()
