"""Discretized quadratic integrate-and-fire (paper.md §1): f(u) = a (u - u1)(u - u2).

u1 is the stable resting potential, u2 the unstable spike-initiation potential. Without input
the map g(u) = u + a(u - u1)(u - u2) has g'(u1) = 1 - a(u2 - u1) and g'(u2) = 1 + a(u2 - u1):
rest is stable iff 0 < a(u2 - u1) < 2 (damped oscillation when it exceeds 1), and the basin of
rest is (u1 - 1/a, u2). Costs one multiplication and one addition more per update than LIF.
"""

from torch import Tensor

from bench.neurons.base import Neuron


class QIF(Neuron):
    def __init__(
        self,
        a: float = 0.25,
        u1: float = 0.0,
        u2: float = 0.5,
        threshold: float = 1.0,
        reset: str = "hard",
        u_reset: float | None = None,
        surrogate=None,
    ) -> None:
        if not (a > 0 and u1 < u2 < threshold):
            raise ValueError(
                f"QIF needs a > 0 and u1 < u2 < threshold, got a={a}, u1={u1}, u2={u2}, threshold={threshold}"
            )
        super().__init__(
            threshold=threshold,
            reset=reset,
            u_reset=u1 if u_reset is None else u_reset,  # None: reset to rest
            surrogate=surrogate,
        )
        self.a, self.u1, self.u2 = float(a), float(u1), float(u2)

    def f(self, u: Tensor) -> Tensor:
        return self.a * (u - self.u1) * (u - self.u2)

    @property
    def u_init(self) -> float:
        return self.u1

    def extra_repr(self) -> str:
        return f"a={self.a}, u1={self.u1}, u2={self.u2}, " + super().extra_repr()
