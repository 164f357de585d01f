"""Recurrent spiking layers (bench/models/recurrent.py, Neuron.forward with recurrent weights): the
same guarantees as the feed-forward path. The hand-written backward through time (bptt) against the
autograd loop (eager) for every neuron of conf/neuron/, an independent loop for the forward, the
held-zero self-connections, determinism, what the efficiency metrics count, the published networks'
sizes, and a cell end to end on an SHD fixture."""

import json
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from bench.config import cell_config, load_params, neuron_config
from bench.efficiency import EfficiencyMetrics
from bench.models.recurrent import RecurrentSpikingLayer, RecurrentSpikingMLP
from bench.neurons.base import Neuron

from tests.fixtures import write_hsd
from tests.test_neuron_conformance import CONFIGS, inputs, reference_spikes

T, B, C_IN, N = 6, 5, 12, 16


def layer(path: Path, backend: str, seed: int = 0) -> RecurrentSpikingLayer:
    torch.manual_seed(seed)
    neuron = instantiate(neuron_config(path.stem), backend=backend)
    neuron.calibrate(T=T, alpha=1.0)
    return RecurrentSpikingLayer(neuron, C_IN, N)


def run(net: RecurrentSpikingLayer, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Spikes, and the gradients of the input and of every parameter for a fixed weighting."""
    x = x.clone().requires_grad_()
    spikes = net(x)
    (spikes * torch.linspace(-1, 1, N)).sum().backward()
    return spikes.detach(), {"input": x.grad, **{name: p.grad for name, p in net.named_parameters()}}


@pytest.fixture(params=CONFIGS, ids=[p.stem for p in CONFIGS])
def config(request) -> Path:
    return request.param


def test_bptt_matches_eager_in_a_recurrent_layer(config):
    """Spikes agree (>= 99.99%: float reassociation may flip a spike sitting at threshold) and so
    do the gradients of the input, the feed-forward and recurrent weights, tdBN and the neuron's
    learnable parameters, one-state and multi-state neurons alike."""
    x = inputs(T, B, C_IN)
    eager_spikes, eager_grads = run(layer(config, "eager"), x)
    bptt_spikes, bptt_grads = run(layer(config, "bptt"), x)
    assert 0.05 < eager_spikes.mean() < 0.95, "the comparison needs spikes and silences"
    assert (eager_spikes == bptt_spikes).float().mean() >= 0.9999
    assert eager_grads.keys() == bptt_grads.keys() and "recurrent.weight" in eager_grads
    for name, grad in eager_grads.items():
        torch.testing.assert_close(bptt_grads[name], grad, rtol=1e-4, atol=1e-5, msg=f"{config.stem}: {name}")


def test_the_forward_is_the_recurrence_it_documents(config):
    """An independent loop over the neuron's own rules, each step's input x[t] + V s[t-1]."""
    net = layer(config, "bptt")
    x = inputs(T, B, C_IN)
    with torch.no_grad():
        expected = reference_spikes(net.neuron, net.norm(net.synapses(x)), net.recurrent_weight())
        assert (net(x) == expected).float().mean() >= 0.9999


@pytest.mark.parametrize("backend", ["eager", "bptt"])
def test_a_neuron_is_not_its_own_recurrent_input(backend):
    """V starts orthogonal; its diagonal is held at zero and gets no gradient, so training never
    adds self-connections (a neuron's own past is its dynamics' part)."""
    net = layer(CONFIGS[0], backend)
    V0 = net.recurrent.weight.detach().clone()
    torch.testing.assert_close(V0 @ V0.T, torch.eye(N), rtol=1e-5, atol=1e-5)
    _, grads = run(net, inputs(T, B, C_IN))
    assert grads["recurrent.weight"].abs().sum() > 0 and not grads["recurrent.weight"].diagonal().any()
    assert not net.recurrent_weight().diagonal().any()


@pytest.mark.parametrize("backend", ["eager", "bptt"])
def test_a_recurrent_layer_gives_the_same_bits_twice(backend):
    first = run(layer(CONFIGS[0], backend), inputs(T, B, C_IN))
    second = run(layer(CONFIGS[0], backend), inputs(T, B, C_IN))
    assert torch.equal(first[0], second[0])
    assert all(torch.equal(first[1][name], second[1][name]) for name in first[1])


def test_the_fused_path_says_it_has_no_recurrent_loop():
    net = layer(CONFIGS[0], "fused")
    with pytest.raises(NotImplementedError, match="fused has no recurrent loop yet"):
        net(inputs(T, B, C_IN))
    with pytest.raises(ValueError, match="recurrent weights"):
        net.neuron(inputs(T, B, N), torch.zeros(N + 1, N + 1))


def test_efficiency_counts_the_recurrent_synapses_and_potentials():
    """Dense operations: each step but the first adds N x N recurrent synapses per sample; the
    recurrent synapses are fed spikes (accumulates); membrane updates read the potentials the
    recurrent loop computed."""
    neuron = instantiate(neuron_config("lif"))
    torch.manual_seed(0)
    net = RecurrentSpikingMLP(lambda stem=False, alpha=None: instantiate(neuron_config("lif"), backend="bptt"),
                              (C_IN,), 4, hidden=[N, N], recurrent=[True, False])
    metrics = EfficiencyMetrics(net, T=T)
    metrics.attach()
    net.eval()
    x = inputs(T, B, C_IN)
    with torch.no_grad():
        net(x)
    metrics.add_samples(B)
    counts = metrics.compute()
    assert counts["synaptic_operations"]["dense"] == T * N * C_IN + (T - 1) * N * N + T * N * N + T * 4 * N
    assert counts["synaptic_inputs"]["features.0.neuron (recurrent)"] == "spikes"
    first = net.features[0]
    with torch.no_grad():
        drive = first.norm(first.synapses(x))
        h = first.neuron.potentials(drive, first.recurrent_weight())
        s = first.neuron(drive, first.recurrent_weight())
    assert torch.equal(h >= neuron.threshold, s.bool())  # the potentials are those that fired
    assert counts["synaptic_operations"]["effective_acs"] > 0


def synaptic_weights(model: torch.nn.Module) -> int:
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def sparch_synaptic_weights(inputs: int, hidden: list[int], classes: int) -> int:
    """The weights of idiap/sparch's SNN (Bittar & Garner 2022's code, sparch/models/snns.py): per
    recurrent hidden layer W (inputs x hidden, no bias) and V (hidden x hidden), then the readout's W."""
    total, c_in = 0, inputs
    for width in hidden:
        total += c_in * width + width * width
        c_in = width
    return total + c_in * classes


