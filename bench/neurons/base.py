"""The one neuron interface of the suite, built on the shared discrete-time form (paper.md §1):

    h[t] = u[t-1] + f(u[t-1]) + x[t]         charge
    s[t] = Heaviside(h[t] - threshold)        fire (surrogate gradient in backward)
    u[t] = h[t] (1 - s[t]) + u_reset s[t]     hard reset, or u[t] = h[t] - threshold s[t] (soft)

A neuron author writes only its subthreshold function `f`, names its parameters and declares
what `f` costs per update; multi-step execution, resets, surrogate gradients, learnable
parameters and dtype/device handling come from here. See docs/neurons.md.

A neuron with more state (adaptation, recovery, ...) names its other state variables in `states`
and writes, beside `f(u, *states)`, their change per step `g`, what a spike does to them
`on_spike` and, if its threshold moves, `firing_threshold` (explicit Euler: every right-hand side
reads the state entering the step):

    h[t] = u[t-1] + f(u[t-1], w[t-1]) + x[t]                 s[t] = H(h[t] - firing_threshold(w[t-1]))
    w'   = w[t-1] + g(u[t-1], w[t-1])                         w[t] = on_spike(w') where s[t], else w'
"""

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.neurons.surrogate import Surrogate, configured

RESETS = ("hard", "soft")
U_MAX = 1e4  # the bound of the potential of neurons that can run away (QIF, Izhikevich): finite spikes
BACKENDS = ("eager", "bptt", "fused")


@dataclass(frozen=True)
class OpCount:
    """Elementwise operations per neuron per update, by kind; bench.efficiency prices each kind
    under a named energy model. Division, comparison (clamp/min/max count one per bound) and the
    transcendental functions are kinds of their own: nothing a neuron computes is free."""

    add: int = 0  # additions, subtractions, negations
    mul: int = 0  # multiplications
    div: int = 0  # divisions and reciprocals
    cmp: int = 0  # comparisons: >=, min, max, one per clamp bound
    exp: int = 0
    log: int = 0
    sigmoid: int = 0
    tanh: int = 0
    sqrt: int = 0  # sqrt and rsqrt

    def __add__(self, other: "OpCount") -> "OpCount":
        return OpCount(**{k: getattr(self, k) + getattr(other, k) for k in OP_KINDS})

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in OP_KINDS}


OP_KINDS = tuple(f.name for f in fields(OpCount))
CHARGE_AND_FIRE_OPS = OpCount(add=2, cmp=1)  # h = u + f(u) + x, then h >= threshold


def _as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


