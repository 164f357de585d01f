"""Parametric LIF (Fang et al., ICCV 2021): LIF whose decay 1/tau = sigmoid(w) is learned per
layer. Written only through the public Neuron interface."""

import math

from torch import Tensor

from bench.neurons.base import Neuron, OpCount


class PLIF(Neuron):
    f_ops = OpCount(mul=1, add=1)  # sigmoid(w) is one scalar per layer, not a per-neuron cost

    def __init__(self, tau: float = 2.0, u_rest: float = 0.0, learnable=("w",), **common) -> None:
        if not tau > 1:
            raise ValueError(f"PLIF initial tau must be > 1 (w = -log(tau - 1)), got {tau}")
        super().__init__({"w": -math.log(tau - 1), "u_rest": u_rest}, learnable=learnable, **common)

    def f(self, u: Tensor) -> Tensor:
        return (self.u_rest - u) * self.w.sigmoid()

