"""The conformance suite every neuron passes: each config in conf/neuron/ (built-in or added by a
user) is instantiated as the pipeline does and checked against the shared form of paper.md §1."""

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from torch.overrides import TorchFunctionMode

from bench.config import neuron_config
from bench.neurons.base import OP_KINDS, Neuron

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "conf" / "neuron").glob("*.yaml"))
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def make(path: Path, T: int = 4, alpha: float = 1.0) -> Neuron:
    neuron = instantiate(neuron_config(path.stem))
    neuron.calibrate(T=T, alpha=alpha)
    return neuron


def reference_spikes(neuron: Neuron, x: torch.Tensor, recurrent: torch.Tensor | None = None) -> torch.Tensor:
    """An independent loop over paper.md §1 using only the neuron's own rules (f, and for more
    states g, on_spike and firing_threshold) and its settings; with recurrent weights V, each
    step's input is x[t] + V s[t-1]."""
    u = torch.zeros_like(x[0]) + neuron.rest
    w = [torch.zeros_like(x[0]) + r for r in neuron.states_rest]
    out = []
    for x_t in x:
        h = u + neuron.f(u, *w) + x_t
        if recurrent is not None and out:
            h = h + out[-1] @ recurrent.T
        fired = h >= neuron.firing_threshold(*w)
        if w:
            moved = [wi + gi for wi, gi in zip(w, as_tuple(neuron.g(u, *w)))]
            w = [torch.where(fired, j, m) for m, j in zip(moved, as_tuple(neuron.on_spike(*moved)))]
        s = fired.to(x.dtype)
        u = torch.where(fired, torch.full_like(h, neuron.u_reset), h) if neuron.reset == "hard" else h - neuron.threshold * s
        out.append(s)
    return torch.stack(out)


def as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


@pytest.fixture(params=CONFIGS, ids=[p.stem for p in CONFIGS])
def config(request) -> Path:
    return request.param


def inputs(*shape, dtype=torch.float32, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g) * 1.0 + 0.3).to(dtype=dtype, device=device)


def test_is_a_neuron_and_declares_its_cost(config):
    neuron = make(config)
    assert isinstance(neuron, Neuron)
    ops = type(neuron).ops_per_update()
    assert ops.add >= 2 and ops.cmp >= 1  # charge and fire are never free


@pytest.mark.parametrize("device", DEVICES)
def test_shape_and_binary_spikes(config, device):
    neuron = make(config).to(device)
    x = inputs(4, 3, 2, 5, 5, device=device)
    s = neuron(x)
    assert s.shape == x.shape and s.dtype == x.dtype and s.device == x.device
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    assert 0 < s.mean() < 1, "inputs around threshold should make some but not all neurons fire"


def test_state_does_not_leak_between_batches(config):
    neuron = make(config)
    x = inputs(4, 8, 16)
    first = neuron(x)
    neuron(inputs(4, 8, 16, seed=1) * 5)  # a very different batch in between
    assert torch.equal(neuron(x), first)


def test_multi_step_equals_the_step_by_step_reference(config):
    neuron = make(config)
    x = inputs(6, 64, 32)
    with torch.no_grad():
        assert torch.equal(neuron(x), reference_spikes(neuron, x))


def test_finite_gradients_for_input_and_learnable_parameters(config):
    neuron = make(config)
    x = inputs(4, 16, 8).requires_grad_()
    (neuron(x) * torch.linspace(-1, 1, 8)).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name in neuron.learnable:
        grad = getattr(neuron, name).grad
        assert grad is not None and torch.isfinite(grad).all() and grad != 0, f"no gradient for learnable {name}"


def test_deterministic(config):
    def run():
        neuron = make(config)
        x = inputs(4, 16, 8).requires_grad_()
        s = neuron(x)
        s.sum().backward()
        return s, x.grad

    (s1, g1), (s2, g2) = run(), run()
    assert torch.equal(s1, s2) and torch.equal(g1, g2)


