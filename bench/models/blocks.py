"""Spiking building blocks shared by the backbones (tdBN/TET conventions)."""

import math
from collections.abc import Callable

from torch import Tensor, nn

from bench.models.layers import SeqToANN, TdBatchNorm2d
from bench.neurons.base import Neuron

# neuron(stem=True) for the layer that receives the encoded input; neuron(alpha=...) where a
# layer's input has another tdBN scale than the model's alpha (see bench.cell.neuron_factory)
NeuronFactory = Callable[..., Neuron]


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int, alpha: float, threshold: float) -> nn.Sequential:
    """Convolution (no bias: tdBN's shift replaces it) followed by tdBN."""
    return nn.Sequential(
        SeqToANN(nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False)),
        TdBatchNorm2d(c_out, alpha=alpha, threshold=threshold),
    )


class SpikingBasicBlock(nn.Module):
    """ResNet basic block on spikes: conv-tdBN-neuron-conv-tdBN (+ shortcut) -> neuron.

    The two branches that are summed before the last neuron are each normalised to
    alpha / sqrt(2) * threshold, so their sum has the scale alpha * threshold (tdBN, Zheng et al. 2021).
    With an identity shortcut only the residual branch is normalised (to alpha / sqrt(2)); the last
    neuron is calibrated for that scale (the added spikes of the shortcut are not modelled).
    """

    def __init__(self, neuron: NeuronFactory, c_in: int, c_out: int, stride: int, alpha: float) -> None:
        super().__init__()
        first = neuron()
        theta = first.threshold
        self.conv1 = conv_bn(c_in, c_out, 3, stride, alpha, theta)
        self.neuron1 = first
        self.conv2 = conv_bn(c_out, c_out, 3, 1, alpha / math.sqrt(2), theta)
        projection = stride != 1 or c_in != c_out
        self.shortcut = conv_bn(c_in, c_out, 1, stride, alpha / math.sqrt(2), theta) if projection else nn.Identity()
        self.neuron2 = neuron(alpha=alpha if projection else alpha / math.sqrt(2))

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(self.neuron1(self.conv1(x)))
        return self.neuron2(out + self.shortcut(x))


def stage(neuron: NeuronFactory, c_in: int, c_out: int, blocks: int, stride: int, alpha: float) -> nn.Sequential:
    layers = [SpikingBasicBlock(neuron, c_in, c_out, stride, alpha)]
    layers += [SpikingBasicBlock(neuron, c_out, c_out, 1, alpha) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)
