"""Leaky integrate-and-fire, the baseline of the tdBN/TET literature: f(u) = (u_rest - u) / tau."""

from torch import Tensor

from bench.neurons.base import Neuron, OpCount


class LIF(Neuron):
    f_ops = OpCount(mul=1, add=1)

    def __init__(self, tau: float = 2.0, u_rest: float = 0.0, **common) -> None:
        if not tau >= 1:
            # tau < 1 makes the decay factor 1 - 1/tau negative: the potential flips sign each step.
            raise ValueError(f"LIF tau must be >= 1 (decay 1 - 1/tau in [0, 1)), got {tau}")
        super().__init__({"tau": tau, "u_rest": u_rest}, **common)

    def f(self, u: Tensor) -> Tensor:
        # One scalar reciprocal per layer, then a multiplication per neuron: a vector division
        # costs several multiplications (docs/performance.md). For the default tau = 2 the result
        # is bit-identical to (u_rest - u) / tau.
        return (self.u_rest - u) * self.tau.reciprocal()

