"""The one neuron interface of the suite, built on the shared discrete-time form (paper.md §1):

    h[t] = u[t-1] + f(u[t-1]) + x[t]         charge
    s[t] = Heaviside(h[t] - threshold)        fire (surrogate gradient in backward)
    u[t] = h[t] (1 - s[t]) + u_reset s[t]     hard reset, or u[t] = h[t] - threshold s[t] (soft)

A neuron author writes only its subthreshold function `f`, names its parameters and declares
what `f` costs per update; multi-step execution, resets, surrogate gradients, learnable
parameters and dtype/device handling come from here. See docs/neurons.md.
"""

import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import ClassVar

import torch
from torch import Tensor, nn

from bench.neurons.surrogate import Rectangle, Surrogate

RESETS = ("hard", "soft")
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


class Neuron(nn.Module, ABC):
    """Multi-step neuron: maps an input sequence [T, B, ...] to spikes [T, B, ...].

    Subclasses define `f(u)` and `f_ops`, and pass their parameters to `__init__` by name; each
    becomes a scalar tensor attribute, learnable (an `nn.Parameter`, one per layer since every
    layer builds its own neuron) when listed in `learnable`, else a buffer. The membrane state
    lives only inside `forward`, so every batch starts from rest and nothing leaks between batches.
    """

    f_ops: ClassVar[OpCount]  # what f costs per neuron per update, by kind; checked by the conformance tests

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
        unknown = set(learnable) - set(params)
        if unknown:
            raise ValueError(f"{name}: learnable {sorted(unknown)} are not parameters of this neuron ({sorted(params)})")
        self.threshold = float(threshold)
        self.reset = reset
        self.u_reset = float(u_reset)
        self.surrogate = surrogate if surrogate is not None else Rectangle(1.0)
        self.learnable = tuple(learnable)
        self.backend = backend  # how forward runs (runtime.neuron_backend), not what it computes
        for key, value in params.items():
            tensor = torch.tensor(float(value))
            if key in self.learnable:
                setattr(self, key, nn.Parameter(tensor))
            else:
                self.register_buffer(key, tensor)

    @abstractmethod
    def f(self, u: Tensor) -> Tensor:
        """Subthreshold dynamics: the change of potential per step without input (elementwise)."""

    @property
    def rest(self) -> Tensor | float:
        """Potential at t = 0 (the resting potential); u_reset unless the neuron says otherwise."""
        return self.u_reset

    @classmethod
    def ops_per_update(cls) -> OpCount:
        """Operations of one update per neuron: charge h = u + f(u) + x and the threshold
        comparison. The reset, a select that acts only where a spike fired, is not charged."""
        return cls.f_ops + CHARGE_AND_FIRE_OPS

    def calibrate(self, T: int, alpha: float, repeated_input: bool = False) -> None:
        """Adapt to the layer: lets a calibrated surrogate (AnalyticWindow) compute its width from
        this neuron's dynamics, the task's T, the tdBN scale alpha of this layer's input, and
        whether that input repeats over time (the stem under direct encoding)."""
        self.surrogate = self.surrogate.for_neuron(self, T=T, alpha=alpha, repeated_input=repeated_input)

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
        if self.backend == "bptt":
            return _ThroughTime.apply(x, self, *self.parameters())
        if self.backend == "fused":
            return fused_multistep(self, x)
        if self.backend != "eager":
            raise ValueError(f"neuron backend must be one of {BACKENDS}, got {self.backend!r} (runtime.neuron_backend)")
        return self.multistep(x)

    def multistep(self, x: Tensor) -> Tensor:
        """The eager path: a Python loop over T (the reference every other path must match)."""
        u = torch.zeros_like(x[0]) + self.rest
        spikes = []
        for x_t in x:
            s, u = self.step(u, x_t)
            spikes.append(s)
        return torch.stack(spikes)

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


