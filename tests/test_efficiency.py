"""Operation counts and energy recomputed by hand on tiny networks."""

import pytest
import torch
from torch import nn

from bench.efficiency import CONVENTIONAL, FULL, EfficiencyMetrics, EnergyModel
from bench.models.layers import SeqToANN
from bench.neurons.base import OP_KINDS, Neuron, OpCount
from bench.neurons.lif import LIF
from bench.neurons.qif import QIF


def count(net: nn.Module, x: torch.Tensor) -> dict:
    metrics = EfficiencyMetrics(net, T=x.shape[0])
    metrics.attach()
    with torch.no_grad():
        net(x)
    metrics.add_samples(x.shape[1])
    metrics.detach()
    return metrics.compute()


def test_two_layer_net_by_hand():
    torch.manual_seed(0)
    fc1, fc2 = nn.Linear(4, 3), nn.Linear(3, 2)
    with torch.no_grad():
        fc1.weight.copy_(torch.tensor([[1.0, 0.0, 0.5, 0.0], [0.0, 2.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]))
        fc1.bias.zero_()
    net = nn.Sequential(SeqToANN(fc1), QIF(), SeqToANN(fc2))
    # T = 2 steps, B = 2 samples, analog input with some zeros
    x = torch.tensor([[[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 3.0]], [[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]])
    spikes = net[1](net[0](x))
    got = count(net, x)
    T, B = 2, 2
    # dense: every output of every layer needs fan-in MACs, at every step, for every sample
    assert got["synaptic_operations"]["dense"] == pytest.approx(T * (3 * 4 + 2 * 3))
    # fc1 sees the analog input (MACs): each nonzero input reaches the nonzero weights of its column
    column_reach = (fc1.weight != 0).sum(0)  # inputs 0..3 reach 2, 2, 2, 1 outputs
    macs = sum(float(column_reach[i]) for t in range(T) for b in range(B) for i in range(4) if x[t, b, i] != 0)
    assert macs == 2 + 2 + 1 + 2 + 2  # hand count of the five nonzero inputs
    assert got["synaptic_operations"]["effective_macs"] == pytest.approx(macs / B)
    # fc2 sees spikes (ACs): each spike reaches the 2 outputs
    assert got["synaptic_operations"]["effective_acs"] == pytest.approx(2 * spikes.sum().item() / B)
    # QIF: 3 neurons x T updates per sample, each 2 mul + 4 add + 3 comparisons (the clamp's two
    # bounds and the threshold)
    assert got["neuron_updates"] == T * 3
    ops = got["neuron_operations"]
    assert {k: v for k, v in ops.items() if v} == {"mul": 2 * T * 3, "add": 4 * T * 3, "cmp": 3 * T * 3}
    assert set(ops) == set(OP_KINDS)
    assert got["activation_sparsity"] == pytest.approx(1 - spikes.mean().item())
    assert got["firing_rate"] == pytest.approx(spikes.mean().item())
    assert got["firing_rate_per_layer"] == {"1": pytest.approx(spikes.mean().item())}
    assert got["synaptic_inputs"] == {"0.layer": "analog", "2.layer": "spikes"}
    m = FULL
    acs = 2 * spikes.sum().item() / B
    full_pj = 4.6 * macs / B + 0.9 * acs + 3.7 * 2 * T * 3 + 0.9 * 4 * T * 3 + 0.9 * 3 * T * 3
    assert (m.pj_per_mac, m.pj_per_ac, m.pj_per_op["mul"], m.pj_per_op["add"], m.pj_per_op["cmp"]) == (4.6, 0.9, 3.7, 0.9, 0.9)
    assert got["energy_full_mj"] == pytest.approx(full_pj * 1e-9)
    # the conventional count: the same MACs (the input changes over time) and ACs, no neuron updates
    assert got["energy_mj"] == pytest.approx((4.6 * macs / B + 0.9 * acs) * 1e-9)
    assert (got["energy_model"], got["energy_full_model"]) == ("conventional-horowitz45-fp32", "full-horowitz45-fp32")
    assert got["samples"] == B
    # footprint: fc1 and fc2 weights and biases, QIF's buffers, 4 bytes each
    assert got["footprint_bytes"] == 4 * (4 * 3 + 3 + 3 * 2 + 2 + sum(b.numel() for b in net[1].buffers()))
    zeros = int((fc1.weight == 0).sum() + (fc2.weight == 0).sum())
    assert zeros == 5 and got["connection_sparsity"] == pytest.approx(zeros / (12 + 6))


def test_the_conventional_count_takes_a_static_stem_once_and_names_pooled_inputs():
    """Direct encoding: the stem sees the same image at every step (its MACs count once per sample
    in the conventional model, T times in the full one); after average pooling the next layer sees
    non-binary values: MACs at every step, named in synaptic_inputs."""
    torch.manual_seed(0)
    T, B = 4, 2
    stem, conv2 = nn.Conv2d(1, 2, 3, padding=1, bias=False), nn.Conv2d(2, 2, 3, padding=1, bias=False)
    lif1, lif2 = LIF(), LIF()
    net = nn.Sequential(SeqToANN(stem), lif1, SeqToANN(nn.AvgPool2d(2)), SeqToANN(conv2), lif2)
    with torch.no_grad():
        stem.weight.mul_(8)
    image = torch.rand(B, 1, 4, 4) + 0.1  # no zeros
    x = image.unsqueeze(0).expand(T, *image.shape)
    got = count(net, x)
    assert got["synaptic_inputs"] == {"0.layer": "static", "3.layer": "analog"}
    # every input nonzero: the stem's effective MACs are its dense count (padding excluded), per step
    stem_macs = 2 * (4 * 4 + 8 * 6 + 4 * 9)  # 2 channels x (corners 4, edges 6, interior 9 positions)
    with torch.no_grad():
        pooled = SeqToANN(nn.AvgPool2d(2))(lif1(SeqToANN(stem)(x)))
    reach = torch.nn.functional.conv2d((pooled != 0).float().flatten(0, 1), torch.ones(2, 2, 3, 3), padding=1)
    conv2_macs = reach.sum().item() / B
    assert pooled.unique().numel() > 2  # non-binary
    ops = got["synaptic_operations"]
    assert ops["static_macs"] == pytest.approx(T * stem_macs)
    assert ops["effective_macs"] == pytest.approx(T * stem_macs + conv2_macs)
    assert ops["effective_acs"] == 0
    conventional = 4.6 * (stem_macs + conv2_macs)
    assert got["energy_mj"] == pytest.approx(conventional * 1e-9)
    neuron_pj = sum(FULL.pj_per_op[k] * v for k, v in got["neuron_operations"].items())
    assert got["energy_full_mj"] == pytest.approx((4.6 * (T * stem_macs + conv2_macs) + neuron_pj) * 1e-9)


def test_membrane_updates_count_the_potentials_that_changed():
    """NeuroBench's count: every neuron at the first step, then those whose potential h changed.
    An IF neuron without input keeps its potential; a leaky one decays every step."""
    x = torch.zeros(4, 1, 3)
    x[0, 0, 1] = 0.5  # neuron 1: one input, then it holds 0.5
    x[:, 0, 2] = 0.25  # neuron 2: input every step, charging
    integrator = count(nn.Sequential(LIF(tau=float("inf"))), x)
    assert integrator["membrane_updates"] == 3 + (0 + 0 + 3)  # neuron 0 never moves, 1 holds, 2 moves 3 times
    assert integrator["neuron_updates"] == 4 * 3
    leaky = count(nn.Sequential(LIF(tau=2.0)), x)
    assert leaky["membrane_updates"] == 3 + (0 + 3 + 3)  # neuron 1 decays from 0.5 every step


def test_conv_effective_acs_count_borders_and_strides_exactly():
    conv = nn.Conv2d(1, 3, 3, padding=1, bias=False)
    nn.init.ones_(conv.weight)
    net = nn.Sequential(SeqToANN(conv))
    x = torch.zeros(1, 1, 1, 5, 5)
    x[0, 0, 0, 0, 0] = 1.0  # a spike in the corner reaches a 2x2 patch of outputs per channel
    x[0, 0, 0, 2, 2] = 1.0  # a spike in the middle reaches 3x3
    got = count(net, x)
    assert got["synaptic_operations"]["effective_acs"] == 3 * (4 + 9)
    # dense: NeuroBench's all-ones count, kernel positions over the zero padding excluded
    assert got["synaptic_operations"]["dense"] == 3 * (4 * 4 + 12 * 6 + 9 * 9)
    conv.stride = (2, 2)
    got = count(net, x)
    # stride 2: output windows are centred on inputs 0, 2, 4; each spike lies in exactly one window
    assert got["synaptic_operations"]["effective_acs"] == 3 * (1 + 1)


def test_lif_costs_one_multiplication_and_one_addition_less_than_qif():
    x = torch.randn(2, 3, 5)
    lif, qif = count(nn.Sequential(LIF()), x), count(nn.Sequential(QIF()), x)
    assert qif["neuron_operations"]["mul"] - lif["neuron_operations"]["mul"] == 2 * 5
    assert qif["neuron_operations"]["add"] - lif["neuron_operations"]["add"] == 2 * 5


class _ExpLeak(Neuron):
    """A neuron whose f uses exp: f(u) = -u exp(-u) (a test fixture, not a model)."""

    f_ops = OpCount(mul=1, add=1, exp=1)

    def __init__(self, **common) -> None:
        super().__init__({}, **common)

    def f(self, u: torch.Tensor) -> torch.Tensor:
        v = -u
        return v * v.exp()


def test_an_exponential_is_charged_at_its_named_cost():
    x = torch.randn(2, 3, 5)
    lif, exp_leak = count(nn.Sequential(LIF()), x), count(nn.Sequential(_ExpLeak()), x)
    updates = 2 * 5  # T x neurons per sample
    assert exp_leak["neuron_operations"]["exp"] == updates and lif["neuron_operations"]["exp"] == 0
    assert exp_leak["energy_mj"] == lif["energy_mj"] == 0  # the conventional count prices no neuron update
    extra_pj = (exp_leak["energy_full_mj"] - lif["energy_full_mj"]) * 1e9  # no synapses: only the neurons differ
    assert extra_pj == pytest.approx(FULL.pj_per_op["exp"] * updates)
    assert FULL.pj_per_op["exp"] == pytest.approx(6 * 3.7 + 7 * 0.9)
    assert CONVENTIONAL.pj_per_op == FULL.pj_per_op


def test_an_energy_model_must_price_every_operation_kind():
    with pytest.raises(ValueError, match=r"prices no \['exp'"):
        EnergyModel("partial", "full", pj_per_mac=4.6, pj_per_ac=0.9, pj_per_op={k: 1.0 for k in OP_KINDS if k != "exp"})


@pytest.mark.parametrize("name", ["lif", "if", "plif", "qif", "qif-rect", "lif-aw"])
def test_the_counted_potential_is_the_one_the_spike_test_sees(name):
    """Membrane updates count h, the potential each step compares with the threshold: the
    neuron's own spikes are exactly h >= threshold."""
    from hydra.utils import instantiate

    from bench.config import neuron_config

    neuron = instantiate(neuron_config(name))
    x = torch.randn(12, 4, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        spikes = neuron.multistep(x)
    assert 0 < spikes.mean() < 1
    assert torch.equal((neuron.potentials(x) >= neuron.threshold).float(), spikes)
