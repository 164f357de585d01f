"""The `bptt` path (runtime.neuron_backend: bptt): a neuron's T-step loop run without autograd,
and backpropagation through time written out, for one-state neurons (_ThroughTime) and for
neurons with more states (_ThroughTimeStates). Imported by Neuron.forward only when this path
runs, like bench/neurons/fused.py. The numbers equal the eager loop's up to float rounding
(tests/test_neuron_conformance.py, tests/test_multistate.py, tests/test_recurrent.py).

With recurrent weights V (a recurrent layer, bench/models/recurrent.py) each step's input also
receives the layer's spikes of the step before, x[t] + V s[t-1], as in Neuron.multistep; backward
then adds to each step's spike gradient what the next step's input passed back, dL/dh[t+1] V, and
V's gradient is one matrix product over all steps, sum_t dL/dh[t]^T s[t-1]."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


def through_time(neuron, x: Tensor, recurrent: Tensor | None = None) -> Tensor:
    """A neuron's (bench.neurons.base.Neuron) spikes for the input x [T, B, ...] (and the
    recurrent weights [N, N] of a recurrent layer), with the hand-written backward."""
    path = _ThroughTimeStates if neuron.states else _ThroughTime
    return path.apply(x, recurrent, neuron, *neuron.parameters())


def _step_input(x_t: Tensor, previous: Tensor | None, V: Tensor | None) -> Tensor:
    """A step's input: x[t], plus V s[t-1] in a recurrent layer (none before the first spike
    test), computed as Neuron.multistep computes it."""
    return x_t if V is None or previous is None else x_t + F.linear(previous, V)


def _recurrent_grad(V: Tensor | None, grad_h: Tensor, S: Tensor) -> Tensor | None:
    """dL/dV = sum over steps t >= 1 of dL/dh[t]^T s[t-1] (None without recurrent weights)."""
    if V is None:
        return None
    return grad_h[1:].flatten(0, -2).T @ S[:-1].flatten(0, -2)


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
    def forward(ctx, x: Tensor, V: Tensor | None, neuron, *params: Tensor) -> Tensor:
        H, S = torch.empty_like(x), torch.empty_like(x)
        threshold, one, u_reset = _constants(x, neuron.threshold, 1.0, neuron.u_reset)
        u = torch.zeros_like(x[0]) + neuron.rest
        previous = None
        # per-step views made once (indexing in the loop is an operation per step)
        for x_t, h, s in zip(x.unbind(0), H.unbind(0), S.unbind(0)):
            torch.add(u + neuron.f(u), _step_input(x_t, previous, V), out=h)
            previous = torch.ge(h, threshold, out=s)  # spikes as 0/1 floats: see Neuron.reset_potential
            u = _reset(neuron, h, s, one - s, u_reset)
        S = _pass_on_non_finite(S, H, neuron.threshold)
        ctx.save_for_backward(H, S, V, *params)
        ctx.neuron = neuron
        return S

    @staticmethod
    def backward(ctx, grad_spikes: Tensor) -> tuple[Tensor | None, ...]:
        H, S, V, *params = ctx.saved_tensors
        neuron = ctx.neuron
        window, dudh, U = _local_derivatives(neuron, H, S)
        with torch.enable_grad():
            u0 = torch.zeros_like(H[0]) + neuron.rest  # depends on parameters where the rest is learnable
            U[0] = u0.detach()
            U.requires_grad_()
            F_u = neuron.f(U)
        if F_u.requires_grad:
            (dfdu,) = torch.autograd.grad(F_u, U, torch.ones_like(F_u), retain_graph=bool(params), materialize_grads=True)
        else:  # an f that does not depend on u (or on anything learnable)
            dfdu = torch.zeros_like(U)
        carry = dfdu.add_(1.0)  # du[t-1] -> dh[t]
        if V is None:
            grad_h = window.mul_(grad_spikes)  # dL/ds[t] * w[t], completed step by step below
        else:  # dL/ds[t] is complete only once step t+1 is done
            grad_h, window_t, grad_s = torch.empty_like(H), window.unbind(0), grad_spikes.unbind(0)
        grad_u = None
        for t, g_h, d_u, c in zip(range(H.shape[0] - 1, -1, -1), reversed(grad_h.unbind(0)), reversed(dudh.unbind(0)),
                                  reversed(carry.unbind(0))):
            if V is not None:
                g_s = grad_s[t] if grad_u is None else grad_s[t] + grad_h[t + 1] @ V
                torch.mul(g_s, window_t[t], out=g_h)
            if grad_u is not None:  # nothing flows back into the last step
                g_h.addcmul_(grad_u, d_u)
            grad_u = g_h * c
        grad_params: tuple[Tensor | None, ...] = ()
        if params:
            outputs, cotangents = ([F_u], [grad_h]) if F_u.requires_grad else ([], [])
            if u0.requires_grad:
                outputs.append(u0)
                cotangents.append(grad_u)
            grad_params = (None,) * len(params)
            if outputs:
                grad_params = torch.autograd.grad(outputs, params, cotangents, allow_unused=True)
        return (grad_h, _recurrent_grad(V, grad_h, S), None, *grad_params)


def _local_derivatives(neuron, H: Tensor, S: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """For a one-state neuron: the surrogate window w[t] = dS/dH, du[t]/dh[t] and U, the potential
    entering each step (u[t-1] as the forward computes it; U[0], the resting state, left to the
    caller). Each written in one pass: on a large layer memory traffic is the cost."""
    threshold, u_reset = neuron.threshold, neuron.u_reset
    window = neuron.surrogate.derivative(H - threshold)
    U = torch.empty_like(H)
    if neuron.reset == "hard":
        keep = 1.0 - S
        torch.mul(H[:-1], keep[:-1], out=U[1:])
        # (1 - s) + (u_reset - h) w, rounded as written (addcmul would fuse it: other bits)
        if u_reset:
            U[1:].add_(S[:-1], alpha=u_reset)
            dudh = keep.add_((u_reset - H).mul_(window))
        else:
            dudh = keep.sub_(H * window)
    else:
        torch.sub(H[:-1], S[:-1], alpha=threshold, out=U[1:])
        dudh = 1.0 - threshold * window
    return window, dudh, U


def _constants(x: Tensor, *values: float) -> tuple[Tensor, ...]:
    """Numbers as 0-dim tensors of x's dtype and device, for the loops: an operation with a Python
    number wraps it in a tensor at every call, which on a small layer costs more than the arithmetic
    (docs/performance.md). The values are the same: a Python number is cast to x's dtype too."""
    return tuple(torch.tensor(v, dtype=x.dtype, device=x.device) for v in values)


