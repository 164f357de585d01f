"""The `bptt` path (runtime.neuron_backend: bptt): a neuron's T-step loop run without autograd,
and backpropagation through time written out, for one-state neurons (_ThroughTime) and for
neurons with more states (_ThroughTimeStates). Imported by Neuron.forward only when this path
runs, like bench/neurons/fused.py. The numbers equal the eager loop's up to float rounding
(tests/test_neuron_conformance.py, tests/test_multistate.py)."""

from dataclasses import dataclass

import torch
from torch import Tensor


def through_time(neuron, x: Tensor) -> Tensor:
    """A neuron's (bench.neurons.base.Neuron) spikes for the input x [T, B, ...], with the
    hand-written backward."""
    path = _ThroughTimeStates if neuron.states else _ThroughTime
    return path.apply(x, neuron, *neuron.parameters())


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
    def forward(ctx, x: Tensor, neuron, *params: Tensor) -> Tensor:
        threshold = neuron.threshold
        H, S = torch.empty_like(x), torch.empty_like(x)
        u = torch.zeros_like(x[0]) + neuron.rest
        for t, x_t in enumerate(x):
            h = torch.add(u + neuron.f(u), x_t, out=H[t])
            s = torch.ge(h, threshold, out=S[t])  # spikes as 0/1 floats: see reset_potential
            u = neuron.reset_potential(h, s)
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
    the resting state) with these; a neuron without learnable parameters keeps no per-step
    gradient but dL/dh."""

    @staticmethod
    def forward(ctx, x: Tensor, neuron, *params: Tensor) -> Tensor:
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
            moved = [wk + dw for wk, dw in zip(w, neuron.state_changes(u, *w))]
            keep = 1.0 - s
            w = [m * keep + j * s for m, j in zip(moved, neuron.states_after_spike(*moved))]  # as step
            u = neuron.reset_potential(h, s, keep)
        S = _pass_on_non_finite(S, H - neuron.firing_threshold(*W))
        ctx.save_for_backward(H, S, *W, *params)
        ctx.neuron, ctx.n_params = neuron, len(params)
        return S

    @staticmethod
    def backward(ctx, grad_spikes: Tensor) -> tuple[Tensor | None, ...]:
        H, S, *rest = ctx.saved_tensors
        W, params = rest[: len(rest) - ctx.n_params], rest[len(rest) - ctx.n_params :]
        rules = _local_rules(ctx.neuron, H, S, W)
        grads = _backward_loop(grad_spikes, H, rules, _loop_coefficients(rules, S), keep_per_step=bool(params))
        return (grads.h, None, *_parameter_grads(rules, grads, S, params))


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


def _backward_loop(grad_spikes: Tensor, H: Tensor, rules: _LocalRules, c: _Coefficients, keep_per_step: bool) -> _Gradients:
    """The loop from the last step to the first; dL/dv, dL/dm and dL/dw+ per step only when kept."""
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
        d_s = torch.addcmul(spikes_t[t], grad_u, ds_t[t])
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
