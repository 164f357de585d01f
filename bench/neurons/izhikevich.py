"""Izhikevich's simple model (IEEE Trans. Neural Networks 14(6), 2003), in units where the reset
c is 0 and the spike peak v_peak is the threshold, u = (v - c) / (v_peak - c),
r = recovery / (v_peak - c):

    v' = 0.04 v^2 + 5 v + 140 - recovery + I,    recovery' = a (b v - recovery)
    if v >= v_peak: v <- c, recovery <- recovery + d

a, b, c, d keep the paper's meaning and units (ms^-1, -, mV, mV); the defaults are its
regular-spiking cell (a 0.02, b 0.2, c -65, d 8, v_peak 30). In these units the quadratic is
k2 u^2 + k1 u + k0 with k2 = 0.04 S, k1 = 0.08 c + 5, k0 = (0.04 c^2 + 5 c + 140) / S,
S = v_peak - c, evaluated in Horner form; the resting state is the lower fixed point of both
equations (v = -70 mV for regular spiking).

Integration, a step of dt ms: the potential's drift takes two half-steps of dt/2 (explicit Euler
each), as the paper's own code does "for numerical stability": one Euler step of 1 ms is unstable
below v = -87.5 mV (u < -0.237: the map's slope 1 + dt (2 k2 u + k1) falls below -1), a region
strong inputs reach, and two half-steps move that edge to v = -113.1 mV (u = -0.506;
tests/test_multistate.py). As for
every neuron of the suite, the input x is the charge of the step, added after the drift, and the
recovery takes one Euler step from the state entering the step (the paper's code instead adds I
inside each half-step and updates the recovery from the new v). Overflow guard: the potential
entering each half-step is clamped to +-U_MAX, as QIF's.
"""

import torch
from torch import Tensor

from bench.neurons.base import U_MAX, Neuron, OpCount


class Izhikevich(Neuron):
    states = ("r",)
    f_ops = OpCount(mul=6, add=8, cmp=4)  # two half-steps: each a clamp and the Horner drift, then their sum
    g_ops = OpCount(mul=2, add=2)

    def __init__(
        self,
        a: float = 0.02,
        b: float = 0.2,
        c: float = -65.0,
        d: float = 8.0,
        v_peak: float = 30.0,
        dt: float = 1.0,
        threshold: float = 1.0,
        u_reset: float = 0.0,
        **common,
    ) -> None:
        if not (c < v_peak and dt > 0 and a > 0):
            raise ValueError(f"Izhikevich needs c < v_peak, dt > 0 and a > 0, got c={c}, v_peak={v_peak}, dt={dt}, a={a}")
        if threshold != 1.0 or u_reset != 0.0:
            raise ValueError("Izhikevich: threshold and reset are v_peak and c (its units put them at 1 and 0); set those")
        super().__init__({"a": a, "b": b, "c": c, "d": d, "v_peak": v_peak, "dt": dt}, threshold=1.0, u_reset=0.0, **common)
        discriminant = self._rest_discriminant()
        if not discriminant >= 0:
            raise ValueError(f"Izhikevich with b={b}, c={c} has no resting state (0.04 v^2 + (5 - b) v + 140 = 0 has no root)")

    def _scale(self) -> Tensor:
        return self.v_peak - self.c

    def _coefficients(self) -> tuple[Tensor, Tensor, Tensor]:
        S, c = self._scale(), self.c
        return 0.04 * S, 0.08 * c + 5.0, (0.04 * c * c + 5.0 * c + 140.0) / S

    def f(self, u: Tensor, r: Tensor) -> Tensor:
        k2, k1, k0 = self._coefficients()
        half = self.dt * 0.5
        u = u.clamp(-U_MAX, U_MAX)
        first = ((k2 * u + k1) * u + k0 - r) * half
        middle = (u + first).clamp(-U_MAX, U_MAX)
        return first + ((k2 * middle + k1) * middle + k0 - r) * half

    def g(self, u: Tensor, r: Tensor) -> Tensor:
        return (self.b * u - r + self.b * self.c / self._scale()) * (self.a * self.dt)

    def on_spike(self, r: Tensor) -> Tensor:
        return r + self.d / self._scale()

    def _rest_discriminant(self) -> Tensor:
        return (5.0 - self.b) ** 2 - 4 * 0.04 * 140.0

    @property
    def rest(self) -> Tensor:
        v = (-(5.0 - self.b) - torch.sqrt(self._rest_discriminant())) / (2 * 0.04)  # the lower root, in mV
        return (v - self.c) / self._scale()

    @property
    def states_rest(self) -> tuple[Tensor]:
        return (self.b * (self.rest + self.c / self._scale()),)
