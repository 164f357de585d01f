"""Recurrent spiking networks for the temporal benchmarks (SHD, SSC): a layer whose neurons receive
their feed-forward input and, through recurrent weights, the layer's own spikes of the step before,

    h[t] = u[t-1] + f(u[t-1]) + tdBN(W x)[t] + V s[t-1]        (s[-1] = 0)

with any neuron of the library (multi-state ones included) and the rest of its update as the neuron
defines it (bench/neurons/base.py). As in Bittar & Garner 2022 (idiap/sparch, RLIF/RadLIF layers),
V starts orthogonal, has no bias and no self-connections (its diagonal is held at zero: a neuron's
own past is its dynamics' part), and the feed-forward input is normalised, the recurrent one not.

The loop is the neuron's own (Neuron.forward with recurrent weights), on the configured path
(runtime.neuron_backend): `eager` with autograd, `bptt` without autograd and with backpropagation
through time written out (bench/neurons/bptt.py), for one-state and multi-state neurons alike; the
two agree up to float rounding (tests/test_recurrent.py). `fused` has no recurrent loop yet and
says so.
"""

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from bench.models.layers import SeqToANN, TdBatchNorm1d
from bench.neurons.base import Neuron


class RecurrentSpikingLayer(nn.Module):
    """Linear -> tdBN -> neuron, with recurrent weights from the layer's spikes (recurrent=True)."""

    def __init__(self, neuron: Neuron, c_in: int, width: int, alpha: float = 1.0, recurrent: bool = True) -> None:
        super().__init__()
        self.synapses = SeqToANN(nn.Linear(c_in, width, bias=False))
        self.norm = TdBatchNorm1d(width, alpha=alpha, threshold=neuron.threshold)
        self.neuron = neuron
        self.recurrent = nn.Linear(width, width, bias=False) if recurrent else None
        if self.recurrent is not None:
            nn.init.orthogonal_(self.recurrent.weight)
            self.register_buffer("off_diagonal", 1.0 - torch.eye(width), persistent=False)

    def recurrent_weight(self) -> Tensor:
        """V with its diagonal held at zero (the gradient of the diagonal is zero too)."""
        return self.recurrent.weight * self.off_diagonal

    def forward(self, x: Tensor) -> Tensor:
        """[T, B, c_in] -> spikes [T, B, width]."""
        drive = self.norm(self.synapses(x))
        return self.neuron(drive, None if self.recurrent is None else self.recurrent_weight())


class RecurrentSpikingMLP(nn.Module):
    """Spiking layers of the given widths, each recurrent or not, then a linear readout at every
    timestep (the task's loss reads the per-step logits, as for bench.models.mlp.SpikingMLP).

    `recurrent`: one flag for every hidden layer, or one per layer (e.g. [true, false])."""

    def __init__(
        self,
        neuron: Callable[..., Neuron],
        input_shape: Sequence[int],
        num_classes: int,
        hidden: Sequence[int] = (128,),
        recurrent: bool | Sequence[bool] = True,
        alpha: float = 1.0,
    ) -> None:
        super().__init__()
        if len(input_shape) != 1:
            raise ValueError(f"RecurrentSpikingMLP takes one feature vector per timestep, got samples of shape "
                             f"{tuple(input_shape)}")
        flags = [recurrent] * len(hidden) if isinstance(recurrent, bool) else [bool(r) for r in recurrent]
        if len(flags) != len(hidden):
            raise ValueError(f"model.recurrent has {len(flags)} flags for {len(hidden)} hidden layers (model.hidden): "
                             "one per layer, or one for all")
        layers, c_in = [], input_shape[0]
        for i, (width, is_recurrent) in enumerate(zip(hidden, flags)):
            layers.append(RecurrentSpikingLayer(neuron(stem=i == 0), c_in, width, alpha=alpha, recurrent=is_recurrent))
            c_in = width
        self.features = nn.Sequential(*layers)
        self.classifier = SeqToANN(nn.Linear(c_in, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        """[T, B, C] -> per-timestep logits [T, B, num_classes]."""
        return self.classifier(self.features(x))
