"""Adaptive exponential integrate-and-fire (Brette & Gerstner, J. Neurophysiol. 2005),
discretised with a step of one time unit and in units where rest is u_rest and the numerical
spike cut is the threshold:

    h = u + (u_rest - u + delta_T exp((u - u_T) / delta_T) - w) / tau + x
    w <- w + (a (u - u_rest) - w) / tau_w,  and w += b on a spike

The defaults are the paper's cell (its Table 1: E_L -70.6 mV, V_T -50.4 mV, Delta_T 2 mV,
g_L 30 nS, C 281 pF, a 4 nS, tau_w 144 ms, b 80.5 pA) in these units: potentials as
(V - E_L) / (V_cut - E_L) with the cut V_cut = V_T + 5 Delta_T as the threshold (1), w as
w / (g_L (V_cut - E_L)), a as a / g_L, and one step = tau_m / tau with tau = 2 (tau_w = 144 ms /
9.37 ms * 2). Overflow guard (as QIF's): the exponent is clamped at
EXP_MAX, which a hard-reset potential never reaches (u < threshold = u_T + 5 delta_T).
"""

import math

from torch import Tensor

from bench.neurons.base import Neuron, OpCount

EXP_MAX = 20.0


class AdEx(Neuron):
    states = ("w",)
    f_ops = OpCount(mul=3, add=4, cmp=1, exp=1)
    g_ops = OpCount(mul=2, add=2)

    def __init__(
        self,
        tau: float = 2.0,
        u_rest: float = 0.0,
        u_T: float = 0.669,
        delta_T: float = 0.0662,
        a: float = 0.133,
        tau_w: float = 30.7,
        b: float = 0.0889,
        **common,
    ) -> None:
        if not (tau >= 1 and tau_w >= 1 and 0 < delta_T < math.inf and u_rest < u_T):
            raise ValueError(
                f"AdEx needs tau >= 1, tau_w >= 1, delta_T > 0 and u_rest < u_T, "
                f"got tau={tau}, tau_w={tau_w}, delta_T={delta_T}, u_rest={u_rest}, u_T={u_T}"
            )
        super().__init__(
            {"tau": tau, "u_rest": u_rest, "u_T": u_T, "delta_T": delta_T, "a": a, "tau_w": tau_w, "b": b}, **common
        )

    def f(self, u: Tensor, w: Tensor) -> Tensor:
        spike_current = self.delta_T * ((u - self.u_T) * self.delta_T.reciprocal()).clamp(max=EXP_MAX).exp()
        return (self.u_rest - u + spike_current - w) * self.tau.reciprocal()

    def g(self, u: Tensor, w: Tensor) -> Tensor:
        return (self.a * (u - self.u_rest) - w) * self.tau_w.reciprocal()

    def on_spike(self, w: Tensor) -> Tensor:
        return w + self.b

