"""What a task's network is: parameters, spiking layers and their neurons, dense MACs.

Usage: python -m bench.summary <task> [neuron]   (prints JSON; neuron defaults to lif)

Counts come from one forward pass of a single zero sample (no dataset needed): neurons per
spiking layer are per sample and timestep; MACs are per sample over all T timesteps, as model
FLOPs counts quote them (`dense_macs_per_sample`: every kernel position, the zero padding's
included, as torchvision's and fvcore's) and as NeuroBench counts its Dense figure
(`neurobench_dense_per_sample`: padding excluded; bench.efficiency).
"""

import argparse
import json

import torch

from bench.builder import build
from bench.config import cell_config, load_params
from bench.efficiency import EfficiencyMetrics
from bench.neurons.base import Neuron


def kernel_macs(layer: torch.nn.Module, out: torch.Tensor) -> int:
    """MACs of one conv/linear call as model-FLOPs counts quote them: every output x its fan-in."""
    fan_in = layer.weight[0].numel() if isinstance(layer, torch.nn.Conv2d) else layer.in_features
    return out.numel() * fan_in


def summarize(task: str, neuron: str = "lif") -> dict:
    cfg = cell_config(load_params(), neuron, task, 0)
    datamodule, module = build(cfg)
    module.eval()
    T = cfg.task.T
    shape = datamodule.input_shape
    x = torch.zeros(1, *shape) if module.encoding == "direct" else torch.zeros(1, T, *shape)
    layers: dict[str, int] = {}
    macs: list[int] = []
    hooks = [
        m.register_forward_hook(lambda mod, inp, out, name=name: layers.__setitem__(name, out[0, 0].numel()))
        for name, m in module.backbone.named_modules()
        if isinstance(m, Neuron)
    ] + [
        m.register_forward_hook(lambda mod, inp, out: macs.append(kernel_macs(mod, out)))
        for m in module.backbone.modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
    ]
    counter = EfficiencyMetrics(module.backbone, T)
    counter.attach()
    with torch.no_grad():
        module(x)
    counter.add_samples(1)
    counter.detach()
    for hook in hooks:
        hook.remove()
    return {
        "task": task,
        "neuron": neuron,
        "backbone": type(module.backbone).__name__,
        "input_shape": list(shape),
        "T": T,
        "params": sum(p.numel() for p in module.parameters()),
        "spiking_layers": [{"name": name, "neurons": n} for name, n in layers.items()],
        "neurons": sum(layers.values()),
        "dense_macs_per_sample": sum(macs),
        "neurobench_dense_per_sample": counter.compute()["synaptic_operations"]["dense"],
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m bench.summary", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("task")
    parser.add_argument("neuron", nargs="?", default="lif")
    args = parser.parse_args(argv)
    summary = summarize(args.task, args.neuron)
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
