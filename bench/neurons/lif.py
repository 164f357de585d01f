"""Leaky integrate-and-fire, the baseline of the tdBN/TET literature: f(u) = -(u - u_rest)/tau."""

from torch import Tensor

from bench.neurons.base import Neuron


class LIF(Neuron):
    def __init__(
        self,
        tau: float = 2.0,
        u_rest: float = 0.0,
        threshold: float = 1.0,
        reset: str = "hard",
        u_reset: float = 0.0,
        surrogate=None,
    ) -> None:
        super().__init__(threshold=threshold, reset=reset, u_reset=u_reset, surrogate=surrogate)
        if tau < 1:
            # tau < 1 makes the decay factor 1 - 1/tau negative: the potential flips sign each step.
            raise ValueError(f"LIF tau must be >= 1 (decay 1 - 1/tau in [0, 1)), got {tau}")
        self.tau = float(tau)
        self.u_rest = float(u_rest)

    def f(self, u: Tensor) -> Tensor:
        return -(u - self.u_rest) / self.tau

    @property
    def u_init(self) -> float:
        return self.u_rest

    def extra_repr(self) -> str:
        return f"tau={self.tau}, u_rest={self.u_rest}, " + super().extra_repr()