def _reset(neuron, h: Tensor, s: Tensor, keep: Tensor, u_reset: Tensor) -> Tensor:
    """Neuron.reset_potential with the loops' constants (same operations, same values)."""
    if neuron.reset == "soft":
        return h - neuron.threshold * s
    return h * keep + u_reset * s if neuron.u_reset else h * keep


def _pass_on_non_finite(S: Tensor, H: Tensor, threshold: Tensor | float) -> Tensor:
    """The spikes, NaN where the potential against the threshold, V = H - threshold, is not finite,
    as in Surrogate. A sum or two tell whether there is any (the usual answer, no), at a fraction
    of the cost of the elementwise test."""
    if torch.isfinite(H.sum()) and (not isinstance(threshold, Tensor) or torch.isfinite(threshold.sum())):
        return S
    V = H - threshold
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
    the resting state) with these; a neuron without learnable parameters keeps no per-step
    gradient but dL/dh."""

    @staticmethod
    def forward(ctx, x: Tensor, V: Tensor | None, neuron, *params: Tensor) -> Tensor:
        n = len(neuron.states)
        H, S = torch.empty_like(x), torch.empty_like(x)
        W = [torch.empty_like(x) for _ in range(n)]  # the states entering each step
        u = torch.zeros_like(x[0]) + neuron.rest
        w = [torch.zeros_like(x[0]) + r for r in neuron.states_rest]
        H_t, S_t, W_t = H.unbind(0), S.unbind(0), [w_k.unbind(0) for w_k in W]  # per-step views, made once
        one, u_reset = _constants(x, 1.0, neuron.u_reset)  # as in _ThroughTime.forward
        fixed_threshold, = _constants(x, neuron.threshold)
        previous = None
        for t, x_t in enumerate(x.unbind(0)):
            for k in range(n):
                W_t[k][t].copy_(w[k])
            h = torch.add(u + neuron.f(u, *w), _step_input(x_t, previous, V), out=H_t[t])
            threshold = neuron.firing_threshold(*w)
            s = previous = torch.ge(h, threshold if isinstance(threshold, Tensor) else fixed_threshold, out=S_t[t])
            moved = [wk + dw for wk, dw in zip(w, neuron.state_changes(u, *w))]
            keep = one - s
            w = [m * keep + j * s for m, j in zip(moved, neuron.states_after_spike(*moved))]  # as step
            u = _reset(neuron, h, s, keep, u_reset)
        S = _pass_on_non_finite(S, H, neuron.firing_threshold(*W))
        ctx.save_for_backward(H, S, V, *W, *params)
        ctx.neuron, ctx.n_params = neuron, len(params)
        return S

    @staticmethod
    def backward(ctx, grad_spikes: Tensor) -> tuple[Tensor | None, ...]:
        H, S, V, *rest = ctx.saved_tensors
        W, params = rest[: len(rest) - ctx.n_params], rest[len(rest) - ctx.n_params :]
        rules = _local_rules(ctx.neuron, H, S, W)
        grads = _backward_loop(grad_spikes, H, rules, _loop_coefficients(rules, S), keep_per_step=bool(params), recurrent=V)
        return (grads.h, _recurrent_grad(V, grads.h, S), None, *_parameter_grads(rules, grads, S, params))


@dataclass
class _LocalRules:
    """A multi-state neuron's rules over all T steps, with their elementwise derivatives: the
    potential after each step's reset (`after`) and its derivatives by the spike and by h; the
    rules f, g, theta (firing_threshold), J (on_spike) as autograd graphs over the potentials U,
    states entering (the graphs' inputs) and moved states M, for the parameter gradients; the
    resting state u0, w0; and the derivatives df = [df/du, df/dw_1, ...], dg[k] likewise,
    dtheta[i] = dtheta/dw_i and dJ[k][i] = dJ_k/dm_i (None where identically zero)."""

    du_ds: Tensor
    du_dh: Tensor
    window: Tensor
    F: Tensor
    G: tuple
    theta: Tensor | float
    M: list[Tensor]
    J: tuple
    u0: Tensor
    w0: list[Tensor]
    df: list
    dg: list
    dtheta: list
    dJ: list


def _local_rules(neuron, H: Tensor, S: Tensor, W: list[Tensor]) -> _LocalRules:
    threshold, u_reset = neuron.threshold, neuron.u_reset
    if neuron.reset == "hard":
        after, du_ds, du_dh = H * (1.0 - S) + u_reset * S, u_reset - H, 1.0 - S
    else:
        after, du_ds, du_dh = H - threshold * S, torch.full_like(H, -threshold), torch.ones_like(H)
    with torch.enable_grad():
        u0 = torch.zeros_like(H[0]) + neuron.rest  # these depend on parameters where the rest does
        w0 = [torch.zeros_like(H[0]) + r for r in neuron.states_rest]
        U = torch.cat([u0.detach()[None], after[:-1]]).requires_grad_()
        Ws = [w.detach().requires_grad_() for w in W]
        F, G, theta = neuron.f(U, *Ws), neuron.state_changes(U, *Ws), neuron.firing_threshold(*Ws)
        M = [(w + g).detach().requires_grad_() for w, g in zip(Ws, G)]
        J = neuron.states_after_spike(*M)
        df = _partials(F, [U, *Ws])
        dg = [_partials(g, [U, *Ws]) for g in G]
        dtheta = _partials(theta, Ws)
        dJ = [_partials(j, M) for j in J]
    window = neuron.surrogate.derivative(H - (theta.detach() if isinstance(theta, Tensor) else theta))
    return _LocalRules(du_ds, du_dh, window, F, G, theta, M, J, u0, w0, df, dg, dtheta, dJ)


@dataclass
class _Coefficients:
    """The backward loop's coefficients as it reads them (_steps_of): per state k the jump J_k - m_k;
    per state i the terms (k, c) of dL/dm_i (m), of dL/dw_i from m (w); the terms of dL/du from
    each m (u); dL/du's coefficient of dL/dh (to_u0); dL/dw_i's of dL/dh (from_h) and dL/dv (from_v)."""

    jump: list
    m: list
    u: list
    w: list
    to_u0: object
    from_h: list
    from_v: list


def _loop_coefficients(rules: _LocalRules, S: Tensor) -> _Coefficients:
    n, df, dg, dJ = len(rules.M), rules.df, rules.dg, rules.dJ
    jump = [(j - m).detach() for j, m in zip(rules.J, rules.M)]
    keep = 1.0 - S
    to_m = [[(keep if k == i else None) if dJ[k][i] is None else (keep if k == i else 0.0) + S * dJ[k][i]
             for i in range(n)] for k in range(n)]  # dw+_k/dm_i
    to_u = [df[0] + 1.0 if df[0] is not None else 1.0, *(dg[k][0] for k in range(n))]
    to_w = [[(1.0 if k == i else 0.0) + dg[k][1 + i] if dg[k][1 + i] is not None else (1.0 if k == i else None)
             for i in range(n)] for k in range(n)]  # dm_k/dw_i
    return _Coefficients(
        jump=[_steps_of(j) for j in jump],
        m=[[(k, _steps_of(to_m[k][i])) for k in range(n) if to_m[k][i] is not None] for i in range(n)],
        u=[(k, _steps_of(to_u[1 + k])) for k in range(n) if to_u[1 + k] is not None],
        w=[[(k, _steps_of(to_w[k][i])) for k in range(n) if to_w[k][i] is not None] for i in range(n)],
        to_u0=_steps_of(to_u[0]),
        from_h=[_steps_of(df[1 + i]) for i in range(n)],
        from_v=[_steps_of(-d if d is not None else None) for d in rules.dtheta],
    )


@dataclass
class _Gradients:
    """dL/dh per step (the input gradient); for the parameter gradients, dL/dv, dL/dm_k and dL/dw+_k
    per step (empty lists where not kept) and dL/du, dL/dw_k of the resting state."""

    h: Tensor
    v: Tensor | None
    m: list[Tensor]
    after: list[Tensor]
    u: Tensor
    w: list[Tensor]


def _backward_loop(grad_spikes: Tensor, H: Tensor, rules: _LocalRules, c: _Coefficients, keep_per_step: bool,
                   recurrent: Tensor | None = None) -> _Gradients:
    """The loop from the last step to the first; dL/dv, dL/dm and dL/dw+ per step only when kept.
    With recurrent weights V, a step's spikes also pass back what the next step's input received."""
    n = len(c.jump)
    spikes_t, ds_t, dh_t, window_t = (_steps_of(x) for x in (grad_spikes, rules.du_ds, rules.du_dh, rules.window))
    grad_h = torch.empty_like(H)
    kept = [torch.empty_like(grad_h) for _ in range(1 + 2 * n)] if keep_per_step else []
    grad_v, grad_m, grad_after = (kept[0], kept[1 : 1 + n], kept[1 + n :]) if kept else (None, [], [])
    out_h = grad_h.unbind(0)
    out_v, out_m, out_after = (grad_v.unbind(0), [g.unbind(0) for g in grad_m], [g.unbind(0) for g in grad_after]) \
        if kept else (None, None, None)
    grad_u, grad_w = torch.zeros_like(grad_h[0]), [torch.zeros_like(grad_h[0]) for _ in range(n)]
    for t in range(grad_h.shape[0] - 1, -1, -1):
        from_next = spikes_t[t] if recurrent is None or t == grad_h.shape[0] - 1 else spikes_t[t] + out_h[t + 1] @ recurrent
        d_s = torch.addcmul(from_next, grad_u, ds_t[t])
        for k in range(n):
            if kept:
                out_after[k][t].copy_(grad_w[k])
            d_s.addcmul_(grad_w[k], c.jump[k][t])
        d_v = torch.mul(d_s, window_t[t], out=out_v[t] if kept else None)
        d_h = torch.addcmul(d_v, grad_u, dh_t[t], out=out_h[t])
        m = [_combine([(grad_w[k], ck) for k, ck in c.m[i]], t, like=d_h, out=out_m[i][t] if kept else None)
             for i in range(n)]
        grad_u = _combine([(d_h, c.to_u0), *((m[k], ck) for k, ck in c.u)], t, like=d_h)
        grad_w = [_combine([(d_h, c.from_h[i]), (d_v, c.from_v[i]), *((m[k], ck) for k, ck in c.w[i])], t, like=d_h)
                  for i in range(n)]
    return _Gradients(grad_h, grad_v, grad_m, grad_after, grad_u, grad_w)


def _parameter_grads(rules: _LocalRules, grads: _Gradients, S: Tensor, params) -> tuple[Tensor | None, ...]:
    """One vector-Jacobian product of the rules (and of the resting state) with the kept gradients."""
    if not params:
        return ()
    pairs = [(rules.F, grads.h), *zip(rules.G, grads.m), (rules.theta, -grads.v),
             *((j, g * S) for j, g in zip(rules.J, grads.after)), (rules.u0, grads.u), *zip(rules.w0, grads.w)]
    pairs = [(o, c) for o, c in pairs if isinstance(o, Tensor) and o.requires_grad]
    if not pairs:
        return (None,) * len(params)
    outputs, cotangents = zip(*pairs)
    return torch.autograd.grad(outputs, params, cotangents, allow_unused=True)

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