@pytest.mark.parametrize("device", DEVICES)
def test_bfloat16(config, device):
    neuron = make(config).to(device=device, dtype=torch.bfloat16)
    x = inputs(4, 8, 16, dtype=torch.bfloat16, device=device).requires_grad_()
    s = neuron(x)
    assert s.dtype == torch.bfloat16 and set(s.unique().tolist()) <= {0.0, 1.0}
    s.float().sum().backward()
    assert x.grad.dtype == torch.bfloat16 and torch.isfinite(x.grad.float()).all()
    # bfloat16 runs the same dynamics: most spikes agree with float32 on the same (rounded) input
    ref = make(config)(x.detach().float())
    assert (s.float() == ref).float().mean() > 0.95


class CountElementwise(TorchFunctionMode):
    """Counts, by OpCount kind, the operations that produce a tensor of the potential's shape
    (per-neuron work; per-layer scalars are not counted). Any other operation producing such a
    tensor is recorded as unpriced: nothing a neuron computes may be free in the energy model."""

    KINDS = {
        "add": {"add", "__add__", "__radd__", "__iadd__", "sub", "__sub__", "__rsub__", "__isub__", "rsub", "neg", "__neg__"},
        "mul": {"mul", "__mul__", "__rmul__", "__imul__", "square"},
        "div": {"div", "__truediv__", "__rtruediv__", "__itruediv__", "true_divide", "reciprocal"},
        "cmp": {"minimum", "maximum", "clamp_min", "clamp_max", "ge", "gt", "le", "lt", "__ge__", "__gt__", "__le__", "__lt__"},
        "exp": {"exp", "exp2", "expm1"},
        "log": {"log", "log1p", "log2", "log10"},
        "sigmoid": {"sigmoid"},
        "tanh": {"tanh"},
        "sqrt": {"sqrt", "rsqrt"},
    }
    FREE = {"clone", "contiguous", "detach", "to", "type_as", "float", "view", "reshape", "expand_as", "__get__"}

    def __init__(self, shape):
        super().__init__()
        self.shape, self.counts, self.unpriced = shape, dict.fromkeys(OP_KINDS, 0), set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        if not name.startswith("__"):
            name = name.removesuffix("_")  # in-place variants: mul_ is mul
        if not (isinstance(out, torch.Tensor) and out.shape == self.shape) or name in self.FREE:
            return out
        if name == "clamp":  # one comparison per bound given
            bounds = [*args[1:3], kwargs.get("min"), kwargs.get("max")]
            self.counts["cmp"] += sum(b is not None for b in bounds)
            return out
        kind = next((k for k, names in self.KINDS.items() if name in names), None)
        if kind is None:
            self.unpriced.add(name)
        else:
            self.counts[kind] += 1
        return out


def count_ops(shape, compute) -> tuple[dict, set]:
    with torch.no_grad(), CountElementwise(shape) as counter:
        compute()
    return counter.counts, counter.unpriced


def test_declared_operation_counts_match_f_and_g(config):
    neuron = make(config)
    name = type(neuron).__name__
    u = inputs(3, 7)
    w = [inputs(3, 7, seed=i + 1) for i in range(len(neuron.states))]
    declared = {"f": (lambda: neuron.f(u, *w), type(neuron).f_ops)}
    if neuron.states:
        declared["g and firing_threshold"] = (lambda: (neuron.g(u, *w), neuron.firing_threshold(*w)), type(neuron).g_ops)
    for what, (compute, ops) in declared.items():
        counts, unpriced = count_ops(u.shape, compute)
        assert not unpriced, (
            f"{name}.{what} uses {sorted(unpriced)}, which no OpCount kind prices: write it with "
            f"the kinds {OP_KINDS} (e.g. u * u * u for u ** 3) so its energy is counted"
        )
        assert counts == ops.as_dict(), f"{name} declares other counts than its {what} performs: {counts}"


