"""The suite's neurons against the peer libraries' (docs/neurons.md, "Peer libraries"): under the
stated mapping every spike agrees. Runs where the `peers` extra is installed, skipped otherwise."""

import pytest
import torch
from hydra.utils import instantiate

from bench.config import neuron_config

T, SHAPE = 64, (16, 256)


def inputs(scale: float, seed: int = 0) -> torch.Tensor:
    """[T, batch, neurons] of N(0.4, scale^2): every neuron crosses threshold many times."""
    return 0.4 + scale * torch.randn(T, *SHAPE, generator=torch.Generator().manual_seed(seed))


def ours(name: str, x: torch.Tensor) -> torch.Tensor:
    neuron = instantiate(neuron_config(name))  # the eager path: the reference every other path matches
    with torch.no_grad():
        return neuron.multistep(x)


@pytest.mark.parametrize("scale", [0.5, 1.0, 2.0])
def test_lif_is_spikingjelly_s_lifnode_without_input_decay(scale):
    """LIF(tau, u_rest=0, hard reset to 0) = LIFNode(tau, decay_input=False, v_reset=0): the same
    charge (V - (V - V_reset)/tau + X), the same test (H >= threshold), the same hard reset."""
    neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
    x = inputs(scale)
    peer = neuron.LIFNode(tau=2.0, decay_input=False, v_threshold=1.0, v_reset=0.0, step_mode="m")
    with torch.no_grad():
        theirs = peer(x)
    assert ours("lif", x).sum() > 0.05 * x.numel()
    assert torch.equal(ours("lif", x), theirs)


@pytest.mark.parametrize("scale", [0.5, 1.0, 2.0])
def test_qif_is_spikingjelly_s_qifnode_at_tau_2_with_doubled_input_starting_at_rest(scale):
    """QIF(a, u1, u2) = QIFNode(tau=2, a0=2a, v_rest=u1, v_c=u2, v_reset=u1) fed 2x: QIFNode
    computes V + (X + a0 (V - V_rest)(V - V_c)) / tau and refuses tau <= 1; with tau = 2 every
    scaling is by a power of two, so each step equals ours bit for bit. spikingjelly's default
    v_reset = -0.1 is also where it starts: the mapping sets it to u1, our start and reset."""
    neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
    x = inputs(scale)
    peer = neuron.QIFNode(tau=2.0, a0=2 * 0.25, v_rest=0.0, v_c=0.5, v_threshold=1.0, v_reset=0.0, step_mode="m")
    with torch.no_grad():
        theirs = peer(2 * x)
    mine = ours("qif-rect", x)  # the surrogate changes no forward value
    assert mine.sum() > 0.05 * x.numel()
    assert torch.equal(mine, theirs)


@pytest.mark.parametrize("scale", [0.5, 1.0, 2.0])
def test_lif_is_snntorch_s_leaky_read_before_its_late_reset(scale):
    """snnTorch's Leaky(beta, reset_mechanism="zero") resets at the start of the next step, from
    the previous step's potential, and tests mem > threshold: its mem is our potential before the
    reset (h), its spikes are ours with beta = 1 - 1/tau (inputs that hit the threshold exactly,
    where > and >= differ, have probability 0 here)."""
    snntorch = pytest.importorskip("snntorch")
    x = inputs(scale)
    peer = snntorch.Leaky(beta=0.5, threshold=1.0, reset_mechanism="zero")
    mem = peer.reset_mem()
    spikes = []
    with torch.no_grad():
        for x_t in x:
            spk, mem = peer(x_t, mem)
            spikes.append(spk)
    assert torch.equal(ours("lif", x), torch.stack(spikes))
