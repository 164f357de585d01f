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
        """Potential at t = 0 (the resting potential); u_reset unless the neuron says otherwise."""
        return self.u_reset

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

    def step(self, u: Tensor, x: Tensor, *states: Tensor) -> tuple[Tensor, ...]:
        """One update: returns (spikes, new potential, *new states)."""
        h = u + self.f(u, *states) + x
        s = self.surrogate(h - self.firing_threshold(*states))
        new_u = _reset(self, h, s)
        if not states:
            return s, new_u
        moved = [w + dw for w, dw in zip(states, _as_tuple(self.g(u, *states)), strict=True)]
        jumped = _as_tuple(self.on_spike(*moved))
        return s, new_u, *(w * (1.0 - s) + j * s for w, j in zip(moved, jumped, strict=True))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2:
            raise ValueError(f"{type(self).__name__} expects input [T, B, ...], got shape {tuple(x.shape)}")
        if self.backend not in BACKENDS:
            raise ValueError(f"neuron backend must be one of {BACKENDS}, got {self.backend!r} (runtime.neuron_backend)")
        if self.backend == "bptt":
            through_time = _ThroughTimeStates if self.states else _ThroughTime
            return through_time.apply(x, self, *self.parameters())
        if self.backend == "fused":
            from bench.neurons.fused import fused_multistep  # imports TorchInductor: only where it runs

            return fused_multistep(self, x)
        return self.multistep(x)

    def multistep(self, x: Tensor) -> Tensor:
        """The eager path: a Python loop over T (the reference every other path must match)."""
        u = torch.zeros_like(x[0]) + self.rest
        states = [torch.zeros_like(x[0]) + w for w in self.states_rest]
        spikes = []
        # split, not iteration (unbind): under torch.compile the partitioner may recompute split
        # in backward, so it keeps only x and writes each step's input gradient straight into the
        # result; with unbind it saved every step's potential instead, with select a summed scatter.
        for x_t in x.split(1):
            s, u, *states = self.step(u, x_t.squeeze(0), *states)
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
        threshold = neuron.threshold
        H, S = torch.empty_like(x), torch.empty_like(x)
        u = torch.zeros_like(x[0]) + neuron.rest
        for t, x_t in enumerate(x):
            h = torch.add(u + neuron.f(u), x_t, out=H[t])
            s = torch.ge(h, threshold, out=S[t])  # spikes as 0/1 floats: see _reset
            u = _reset(neuron, h, s)
        S = _pass_on_non_finite(S, H - threshold)
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


def _reset(neuron: Neuron, h: Tensor, s: Tensor, keep: Tensor | None = None) -> Tensor:
    """The potential after the spikes s (0/1 floats), for every path: equal to
    torch.where(s, u_reset, h) for finite h. On CPU a comparison into a bool tensor, its copy into
    float and torch.where over it cost 4-10x a float multiply per element (a scratch timing, docs/performance.md)."""
    if neuron.reset == "soft":
        return h - neuron.threshold * s
    keep = 1.0 - s if keep is None else keep
    # + 0 * s changes no value (but the sign of a zero potential), and compiled it costs two
    # vector operations per step forward and more in backward (the fused path)
    return h * keep + neuron.u_reset * s if neuron.u_reset else h * keep


def _pass_on_non_finite(S: Tensor, V: Tensor) -> Tensor:
    """The spikes, NaN where the potential V = h - threshold is not finite, as in Surrogate. One
    sum tells whether there is any (the usual answer, no), at a fraction of the cost of the
    elementwise test."""
    if torch.isfinite(V.sum()):
        return S
    return S + (V - V)


def _partials(output, inputs: list[Tensor]) -> list[Tensor | None]:
    """Elementwise derivatives of an elementwise output with respect to each input (None where
    it does not depend on it): one vector-Jacobian product with ones, exact because the neuron's
    rules act on each neuron separately."""
    if not (isinstance(output, Tensor) and output.requires_grad):
        return [None] * len(inputs)
    return list(torch.autograd.grad(output, inputs, torch.ones_like(output), retain_graph=True, allow_unused=True))