class _ThroughTime(torch.autograd.Function):
    """The `bptt` path: the same T-step loop run without autograd, and backpropagation through
    time written out. Eager autograd records about ten nodes per step and neuron layer, which
    dominates small layers (the embedded tasks); here the forward keeps only the potentials and
    spikes, and the backward evaluates f', the surrogate window and the reset's derivative for all
    T steps at once, leaving a loop of two operations per step:

        dL/dh[t] = dL/ds[t] * w[t] + dL/du[t] * du[t]/dh[t],   dL/du[t-1] = dL/dh[t] * (1 + f'(u[t-1]))

    with w = surrogate.derivative(h - threshold). f' comes from autograd on f over the stacked
    potentials, which is exact because f is elementwise; the learnable parameters' gradients are
    one vector-Jacobian product of f (and of the resting state) with dL/dh. The numbers equal the
    eager path's up to float rounding (tests/test_neuron_conformance.py)."""

    @staticmethod
    def forward(ctx, x: Tensor, neuron: Neuron, *params: Tensor) -> Tensor:
        threshold, hard = neuron.threshold, neuron.reset == "hard"
        H, S = torch.empty_like(x), torch.empty_like(x)
        u = torch.zeros_like(x[0]) + neuron.rest
        for t, x_t in enumerate(x):
            h = torch.add(u + neuron.f(u), x_t, out=H[t])
            fired = h >= threshold
            S[t] = fired
            u = torch.where(fired, neuron.u_reset, h) if hard else h - threshold * S[t]
        V = H - threshold
        S = torch.where(V.isfinite(), S, V)  # a non-finite potential is passed on, as in Surrogate
        ctx.save_for_backward(H, S, *params)
        ctx.neuron = neuron
        return S

    @staticmethod
    def backward(ctx, grad_spikes: Tensor) -> tuple[Tensor | None, ...]:
        H, S, *params = ctx.saved_tensors
        neuron = ctx.neuron
        threshold, u_reset = neuron.threshold, neuron.u_reset
        window = neuron.surrogate.derivative(H - threshold)
        if neuron.reset == "hard":
            dudh = (1.0 - S) + (u_reset - H) * window
            after = H * (1.0 - S) + u_reset * S  # u[t], as the eager step computes it
        else:
            dudh = 1.0 - threshold * window
            after = H - threshold * S
        with torch.enable_grad():
            u0 = torch.zeros_like(H[0]) + neuron.rest  # depends on parameters where the rest is learnable
            U = torch.cat([u0.detach()[None], after[:-1]]).requires_grad_()
            F = neuron.f(U)
        if F.requires_grad:
            (dfdu,) = torch.autograd.grad(F, U, torch.ones_like(F), retain_graph=bool(params), materialize_grads=True)
        else:  # an f that does not depend on u (or on anything learnable)
            dfdu = torch.zeros_like(U)
        carry = dfdu.add_(1.0)  # du[t-1] -> dh[t]
        from_spikes = grad_spikes * window
        grad_h = torch.empty_like(H)
        grad_u = torch.zeros_like(H[0])
        for t in range(H.shape[0] - 1, -1, -1):
            torch.addcmul(from_spikes[t], grad_u, dudh[t], out=grad_h[t])
            grad_u = grad_h[t] * carry[t]
        grad_params: tuple[Tensor | None, ...] = ()
        if params:
            outputs, cotangents = ([F], [grad_h]) if F.requires_grad else ([], [])
            if u0.requires_grad:
                outputs.append(u0)
                cotangents.append(grad_u)
            grad_params = (None,) * len(params)
            if outputs:
                grad_params = torch.autograd.grad(outputs, params, cotangents, allow_unused=True)
        return (grad_h, None, *grad_params)


_compiled = None  # torch.compile of Neuron.multistep, shared by every neuron; False once it failed


def fused_multistep(neuron: Neuron, x: Tensor) -> Tensor:
    """The fused path: the same loop compiled by torch.compile (TorchInductor). AOTAutograd
    traces forward and backward of the whole T-step sequence, fuses them into a few kernels and
    keeps for backward only what it cannot cheaply recompute, so it works for any neuron's f.
    Falls back to the eager loop, with one warning, where compilation is unavailable."""
    global _compiled
    if _compiled is None:
        # Static shapes: one compilation per input shape (a few seconds each). Dynamic shapes would
        # compile once but ran 2-3x slower here (bench.perf), and shapes repeat every batch.
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        _compiled = torch.compile(Neuron.multistep, dynamic=False)
    if _compiled is False:
        return neuron.multistep(x)
    try:
        return _compiled(neuron, x)
    except Exception as error:  # no compiler toolchain, unsupported platform, ...
        spikes = neuron.multistep(x)  # a genuine bug in the neuron raises here instead
        warnings.warn(f"fused neuron path unavailable, using the eager loop ({type(error).__name__}: {error})", stacklevel=2)
        _compiled = False
        return spikes
