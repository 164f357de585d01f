"""The one neuron interface of the suite, built on the shared discrete-time form (paper.md §1):

    h[t] = u[t-1] + f(u[t-1]) + x[t]         charge
    s[t] = Heaviside(h[t] - threshold)        fire (surrogate gradient in backward)
    u[t] = h[t] (1 - s[t]) + u_reset s[t]     hard reset, or u[t] = h[t] - threshold s[t] (soft)

A neuron subclass only defines its subthreshold function `f` and its initial potential.
"""

from abc import ABC, abstractmethod

import torch
from torch import Tensor, nn

from bench.neurons.surrogate import Rectangle

RESETS = ("hard", "soft")


class Neuron(nn.Module, ABC):
    """Multi-step neuron: maps an input sequence [T, B, ...] to spikes [T, B, ...].

    The membrane state lives only inside `forward`, so every batch starts from rest and no
    state can leak between batches (nothing to reset by hand).
    """

    def __init__(
        self,
        threshold: float = 1.0,
        reset: str = "hard",
        u_reset: float = 0.0,
        surrogate=None,
    ) -> None:
        super().__init__()
        if reset not in RESETS:
            raise ValueError(f"neuron reset must be one of {RESETS}, got {reset!r}")
        self.threshold = float(threshold)
        self.reset = reset
        self.u_reset = float(u_reset)
        self.surrogate = surrogate if surrogate is not None else Rectangle(1.0)

    @abstractmethod
    def f(self, u: Tensor) -> Tensor:
        """Subthreshold dynamics: the change of potential per step without input."""

    @property
    def u_init(self) -> float:
        """Potential at t = 0 (the resting potential)."""
        return self.u_reset

    def step(self, u: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """One update: returns (spikes, new potential)."""
        h = u + self.f(u) + x
        s = self.surrogate(h - self.threshold)
        if self.reset == "hard":
            u = h * (1.0 - s) + self.u_reset * s
        else:
            u = h - self.threshold * s
        return s, u

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2:
            raise ValueError(f"{type(self).__name__} expects input [T, B, ...], got shape {tuple(x.shape)}")
        u = torch.full_like(x[0], self.u_init)
        spikes = []
        for x_t in x:
            s, u = self.step(u, x_t)
            spikes.append(s)
        return torch.stack(spikes)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, reset={self.reset}, u_reset={self.u_reset}, surrogate={self.surrogate}"