class Neuron(nn.Module, ABC):
    """Multi-step neuron: maps an input sequence [T, B, ...] to spikes [T, B, ...].

    Subclasses define `f(u)` and `f_ops`, and pass their parameters to `__init__` by name; each
    becomes a scalar tensor attribute, learnable (an `nn.Parameter`, one per layer since every
    layer builds its own neuron) when listed in `learnable`, else a buffer. The membrane state
    lives only inside `forward`, so every batch starts from rest and nothing leaks between batches.

    Multi-state neurons also name `states` and define `g` (and `g_ops`), and where needed
    `on_spike`, `firing_threshold` and `states_rest` (module docstring; docs/add-a-neuron.md).
    """

    f_ops: ClassVar[OpCount]  # what f costs per neuron per update, by kind; checked by the conformance tests
    states: ClassVar[tuple[str, ...]] = ()  # state variables besides the potential u, e.g. ("w",)
    g_ops: ClassVar[OpCount] = OpCount()  # what g and firing_threshold cost per neuron per update (tested too)

    def __init__(
        self,
        params: Mapping[str, float],
        *,
        threshold: float = 1.0,
        reset: str = "hard",
        u_reset: float = 0.0,
        surrogate: Surrogate | None = None,
        learnable: Iterable[str] = (),
        backend: str = "eager",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if reset not in RESETS:
            raise ValueError(f"{name}: reset must be one of {RESETS}, got {reset!r}")
        if not threshold > 0:
            raise ValueError(f"{name}: threshold must be > 0 (spikes are h >= threshold from a rest below it), got {threshold}")
        if backend not in BACKENDS:
            raise ValueError(f"{name}: backend must be one of {BACKENDS}, got {backend!r} (runtime.neuron_backend)")
        if self.states and type(self).g is Neuron.g:
            raise TypeError(f"{name} declares states {self.states} but no g(u, {', '.join(self.states)}): their change per step")
        unknown = set(learnable) - set(params)
        if unknown:
            raise ValueError(f"{name}: learnable {sorted(unknown)} are not parameters of this neuron ({sorted(params)})")
        self.threshold = float(threshold)
        self.reset = reset
        self.u_reset = float(u_reset)
        self.surrogate = surrogate if surrogate is not None else configured("rectangle")  # as conf/neuron/lif.yaml
        self.learnable = tuple(learnable)
        self.backend = backend  # how forward runs (runtime.neuron_backend), not what it computes
        for key, value in params.items():
            tensor = torch.tensor(float(value))
            if key in self.learnable:
                setattr(self, key, nn.Parameter(tensor))
            else:
                self.register_buffer(key, tensor)

    @abstractmethod
    def f(self, u: Tensor, *states: Tensor) -> Tensor:
        """Subthreshold dynamics: the change of potential per step without input (elementwise)."""

    def g(self, u: Tensor, *states: Tensor) -> Tensor | tuple[Tensor, ...]:
        """Multi-state neurons: the change per step of each of `states` (one tensor per state)."""
        raise NotImplementedError

    def on_spike(self, *states: Tensor) -> Tensor | tuple[Tensor, ...]:
        """Multi-state neurons: the states after a spike (e.g. w + b); unchanged by default."""
        return states

    def firing_threshold(self, *states: Tensor) -> Tensor | float:
        """The threshold h is compared with; fixed unless the neuron moves it (e.g. adaptation)."""
        return self.threshold

    @property
    def rest(self) -> Tensor | float:
        """Potential at t = 0 (the resting potential): the neuron's parameter `u_rest` where it has
        one (LIF, PLIF, ALIF, AdEx), else u_reset, unless the neuron says otherwise."""
        return getattr(self, "u_rest", self.u_reset)

    @property
    def states_rest(self) -> tuple[Tensor | float, ...]:
        """Values of `states` at t = 0; zeros unless the neuron says otherwise."""
        return (0.0,) * len(self.states)

    @classmethod
    def ops_per_update(cls) -> OpCount:
        """Operations of one update per neuron: charge h = u + f(u) + x and the threshold
        comparison, and for each other state w + g(u, w) and what g and the threshold rule cost.
        The reset and the jumps of `on_spike`, selects that act only where a spike fired, are not
        charged."""
        return cls.f_ops + CHARGE_AND_FIRE_OPS + cls.g_ops + OpCount(add=len(cls.states))

    def calibrate(self, T: int, alpha: float, repeated_input: bool = False) -> None:
        """Adapt to the layer: lets a calibrated surrogate (AnalyticWindow) compute its width from
        this neuron's dynamics, the task's T, the tdBN scale alpha of this layer's input, and
        whether that input repeats over time (the stem under direct encoding)."""
        self.surrogate = self.surrogate.for_neuron(self, T=T, alpha=alpha, repeated_input=repeated_input)

    def charge(self, u: Tensor, x: Tensor, *states: Tensor) -> Tensor:
        """The potential h a step computes before its spike test and reset."""
        return u + self.f(u, *states) + x

    def step(self, u: Tensor, x: Tensor, *states: Tensor) -> tuple[Tensor, ...]:
        """One update: returns (spikes, new potential, *new states)."""
        return self.fire(self.charge(u, x, *states), u, *states)

    def fire(self, h: Tensor, u: Tensor, *states: Tensor) -> tuple[Tensor, ...]:
        """The rest of the update from the charged potential h (u and states: those entering the
        step): returns (spikes, new potential, *new states)."""
        s = self.surrogate(h - self.firing_threshold(*states))
        new_u = self.reset_potential(h, s)
        if not states:
            return s, new_u
        moved = [w + dw for w, dw in zip(states, self.state_changes(u, *states), strict=True)]
        jumped = self.states_after_spike(*moved)
        return s, new_u, *(w * (1.0 - s) + j * s for w, j in zip(moved, jumped, strict=True))

    # The rules as every path (eager, bptt, fused) applies them; a neuron defines f, g, on_spike.

    def reset_potential(self, h: Tensor, s: Tensor, keep: Tensor | None = None) -> Tensor:
        """The potential after the spikes s (0/1 floats; keep = 1 - s where already computed):
        equal to torch.where(s, u_reset, h) for finite h, without a bool tensor, its copy into
        float and torch.where over it, which cost several float multiplies per element on CPU
        (docs/performance.md)."""
        if self.reset == "soft":
            return h - self.threshold * s
        keep = 1.0 - s if keep is None else keep
        # + 0 * s changes no value (but the sign of a zero potential), and compiled it costs two
        # vector operations per step forward and more in backward (the fused path)
        return h * keep + self.u_reset * s if self.u_reset else h * keep

    def state_changes(self, u: Tensor, *states: Tensor) -> tuple[Tensor, ...]:
        """g(u, *states) as a tuple, one change per state."""
        return _as_tuple(self.g(u, *states))

    def states_after_spike(self, *states: Tensor) -> tuple[Tensor, ...]:
        """on_spike(*states) as a tuple, one value per state."""
        return _as_tuple(self.on_spike(*states))

    def forward(self, x: Tensor, recurrent: Tensor | None = None) -> Tensor:
        """Spikes [T, B, ...] for the input x [T, B, ...]; with `recurrent` weights V [N, N] (a
        recurrent layer of N neurons, x [T, B, N]) each step's input is x[t] + V s[t-1]."""
        if x.dim() < 2:
            raise ValueError(f"{type(self).__name__} expects input [T, B, ...], got shape {tuple(x.shape)}")
        if self.backend not in BACKENDS:
            raise ValueError(f"neuron backend must be one of {BACKENDS}, got {self.backend!r} (runtime.neuron_backend)")
        if recurrent is not None and recurrent.shape != (x.shape[-1], x.shape[-1]):
            raise ValueError(f"{type(self).__name__}: recurrent weights {tuple(recurrent.shape)} for {x.shape[-1]} neurons")
        if self.backend == "bptt":
            from bench.neurons.bptt import through_time  # the hand-written backward: only where it runs

            return through_time(self, x, recurrent)
        if recurrent is not None:
            if self.backend == "fused":
                raise NotImplementedError("runtime.neuron_backend: fused has no recurrent loop yet; a recurrent layer "
                                          "runs with bptt or eager")
            return self.multistep(x, recurrent)
        if self.backend == "fused":
            from bench.neurons.fused import fused_multistep  # imports TorchInductor: only where it runs

            return fused_multistep(self, x)
        return self.multistep(x)

    def multistep(self, x: Tensor, recurrent: Tensor | None = None) -> Tensor:
        """The eager path: a Python loop over T (the reference every other path must match); with
        recurrent weights V, each step's input is x[t] + V s[t-1] (none before the first step)."""
        u = torch.zeros_like(x[0]) + self.rest
        states = [torch.zeros_like(x[0]) + w for w in self.states_rest]
        spikes = []
        # split, not iteration (unbind): under torch.compile the partitioner may recompute split
        # in backward, so it keeps only x and writes each step's input gradient straight into the
        # result; with unbind it saved every step's potential instead, with select a summed scatter.
        for x_t in x.split(1):
            x_t = x_t.squeeze(0)
            if recurrent is not None and spikes:
                x_t = x_t + F.linear(spikes[-1], recurrent)
            s, u, *states = self.step(u, x_t, *states)
            spikes.append(s)
        return torch.stack(spikes)

    @torch.no_grad()
    def potentials(self, x: Tensor, recurrent: Tensor | None = None) -> Tensor:
        """h of every step [T, ...] by the eager rules (with recurrent weights as multistep): the
        potential NeuroBench reads as a layer's membrane potential (snnTorch's `mem`, which holds h
        until the next step's late reset)."""
        u = torch.zeros_like(x[0]) + self.rest
        states = [torch.zeros_like(x[0]) + w for w in self.states_rest]
        charged, s = [], None
        for x_t in x.split(1):
            x_t = x_t.squeeze(0)
            if recurrent is not None and s is not None:
                x_t = x_t + F.linear(s, recurrent)
            charged.append(self.charge(u, x_t, *states))
            s, u, *states = self.fire(charged[-1], u, *states)
        return torch.stack(charged)

    def param_values(self) -> dict[str, float]:
        """The neuron's own named parameters (fixed and learnable) as floats."""
        return {k: getattr(self, k).item() for k in [*self._buffers, *self._parameters]}

    def extra_repr(self) -> str:
        params = ", ".join(f"{k}={v:.6g}" for k, v in self.param_values().items())
        learn = f", learnable={list(self.learnable)}" if self.learnable else ""
        return (
            f"{params}, threshold={self.threshold}, reset={self.reset}, u_reset={self.u_reset}, "
            f"surrogate={self.surrogate}{learn}"
        )
