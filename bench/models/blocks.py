"""Spiking building blocks shared by the backbones (tdBN/TET conventions)."""

import math
from collections.abc import Callable

from torch import Tensor, nn

from bench.models.layers import SeqToANN, TdBatchNorm2d
from bench.neurons.base import Neuron

# neuron(stem=True) for the layer that receives the encoded input; neuron(alpha=...) where a
# layer's input has another tdBN scale than the model's alpha (see bench.builder.neuron_factory)
NeuronFactory = Callable[..., Neuron]


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int, alpha: float, threshold: float, bias: bool = False) -> nn.Sequential:
    """Convolution (no bias by default: tdBN's shift replaces it; TET's VGGSNN code has one)
    followed by tdBN (alpha = threshold = 1 is plain BatchNorm over time and batch)."""
    return nn.Sequential(
        SeqToANN(nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=bias)),
        TdBatchNorm2d(c_out, alpha=alpha, threshold=threshold),
    )


class SpikingBasicBlock(nn.Module):
    """ResNet basic block on spikes: conv-tdBN-neuron-conv-tdBN (+ shortcut) -> neuron.

    The two branches that are summed before the last neuron are each normalised to
    alpha / sqrt(2) * threshold, so their sum has the scale alpha * threshold (tdBN, Zheng et al. 2021).
    With an identity shortcut only the residual branch is normalised (to alpha / sqrt(2)); the last
    neuron is calibrated for that scale (the added spikes of the shortcut are not modelled).
    """

    def __init__(self, neuron: NeuronFactory, c_in: int, c_out: int, stride: int, alpha: float, norm: str = "tdbn") -> None:
        super().__init__()
        first = neuron()
        projection = stride != 1 or c_in != c_out
        if norm == "tdbn":
            theta, branch = first.threshold, alpha / math.sqrt(2)
            summed = alpha if projection else alpha / math.sqrt(2)
        else:  # "bn": plain BatchNorm (TET's ResNet-19 code): every branch at unit scale
            theta, alpha, branch = 1.0, 1.0, 1.0
            summed = math.sqrt(2) if projection else 1.0
        self.conv1 = conv_bn(c_in, c_out, 3, stride, alpha, theta)
        self.neuron1 = first
        self.conv2 = conv_bn(c_out, c_out, 3, 1, branch, theta)
        self.shortcut = conv_bn(c_in, c_out, 1, stride, branch, theta) if projection else nn.Identity()
        self.neuron2 = neuron(alpha=summed)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(self.neuron1(self.conv1(x)))
        return self.neuron2(out + self.shortcut(x))


class SEWBasicBlock(nn.Module):
    """Spike-element-wise block with ADD (Fang et al., NeurIPS 2021, SEW-ResNet): the residual
    branch ends in a neuron, conv-tdBN-neuron-conv-tdBN-neuron, and its spikes are added to the
    shortcut's (the input, or conv1x1-tdBN-neuron where the shape changes), so the block passes on
    spike counts (0, 1, 2, ...) rather than binary spikes."""

    def __init__(self, neuron: NeuronFactory, c_in: int, c_out: int, stride: int, alpha: float) -> None:
        super().__init__()
        first = neuron()
        self.conv1 = conv_bn(c_in, c_out, 3, stride, alpha, first.threshold)
        self.neuron1 = first
        self.conv2 = conv_bn(c_out, c_out, 3, 1, alpha, first.threshold)
        self.neuron2 = neuron()
        projection = stride != 1 or c_in != c_out
        self.shortcut = (
            nn.Sequential(conv_bn(c_in, c_out, 1, stride, alpha, first.threshold), neuron()) if projection else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.neuron2(self.conv2(self.neuron1(self.conv1(x)))) + self.shortcut(x)


def stage(neuron: NeuronFactory, c_in: int, c_out: int, blocks: int, stride: int, alpha: float, norm: str = "tdbn",
          sew: bool = False) -> nn.Sequential:
    """`blocks` basic blocks (spike after the add; `sew`: SEW-ADD blocks), the first one striding."""
    if sew:
        layers = [SEWBasicBlock(neuron, c_in, c_out, stride, alpha)]
        return nn.Sequential(*layers, *(SEWBasicBlock(neuron, c_out, c_out, 1, alpha) for _ in range(blocks - 1)))
    layers = [SpikingBasicBlock(neuron, c_in, c_out, stride, alpha, norm)]
    layers += [SpikingBasicBlock(neuron, c_out, c_out, 1, alpha, norm) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)