def test_the_operation_counter_sees_every_kind_and_flags_the_rest():
    """The counter the test above relies on: each kind is seen, a clamp counts its bounds, an
    operation of no kind is flagged rather than silently free."""
    u = inputs(3, 7)
    with torch.no_grad(), CountElementwise(u.shape) as counter:
        v = (u * 2.0 + 1.0) / 3.0
        v = v.clamp(-1.0, 1.0).clamp(min=0.0).exp().log1p().sigmoid().tanh().abs().sqrt()
        torch.pow(v, 3)
    assert counter.counts == {"add": 1, "mul": 1, "div": 1, "cmp": 3, "exp": 1, "log": 1, "sigmoid": 1, "tanh": 1, "sqrt": 1}
    assert counter.unpriced == {"abs", "pow"}


@pytest.mark.parametrize("backend", ["bptt", "fused"])
def test_other_paths_match_eager(config, backend):
    """The hand-written BPTT and torch.compile of the same loop: spikes agree (>= 99.99%; float
    reassociation may flip a spike sitting exactly at threshold) and gradients agree to float32
    precision."""
    eager = make(config)
    fused = make(config)
    fused.backend = backend
    x = inputs(4, 8, 16, 6, 6)
    xe, xf = x.clone().requires_grad_(), x.clone().requires_grad_()
    se, sf = eager(xe), fused(xf)
    assert (se == sf).float().mean() >= 0.9999
    weights = torch.linspace(-1, 1, 6)
    (se * weights).sum().backward()
    (sf * weights).sum().backward()
    torch.testing.assert_close(xf.grad, xe.grad, rtol=1e-4, atol=1e-5)
    for name in eager.learnable:
        torch.testing.assert_close(getattr(fused, name).grad, getattr(eager, name).grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backend", ["eager", "bptt", "fused"])
def test_a_non_finite_potential_is_passed_on_never_hidden(config, backend):
    """H(nan) would be a silent 0: a NaN or infinite potential must reach the output (and so the
    loss, which fails the run) on every path, and finite neurons must be untouched."""
    neuron = make(config)
    neuron.backend = backend
    x = inputs(4, 8, 16, 6, 6)
    x[0, 0, 0, 0, 0], x[0, 0, 0, 0, 1], x[0, 0, 0, 0, 2] = torch.nan, torch.inf, -torch.inf
    s = neuron(x.requires_grad_())
    assert s[0, 0, 0, 0, 0].isnan() and not s[0, 0, 0, 0, 1].isfinite() and not s[0, 0, 0, 0, 2].isfinite()
    finite = s[:, 1:]
    assert set(finite.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("backend", ["bptt", "fused"])
def test_other_paths_keep_no_more_for_backward_than_eager(config, backend):
    from bench.perf import saved_bytes

    eager, fused = make(config), make(config)
    fused.backend = backend
    x = inputs(4, 8, 16, 6, 6)
    fused(x.clone().requires_grad_())  # compile first
    assert saved_bytes(fused, x) <= saved_bytes(eager, x)


def test_fused_keeps_only_its_input_for_backward(config):
    """The fused path recomputes the whole loop in backward: the input (and the neuron's scalar
    parameters) is all it keeps, never a per-step potential or surrogate mask; on CPU also each
    step's result of a transcendental function (AdEx's exp), one per call the neuron declares."""
    from bench.perf import saved_bytes

    neuron = make(config)
    neuron.backend = "fused"
    x = inputs(4, 8, 16, 6, 6)
    neuron(x.clone().requires_grad_())  # compile first
    ops = neuron.ops_per_update()
    transcendental = ops.exp + ops.log + ops.sigmoid + ops.tanh
    saved = saved_bytes(neuron, x)
    assert x.nbytes <= saved <= (1 + transcendental) * x.nbytes + 64 * 4
    assert saved > x.nbytes + 64 * 4 or not transcendental