@pytest.mark.parametrize("model, hidden", [("rsnn-cramer2020", [128]), ("rsnn-bittar2022", [128, 128])])
def test_the_published_networks_have_their_papers_sizes(model, hidden):
    """On SHD (700 channels, 20 classes): Cramer et al. 2020's recurrent SNN has 700 x 128 + 128 x 128
    + 128 x 20 = 108,544 synaptic weights; sparch's default network (Bittar & Garner 2022) 141,312.
    Beyond the synapses a model here has tdBN's two per neuron and the readout's bias; sparch adds
    adLIF's four learned parameters per neuron and a readout batch norm and leak."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(Path(__file__).resolve().parents[1] / "conf" / "model" / f"{model}.yaml")
    assert list(cfg.hidden) == hidden and cfg.recurrent is True
    net = instantiate(cfg, neuron=lambda stem=False, alpha=None: instantiate(neuron_config("lif")),
                      input_shape=(700,), num_classes=20)
    assert synaptic_weights(net) == sparch_synaptic_weights(700, hidden, 20)
    assert synaptic_weights(net) == {"rsnn-cramer2020": 108_544, "rsnn-bittar2022": 141_312}[model]
    assert sum(p.numel() for p in net.parameters()) == synaptic_weights(net) + 2 * sum(hidden) + 20
    assert load_params().tasks.shd.model._target_ == "bench.models.recurrent.RecurrentSpikingMLP"


def test_the_layer_counts_must_match_the_flags():
    with pytest.raises(ValueError, match="model.recurrent has 1 flags for 2 hidden layers"):
        RecurrentSpikingMLP(lambda stem=False, alpha=None: instantiate(neuron_config("lif")), (C_IN,), 4,
                            hidden=[N, N], recurrent=[True])


@pytest.mark.parametrize("neuron", ["lif", "alif"])
def test_a_recurrent_shd_cell_runs_end_to_end(neuron, tmp_path, monkeypatch):
    """The shd task (Cramer et al. 2020's recurrent network) as the pipeline runs a cell, on a small
    file in the published HDF5 format, for a one-state and a multi-state neuron."""
    from bench.builder import build
    from bench.data.hsd import SHD
    from bench.train import run_cell

    write_hsd(tmp_path / "data" / "shd", "shd", {"train": 40, "test": 12}, classes=20)
    monkeypatch.setattr(SHD, "published_counts", {"train": 40, "test": 12})
    monkeypatch.setattr("bench.config.PREPARED_DIR", tmp_path / "prepared")
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "data"))
    overrides = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2", "task.T=10", "task.data.source.steps=10",
                 "task.data.batch_size=8",
                 "task.data.source.val_fraction=0.5"]  # 20 of the 40 recordings: one per class
    cfg = cell_config(load_params(), neuron, "shd", 0, overrides)
    datamodule, model = build(cfg)
    datamodule.write_split()
    assert any(isinstance(m, Neuron) for m in model.modules())
    record = run_cell(cfg, overrides, runs_root=tmp_path / "runs", work_root=tmp_path / "work")
    assert record["status"] == "ok", record.get("reason")
    on_disk = json.loads((tmp_path / "runs" / "shd" / neuron / "0" / "record.json").read_text())
    assert on_disk["n_test"] == 12
    assert on_disk["metrics"]["synaptic_inputs"]["features.0.neuron (recurrent)"] == "spikes"


def test_the_temporal_profile_runs_the_recurrent_networks():
    """conf/profile/temporal.yaml, composed as `dvc exp run -S profile=temporal` would: SHD and SSC
    with their recurrent network for every neuron, LIF the baseline, the primary question QIF vs
    LIF; not the default profile (its data cannot be fetched here)."""
    from bench import costs

    params, cells = costs.profile_cells("temporal")
    assert {c.task for c in cells} == {"shd", "ssc"} and len(cells) == 9 * 2 * 3
    assert params.profile.baseline == "lif" and list(params.profile.questions.primary) == ["qif vs lif"]
    assert all(params.tasks[t].model._target_ == "bench.models.recurrent.RecurrentSpikingMLP" for t in ("shd", "ssc"))
    assert load_params().profile.name == "mini"
