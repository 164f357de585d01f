"""What a task's network is: parameters, spiking layers and their neurons, dense MACs.

Usage: python -m bench.summary <task> [neuron]   (prints JSON; neuron defaults to lif)

Counts come from one forward pass of a single zero sample (no dataset needed): neurons per
spiking layer are per sample and timestep; dense MACs are per sample over all T timesteps.
"""

import argparse
import json

import torch

from bench.builder import build
from bench.config import cell_config, load_params
from bench.efficiency import EfficiencyMetrics
from bench.neurons.base import Neuron


def summarize(task: str, neuron: str = "lif") -> dict:
    cfg = cell_config(load_params(), neuron, task, 0)
    datamodule, module = build(cfg)
    module.eval()
    T = cfg.task.T
    shape = datamodule.input_shape
    x = torch.zeros(1, *shape) if module.encoding == "direct" else torch.zeros(1, T, *shape)
    layers: dict[str, int] = {}
    hooks = [
        m.register_forward_hook(lambda mod, inp, out, name=name: layers.__setitem__(name, out[0, 0].numel()))
        for name, m in module.backbone.named_modules()
        if isinstance(m, Neuron)
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
        "dense_macs_per_sample": counter.compute()["synaptic_operations"]["dense"],
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
