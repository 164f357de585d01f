import math

import pytest
import torch
from hydra.utils import instantiate

from bench.config import neuron_config
from bench.neurons.lif import LIF
from bench.neurons.qif import QIF
from bench.neurons.surrogate import AnalyticWindow, ArcTan, Rectangle, Sigmoid, Triangle, reciprocal_in


def run(neuron, inputs):
    """Feed a [T] input sequence to one neuron; returns spikes [T]."""
    return neuron(torch.tensor(inputs, dtype=torch.float32)[:, None]).squeeze(1)


def potentials(neuron, inputs):
    """Membrane potentials after each step, via the public single-step update."""
    u = torch.zeros(1) + neuron.rest
    out = []
    for x in inputs:
        _, u = neuron.step(u, torch.tensor([x]))
        out.append(u.item())
    return out


def test_lif_charges_decays_and_hard_resets():
    lif = LIF(tau=2.0)
    # h1 = 0.6; h2 = 0.6 - 0.3 + 0.6 = 0.9; h3 = 0.9 - 0.45 + 0.6 = 1.05 -> spike, reset to 0
    assert run(lif, [0.6, 0.6, 0.6, 0.0]).tolist() == [0, 0, 1, 0]
    assert potentials(lif, [0.6, 0.6, 0.6, 0.0]) == pytest.approx([0.6, 0.9, 0.0, 0.0])


def test_lif_soft_reset_subtracts_threshold():
    lif = LIF(tau=2.0, reset="soft")
    # h1 = 1.5 -> spike, u = 0.5; h2 = 0.5 - 0.25 + 0 = 0.25
    assert run(lif, [1.5, 0.0]).tolist() == [1, 0]
    assert potentials(lif, [1.5, 0.0]) == pytest.approx([0.5, 0.25])


def test_lif_hard_reset_to_configured_potential():
    assert potentials(LIF(u_reset=-0.2), [2.0]) == pytest.approx([-0.2])


def test_qif_hard_reset_defaults_to_u1():
    qif = QIF(a=0.25, u1=-0.1, u2=0.5)
    assert qif.u_reset == -0.1 and qif.rest == -0.1
    assert potentials(qif, [3.0]) == pytest.approx([-0.1])


def test_qif_update_is_the_quadratic_map():
    qif = QIF(a=0.25, u1=0.0, u2=0.5)
    # u = 0 -> h = 0.4; then h = 0.4 + 0.25 * 0.4 * (0.4 - 0.5) + 0.2 = 0.59
    assert potentials(qif, [0.4, 0.2]) == pytest.approx([0.4, 0.59])


@pytest.mark.parametrize("neuron", [LIF(), QIF(), LIF(reset="soft"), QIF(reset="soft")], ids=repr)
def test_shapes_binary_spikes_and_batch_independence(neuron):
    torch.manual_seed(0)
    x = torch.randn(4, 3, 2, 5, 5)
    s = neuron(x)
    assert s.shape == x.shape and s.dtype == x.dtype
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    # no state leaks between batches: the same batch twice gives the same spikes
    assert torch.equal(neuron(x), s)
    # each sample is independent of the others in the batch
    assert torch.equal(neuron(x[:, :1]), s[:, :1])


def test_surrogate_gradient_is_the_rectangular_window():
    v = torch.tensor([-0.6, -0.4, 0.0, 0.4, 0.6], requires_grad=True)
    Rectangle(width=1.0)(v).sum().backward()
    assert v.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    v.grad = None
    Rectangle(width=0.5)(v).sum().backward()
    assert v.grad.tolist() == [0.0, 0.0, 2.0, 0.0, 0.0]


def test_rectangle_window_multiplies_by_the_quotient_bit_for_bit():
    generator = torch.Generator().manual_seed(0)
    random_widths = 10 ** (6 * torch.rand(2000, generator=generator, dtype=torch.float64) - 3)
    widths = [1.0, 0.5, 1 / 3, 0.1, 7.0, 2.7205562422864795, *random_widths.tolist()]
    for dtype in (torch.float32, torch.float64):
        divided = torch.ones(len(widths), dtype=dtype) / torch.tensor(widths, dtype=dtype)
        assert [reciprocal_in(dtype, w) for w in widths] == divided.tolist()
    for dtype in (torch.float32, torch.float64, torch.bfloat16):  # bfloat16 computes in float32
        v = 4 * torch.randn(10_000, generator=generator).to(dtype)
        for width in widths[:50]:
            assert torch.equal(Rectangle(width).derivative(v), (v.abs() < width / 2).to(dtype) / width)


