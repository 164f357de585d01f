"""Adaptive LIF (Bellec et al., "Long short-term memory and learning-to-learn in networks of
spiking neurons", NeurIPS 2018): LIF whose threshold rises with its recent firing,

    h = u + (u_rest - u) / tau + x        fire when h >= threshold + beta * a
    a <- a - a / tau_a,  and a += 1 / tau_a on a spike

so a is the neuron's firing rate low-pass filtered over tau_a steps (Bellec's
a[t+1] = rho a[t] + (1 - rho) z[t] with rho = 1 - 1/tau_a). With beta = 0 it is LIF exactly.
"""

from torch import Tensor

from bench.neurons.base import Neuron, OpCount


class ALIF(Neuron):
    states = ("a",)
    f_ops = OpCount(mul=1, add=1)
    g_ops = OpCount(mul=2, add=1)  # g: a * (-1/tau_a); firing_threshold: threshold + beta * a

    def __init__(self, tau: float = 2.0, tau_a: float = 20.0, beta: float = 1.8, u_rest: float = 0.0, **common) -> None:
        if not (tau >= 1 and tau_a >= 1):
            raise ValueError(f"ALIF needs tau >= 1 and tau_a >= 1 (decays 1 - 1/tau in [0, 1)), got tau={tau}, tau_a={tau_a}")
        super().__init__({"tau": tau, "tau_a": tau_a, "beta": beta, "u_rest": u_rest}, **common)

    def f(self, u: Tensor, a: Tensor) -> Tensor:
        return (self.u_rest - u) * self.tau.reciprocal()

    def g(self, u: Tensor, a: Tensor) -> Tensor:
        return a * -self.tau_a.reciprocal()

    def on_spike(self, a: Tensor) -> Tensor:
        return a + self.tau_a.reciprocal()

    def firing_threshold(self, a: Tensor) -> Tensor:
        return self.threshold + self.beta * a