class _ThroughTimeStates(torch.autograd.Function):
    """The `bptt` path of multi-state neurons: the loop without autograd, then backpropagation
    through time with the neuron's local derivatives (of f, g, firing_threshold and on_spike with
    respect to u and each state) evaluated for all T steps at once by autograd, as _ThroughTime
    does for f'. Per step and neuron, with s = H(v), v = h - theta(w), m = w + g(u, w) and
    w+ = m (1 - s) + J(m) s:

        dL/ds = grad_spikes + dL/du+ du+/ds + sum_k dL/dw+_k (J_k - m_k),   dL/dv = dL/ds window(v)
        dL/dh = dL/du+ du+/dh|s + dL/dv,   dL/dm_i = sum_k dL/dw+_k ((1 - s) [k = i] + s dJ_k/dm_i)
        dL/du = dL/dh (1 + df/du) + sum_k dL/dm_k dg_k/du
        dL/dw_i = dL/dh df/dw_i + sum_k dL/dm_k ([k = i] + dg_k/dw_i) - dL/dv dtheta/dw_i

    Every coefficient is computed before the loop, which then costs a few fused multiply-adds per
    step. The learnable parameters' gradients are one vector-Jacobian product of the rules (and of
    the resting state) with these. The numbers equal the eager loop's up to float rounding
    (tests/test_neuron_conformance.py, tests/test_multistate.py)."""

    @staticmethod
    def forward(ctx, x: Tensor, neuron: Neuron, *params: Tensor) -> Tensor:
        n = len(neuron.states)
        H, S = torch.empty_like(x), torch.empty_like(x)
        W = [torch.empty_like(x) for _ in range(n)]  # the states entering each step
        u = torch.zeros_like(x[0]) + neuron.rest
        w = [torch.zeros_like(x[0]) + r for r in neuron.states_rest]
        H_t, S_t, W_t = H.unbind(0), S.unbind(0), [w_k.unbind(0) for w_k in W]  # per-step views, made once
        for t, x_t in enumerate(x.unbind(0)):
            for k in range(n):
                W_t[k][t].copy_(w[k])
            h = torch.add(u + neuron.f(u, *w), x_t, out=H_t[t])
            s = torch.ge(h, neuron.firing_threshold(*w), out=S_t[t])
            moved = [wk + dw for wk, dw in zip(w, _as_tuple(neuron.g(u, *w)))]
            keep = 1.0 - s
            w = [m * keep + j * s for m, j in zip(moved, _as_tuple(neuron.on_spike(*moved)))]  # as step
            u = _reset(neuron, h, s, keep)
        S = _pass_on_non_finite(S, H - neuron.firing_threshold(*W))
        ctx.save_for_backward(H, S, *W, *params)
        ctx.neuron, ctx.n_params = neuron, len(params)
        return S

    @staticmethod
    def backward(ctx, grad_spikes: Tensor) -> tuple[Tensor | None, ...]:
        neuron = ctx.neuron
        H, S, *rest = ctx.saved_tensors
        W, params = rest[: len(rest) - ctx.n_params], rest[len(rest) - ctx.n_params :]
        n, threshold, u_reset = len(W), neuron.threshold, neuron.u_reset
        if neuron.reset == "hard":
            after, du_ds, du_dh = H * (1.0 - S) + u_reset * S, u_reset - H, 1.0 - S
        else:
            after, du_ds, du_dh = H - threshold * S, torch.full_like(H, -threshold), torch.ones_like(H)
        with torch.enable_grad():
            u0 = torch.zeros_like(H[0]) + neuron.rest  # these depend on parameters where the rest does
            w0 = [torch.zeros_like(H[0]) + r for r in neuron.states_rest]
            U = torch.cat([u0.detach()[None], after[:-1]]).requires_grad_()
            Ws = [w.detach().requires_grad_() for w in W]
            F, G, theta = neuron.f(U, *Ws), _as_tuple(neuron.g(U, *Ws)), neuron.firing_threshold(*Ws)
            M = [(w + g).detach().requires_grad_() for w, g in zip(Ws, G)]
            J = _as_tuple(neuron.on_spike(*M))
            df = _partials(F, [U, *Ws])
            dg = [_partials(g, [U, *Ws]) for g in G]  # dg[k] = [dg_k/du, dg_k/dw_1, ...]
            dtheta = _partials(theta, Ws)
            dJ = [_partials(j, M) for j in J]
        window = neuron.surrogate.derivative(H - (theta.detach() if isinstance(theta, Tensor) else theta))
        # the loop's coefficients, all steps at once; None where a derivative is identically zero
        jump = [(j - m).detach() for j, m in zip(J, M)]
        keep = 1.0 - S
        to_m = [[(keep if k == i else None) if dJ[k][i] is None else (keep if k == i else 0.0) + S * dJ[k][i]
                 for i in range(n)] for k in range(n)]  # dw+_k/dm_i
        to_u = [df[0] + 1.0 if df[0] is not None else 1.0, *(dg[k][0] for k in range(n))]
        to_w = [[(1.0 if k == i else 0.0) + dg[k][1 + i] if dg[k][1 + i] is not None else (1.0 if k == i else None)
                 for i in range(n)] for k in range(n)]  # dm_k/dw_i
        from_h = [df[1 + i] for i in range(n)]
        from_v = [-d if d is not None else None for d in dtheta]

        # per-step views, made once (indexing a tensor per step costs a dispatch each time)
        steps = [_steps_of(c) for c in (grad_spikes, du_ds, du_dh, window)]
        jump = [_steps_of(j) for j in jump]
        m_terms = [[(k, _steps_of(to_m[k][i])) for k in range(n) if to_m[k][i] is not None] for i in range(n)]
        u_terms = [(k, _steps_of(to_u[1 + k])) for k in range(n) if to_u[1 + k] is not None]
        w_terms = [[(k, _steps_of(to_w[k][i])) for k in range(n) if to_w[k][i] is not None] for i in range(n)]
        to_u0, from_h, from_v = _steps_of(to_u[0]), [_steps_of(c) for c in from_h], [_steps_of(c) for c in from_v]

        grad_h, grad_v = torch.empty_like(H), torch.empty_like(H)
        grad_m = [torch.empty_like(H) for _ in range(n)]
        keep_after = bool(params)  # dL/dw+ of each step, for on_spike's parameters
        grad_after = [torch.empty_like(H) for _ in range(n)] if keep_after else []
        out_h, out_v, out_m, out_after = grad_h.unbind(0), grad_v.unbind(0), [g.unbind(0) for g in grad_m], [
            g.unbind(0) for g in grad_after]
        grad_u, grad_w = torch.zeros_like(H[0]), [torch.zeros_like(H[0]) for _ in range(n)]
        spikes_t, ds_t, dh_t, window_t = steps
        for t in range(H.shape[0] - 1, -1, -1):
            d_s = torch.addcmul(spikes_t[t], grad_u, ds_t[t])
            for k in range(n):
                if keep_after:
                    out_after[k][t].copy_(grad_w[k])
                d_s.addcmul_(grad_w[k], jump[k][t])
            d_v = torch.mul(d_s, window_t[t], out=out_v[t])
            d_h = torch.addcmul(d_v, grad_u, dh_t[t], out=out_h[t])
            m = [_combine([(grad_w[k], c) for k, c in m_terms[i]], t, like=d_h, out=out_m[i][t]) for i in range(n)]
            grad_u = _combine([(d_h, to_u0), *((m[k], c) for k, c in u_terms)], t, like=d_h)
            grad_w = [_combine([(d_h, from_h[i]), (d_v, from_v[i]), *((m[k], c) for k, c in w_terms[i])], t, like=d_h)
                      for i in range(n)]
        grad_params: tuple[Tensor | None, ...] = (None,) * len(params)
        if params:
            pairs = [(F, grad_h), *zip(G, grad_m), (theta, -grad_v), *((j, g * S) for j, g in zip(J, grad_after)),
                     (u0, grad_u), *zip(w0, grad_w)]
            pairs = [(o, c) for o, c in pairs if isinstance(o, Tensor) and o.requires_grad]
            if pairs:
                outputs, cotangents = zip(*pairs)
                grad_params = torch.autograd.grad(outputs, params, cotangents, allow_unused=True)
        return (grad_h, None, *grad_params)


def _steps_of(c):
    """A coefficient of the backward loop as the loop reads it: None (identically zero), a constant,
    or one view per step of a [T, ...] tensor."""
    return c if c is None or isinstance(c, float) else c.unbind(0)


def _combine(terms, t: int, like: Tensor, out: Tensor | None = None) -> Tensor:
    """sum of a * c[t] over the terms (a, c) whose coefficient c is not identically zero (None);
    c is a constant or one tensor per step (_steps_of); zeros like `like` when no term is left."""
    total = None
    for a, c in terms:
        if c is None:
            continue
        c_t = c if isinstance(c, float) else c[t]
        if total is None:
            total = a * c_t if out is None else torch.mul(a, c_t, out=out)
        else:
            total = total.add_(a) if isinstance(c_t, float) and c_t == 1.0 else total.addcmul_(a, c_t)
    if total is None:
        total = torch.zeros_like(like) if out is None else out.zero_()
    return total
