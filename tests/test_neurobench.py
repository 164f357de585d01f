"""The efficiency figures against NeuroBench's own metrics (the `neurobench` package, Yik et al.
2025: the `neurobench` extra; skipped where it is not installed) on a small trained and pruned
spiking network: synaptic operations, activation sparsity, footprint and connection sparsity of
our network through NeuroBench's TorchModel, and membrane updates through its snnTorch model of
the same network (NeuroBench reads snnTorch's `mem`; docs/neurons.md gives the mapping)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.efficiency import EfficiencyMetrics
from bench.models.layers import SeqToANN
from bench.neurons.base import Neuron
from bench.neurons.lif import LIF

pytest.importorskip("neurobench")
snn = pytest.importorskip("snntorch")
from neurobench.benchmarks import Benchmark  # noqa: E402
from neurobench.metrics.static import ConnectionSparsity, Footprint  # noqa: E402
from neurobench.metrics.workload import ActivationSparsity, MembraneUpdates, SynapticOperations  # noqa: E402
from neurobench.models import SNNTorchModel, TorchModel  # noqa: E402

T, INPUTS, HIDDEN, CLASSES = 10, 20, 32, 5


def analog_inputs(batch: int, generator: torch.Generator) -> torch.Tensor:
    """[T, batch, INPUTS]: values in [0, 2), half of them zero (the first layer's MACs)."""
    values = 2 * torch.rand(T, batch, INPUTS, generator=generator)
    return values * (torch.rand(T, batch, INPUTS, generator=generator) < 0.5)


def trained_pruned_net() -> nn.Sequential:
    """20 -> 32 LIF -> 5 LIF, 40 Adam steps on a random task, then pruned: the smallest half
    of the first layer's weights and every weight into hidden neurons 0-3 set to zero (those
    neurons never move, so membrane updates are fewer than neuron updates)."""
    torch.manual_seed(0)
    net = nn.Sequential(SeqToANN(nn.Linear(INPUTS, HIDDEN, bias=False)), LIF(tau=2.0),
                        SeqToANN(nn.Linear(HIDDEN, CLASSES, bias=False)), LIF(tau=2.0))
    with torch.no_grad():  # PyTorch's default init leaves the read-out silent: no gradient reaches it
        net[0].layer.weight.mul_(3)
        net[2].layer.weight.mul_(6)
    x, y = analog_inputs(64, torch.Generator().manual_seed(0)), torch.randint(0, CLASSES, (64,))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(40):
        optimizer.zero_grad()
        F.cross_entropy(4 * net(x).mean(0), y).backward()
        optimizer.step()
    with torch.no_grad():
        w = net[0].layer.weight
        w[w.abs() < w.abs().median()] = 0.0
        w[:4] = 0.0
    return net


class BatchFirst(nn.Module):
    """NeuroBench feeds [batch, time, ...]; the suite's networks take [time, batch, ...]."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.transpose(0, 1)).transpose(0, 1)


class SnnTorchTwin(nn.Module):
    """The same network in snnTorch, one step per call: Leaky(beta = 1 - 1/tau, reset to zero)."""

    def __init__(self, net: nn.Sequential) -> None:
        super().__init__()
        self.fc1, self.fc2 = net[0].layer, net[2].layer
        self.lif1 = snn.Leaky(beta=0.5, threshold=1.0, reset_mechanism="zero", init_hidden=True)
        self.lif2 = snn.Leaky(beta=0.5, threshold=1.0, reset_mechanism="zero", init_hidden=True, output=True)

    def forward(self, x: torch.Tensor):
        return self.lif2(self.fc2(self.lif1(self.fc1(x))))


def ours(net: nn.Module, batches: list[torch.Tensor]) -> dict:
    metrics = EfficiencyMetrics(net, T)
    metrics.attach()
    with torch.no_grad():
        for x in batches:
            net(x)
            metrics.add_samples(x.shape[1])
    metrics.detach()
    return metrics.compute()


def neurobench(model, batches: list[torch.Tensor], static: list, workload: list) -> dict:
    data = torch.cat([x.transpose(0, 1) for x in batches])  # [samples, T, inputs]
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data, torch.zeros(len(data))),
                                         batch_size=batches[0].shape[1])
    return Benchmark(model, loader, [], [], [static, workload]).run(quiet=True)


def test_neurobench_s_metrics_match_ours_number_for_number():
    net = trained_pruned_net().eval()
    generator = torch.Generator().manual_seed(1)
    batches = [analog_inputs(16, generator) for _ in range(3)]
    mine = ours(net, batches)

    model = TorchModel(BatchFirst(net))
    model.add_activation_module(Neuron)  # the suite's neurons are NeuroBench's activation layers
    theirs = neurobench(model, batches, [Footprint, ConnectionSparsity], [SynapticOperations, ActivationSparsity])
    ops = mine["synaptic_operations"]
    assert theirs["SynapticOperations"] == {"Effective_MACs": ops["effective_macs"], "Effective_ACs": ops["effective_acs"],
                                            "Dense": ops["dense"]}
    assert 0 < ops["effective_macs"] < ops["dense"] and ops["effective_acs"] > 0
    assert theirs["ActivationSparsity"] == pytest.approx(mine["activation_sparsity"], abs=1e-12)
    assert theirs["Footprint"] == mine["footprint_bytes"]
    assert theirs["ConnectionSparsity"] == round(mine["connection_sparsity"], 4) and mine["connection_sparsity"] > 0.4

    twin = SnnTorchTwin(net)
    with torch.no_grad():  # the mapping holds: the twin fires the same spikes
        snn.utils.reset(twin)
        twin_spikes = torch.stack([twin(x_t)[0] for x_t in batches[0]])
    assert torch.equal(twin_spikes, net(batches[0]))
    updates = neurobench(SNNTorchModel(twin), batches, [], [MembraneUpdates])["MembraneUpdates"]
    assert updates == pytest.approx(mine["membrane_updates"], rel=0, abs=1e-9)
    assert mine["membrane_updates"] < mine["neuron_updates"]  # the pruned neurons hold still
