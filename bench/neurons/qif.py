"""Discretized quadratic integrate-and-fire (paper.md §1): f(u) = a (u - u1)(u - u2).

u1 is the stable resting potential, u2 the unstable spike-initiation potential. Without input
the map g(u) = u + a(u - u1)(u - u2) has g'(u1) = 1 - a(u2 - u1) and g'(u2) = 1 + a(u2 - u1):
rest is stable iff 0 < a(u2 - u1) < 2 (damped oscillation when it exceeds 1), and the basin of
rest is (u1 - 1/a, u2). One update costs one multiplication, one addition and the clamp's two
comparisons more than LIF.

Overflow guard (documented clamp): the potential's distance from u1 entering the quadratic term
is clamped to ± U_MAX. With hard reset the potential never exceeds the threshold, so only inputs
beyond ~1e4 (or soft reset driven far above threshold) reach the clamp; without it such inputs
would turn into inf and then NaN silently.
"""

import math

from torch import Tensor

from bench.neurons.base import U_MAX, Neuron, OpCount
from bench.neurons.surrogate import AnalyticWindow


class QIF(Neuron):
    f_ops = OpCount(mul=2, add=2, cmp=2)  # the overflow clamp: two comparisons

    def __init__(
        self, a: float = 0.25, u1: float = 0.0, u2: float = 0.5, threshold: float = 1.0, u_reset: float | None = None, **common
    ) -> None:
        if not (0 < a < math.inf and u1 < u2 < threshold):
            raise ValueError(
                f"QIF needs 0 < a < inf and u1 < u2 < threshold, got a={a}, u1={u1}, u2={u2}, threshold={threshold}"
            )
        super().__init__(
            {"a": a, "u1": u1, "u2": u2},
            threshold=threshold,
            u_reset=u1 if u_reset is None else u_reset,  # None: reset to rest
            **common,
        )

    def f(self, u: Tensor) -> Tensor:
        # (u - u1)(u - u2) with u - u2 = (u - u1) - (u2 - u1): the clamp has constant bounds, whose
        # compiled gradient (fused path) is one mask; between bounds computed from u1 it also split
        # ties in half with vector divisions. Bit for bit the direct form where u1 = 0.
        d = (u - self.u1).clamp(-U_MAX, U_MAX)
        return self.a * d * (d - (self.u2 - self.u1))

    @property
    def rest(self) -> Tensor:
        return self.u1


def analytic_window_width(
    a: float,
    u1: float,
    u2: float,
    threshold: float,
    alpha: float,
    T: int,
    *,
    reset: str = "hard",
    u_reset: float | None = None,
    kappa: float = math.sqrt(2 * math.pi),
) -> float:
    """Width of the QIF's analytic surrogate window: kappa * sigma_h.

    sigma_h is the standard deviation of the pre-spike potential h pooled over t = 1..T, for a
    QIF that starts at u1, receives i.i.d. x ~ N(0, (alpha * threshold)^2) (tdBN-normalised
    input) and resets as configured (hard reset to u1 when u_reset is None). It is computed by
    propagating the potential's distribution on a grid (bench.neurons.analytic), not by sampling.
    With kappa = sqrt(2 pi) the rectangular window has the peak height of the Gaussian density
    of h. The paper derives its window analytically too, but its formula could not be confirmed;
    this definition is the suite's own (docs/neurons.md).
    """
    neuron = QIF(a=a, u1=u1, u2=u2, threshold=threshold, reset=reset, u_reset=u_reset, surrogate=AnalyticWindow(kappa))
    neuron.calibrate(T=T, alpha=alpha)
    return neuron.surrogate.width