def test_qif_quadratic_is_the_direct_form():
    u = torch.cat([torch.randn(100_000) * 3, torch.tensor([0.0, -0.0, 0.5, 1e4, -1e4, 2e4, -3e4])])

    def direct(qif, u):  # a (u - u1)(u - u2), u clamped to u1 +- 1e4
        u = u.clamp(qif.u1 - 1e4, qif.u1 + 1e4)
        return qif.a * (u - qif.u1) * (u - qif.u2)

    qif = QIF(a=0.25, u1=0.0, u2=0.5)
    assert torch.equal(qif.f(u), direct(qif, u))  # bit for bit where u1 = 0 (every shipped QIF)
    shifted = QIF(a=0.3, u1=-0.2, u2=0.4)
    assert torch.allclose(shifted.f(u), direct(shifted, u), rtol=1e-6, atol=1e-6)
    u.requires_grad_()
    qif.f(u).sum().backward()
    assert u.grad[-2:].tolist() == [0.0, 0.0]  # clamped: no gradient through the guard


@pytest.mark.parametrize("neuron", [LIF(), QIF()], ids=repr)
def test_gradient_flows_through_time_via_surrogate(neuron):
    x = torch.full((3, 1), 0.45, requires_grad=True)
    neuron(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert (x.grad != 0).any(), "no gradient reached the input through the surrogate"
    # the input of step 1 influences later steps' spikes through the membrane
    assert x.grad[0].item() != 0


def null_trajectory(qif, u0, steps):
    u = torch.tensor(u0)
    for _ in range(steps):
        u = u + qif.f(u)
    return u.item()


def test_qif_null_input_fixed_points_and_stability_fig1():
    qif = QIF(a=0.25, u1=0.0, u2=0.5)
    for fixed in (0.0, 0.5):
        assert null_trajectory(qif, fixed, 1) == pytest.approx(fixed)
    # derivatives of g(u) = u + f(u): 1 - a(u2-u1) = 0.875 at u1, 1 + a(u2-u1) = 1.125 at u2
    g = lambda u: u + qif.f(u)  # noqa: E731
    for u, slope in ((0.0, 0.875), (0.5, 1.125)):
        uu = torch.tensor(u, dtype=torch.float64, requires_grad=True)
        g(uu).backward()
        assert uu.grad.item() == pytest.approx(slope)
    # paper Fig. 1: 0.40 decays to rest, 0.51 and 0.60 run away (towards the threshold)
    assert abs(null_trajectory(qif, 0.40, 200)) < 1e-3
    for u0 in (0.51, 0.60):
        u, t = torch.tensor(u0), 0
        while u < 1.0 and t < 500:
            u, t = u + qif.f(u), t + 1
        assert u >= 1.0, f"{u0} should run away past the threshold"


def test_qif_basin_of_rest_and_oscillation():
    qif = QIF(a=0.25, u1=0.0, u2=0.5)  # basin (u1 - 1/a, u2) = (-4, 0.5)
    assert abs(null_trajectory(qif, -3.9, 300)) < 1e-3
    assert null_trajectory(qif, -4.1, 1) > 0.5  # one step throws it above u2
    # 1 < a(u2-u1) < 2: damped oscillation around u1 (LIF never overshoots)
    osc = QIF(a=1.5, u1=0.0, u2=1.0, threshold=2.0)
    u, signs = torch.tensor(0.2), []
    for _ in range(6):
        u = u + osc.f(u)
        signs.append(torch.sign(u).item())
    assert signs == [-1, 1, -1, 1, -1, 1]
    assert abs(u.item()) < 0.2


def test_invalid_parameters_are_clear_errors():
    with pytest.raises(ValueError, match="reset"):
        LIF(reset="weird")
    with pytest.raises(ValueError, match="u1 < u2 < threshold"):
        QIF(u2=1.5)
    with pytest.raises(ValueError, match="tau"):
        LIF(tau=0.5)


@pytest.mark.parametrize("name", ["lif", "qif"])
def test_config_defaults_match_the_paper(in_repo, name):
    cfg = neuron_config(name)
    neuron = instantiate(cfg)
    assert neuron.threshold == 1.0 and neuron.reset == "hard" and neuron.learnable == ()
    if name == "lif":
        assert (neuron.tau, neuron.u_rest, neuron.u_reset) == (2.0, 0.0, 0.0)
        assert type(neuron.surrogate) is Rectangle and neuron.surrogate.width == 1.0
    else:
        assert (neuron.a, neuron.u1, neuron.u2, neuron.u_reset) == (0.25, 0.0, 0.5, 0.0)
        assert type(neuron.surrogate) is AnalyticWindow and neuron.surrogate.kappa == pytest.approx(math.sqrt(2 * math.pi))


@pytest.mark.parametrize(
    "surrogate, peak",
    [
        (Rectangle(1.0), 1.0),
        (Rectangle(0.5), 2.0),
        (Triangle(1.0), 2.0),
        (Sigmoid(4.0), 1.0),  # alpha / 4
        (ArcTan(2.0), 1.0),  # alpha / 2
    ],
    ids=repr,
)
def test_surrogates_integrate_to_one_and_peak_at_threshold(surrogate, peak):
    v = torch.linspace(-200, 200, 2_000_001, dtype=torch.float64)
    d = surrogate.derivative(v)
    # arctan's tails decay like 1/v^2: over [-200, 200] it misses ~0.3% of its mass
    assert torch.trapezoid(d, v).item() == pytest.approx(1.0, abs=4e-3)
    assert surrogate.derivative(torch.zeros(1, dtype=torch.float64)).item() == pytest.approx(peak)
    assert (surrogate.derivative(v[v.abs() > 5]) < 1e-2).all()
    x = torch.tensor([-0.1, 0.0, 0.1], requires_grad=True)
    s = surrogate(x)
    assert s.tolist() == [0.0, 1.0, 1.0]
    s.sum().backward()
    assert torch.allclose(x.grad, surrogate.derivative(x.detach()))


def test_learnable_parameters_are_per_layer_parameters():
    a, b = QIF(learnable=["a", "u2"]), QIF(learnable=["a", "u2"])
    assert {n for n, _ in a.named_parameters()} == {"a", "u2"}
    assert a.a is not b.a
    assert {n for n, _ in QIF().named_buffers()} == {"a", "u1", "u2"}
    with pytest.raises(ValueError, match="learnable.*'tau'.*not parameters"):
        QIF(learnable=["tau"])


def test_qif_quadratic_cannot_overflow_into_nan():
    qif = QIF(reset="soft")
    x = torch.tensor([[1e30], [1e30], [0.0], [0.0]])
    s = qif(x)
    assert torch.isfinite(s).all()
    u = torch.tensor([-1e30, 1e30, 3e38])
    assert torch.isfinite(qif.f(u)).all()


def test_uncalibrated_analytic_window_is_a_clear_error():
    with pytest.raises(RuntimeError, match="calibrate"):
        neuron = QIF(surrogate=AnalyticWindow(kappa=math.sqrt(2 * math.pi)))
        neuron.forward(torch.randn(2, 3, requires_grad=True)).sum().backward()


def test_fused_falls_back_to_eager_with_a_warning_where_compilation_fails(monkeypatch):
    import bench.neurons.fused as fused

    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(fused, "_compiled", broken)
    qif = QIF()
    qif.backend = "fused"
    x = torch.randn(3, 4, 5)
    with pytest.warns(UserWarning, match="fused neuron path unavailable.*no C\\+\\+ compiler"):
        s = qif(x)
    assert torch.equal(s, qif.multistep(x))
    assert fused._compiled is False
    monkeypatch.setattr(fused, "_compiled", None)  # let later tests compile for real


def test_unknown_backend_is_a_clear_error():
    lif = LIF()
    lif.backend = "cuda-magic"
    with pytest.raises(ValueError, match="runtime.neuron_backend"):
        lif(torch.zeros(2, 3))


def test_scalar_arithmetic_of_parameters_is_computed_once_for_the_fused_kernels():
    """ScalarsOnce puts a one-element value computed from parameters (here 1 / tau) behind
    bench::computed_once where a layer-sized op reads it; views, constants and one-element readers
    are left as they are."""
    from torch.fx.experimental.proxy_tensor import make_fx

    from bench.neurons.fused import ScalarsOnce

    def step(x, tau):
        decay = tau.reciprocal()
        return x * decay + (decay * 2.0) + tau.view(1) + torch.ones(()), tau.sqrt()  # a scalar output stays as it is

    graph = make_fx(step, tracing_mode="fake")(torch.randn(3, 4), torch.tensor(2.0)).graph
    ScalarsOnce()(graph)
    once = [n for n in graph.nodes if n.target == torch.ops.bench.computed_once.default]
    computed = [n.args[0].target for n in once]
    assert computed == [torch.ops.aten.reciprocal.default, torch.ops.aten.mul.Tensor]  # 1 / tau and 2 / tau
    (reciprocal,) = [n for n in graph.nodes if n.target == torch.ops.aten.reciprocal.default]
    assert {u.target for u in reciprocal.users} == {torch.ops.aten.mul.Tensor, torch.ops.bench.computed_once.default}
    assert all(u.meta["val"].numel() == 1 for u in reciprocal.users if u.target == torch.ops.aten.mul.Tensor)
    on_meta = make_fx(step, tracing_mode="fake")(torch.randn(3, 4, device="meta"), torch.tensor(2.0, device="meta")).graph
    ScalarsOnce()(on_meta)  # not on CPU (a GPU's kernels redo it in parallel): left alone
    assert torch.ops.bench.computed_once.default not in {n.target for n in on_meta.nodes}
