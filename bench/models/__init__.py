"""Spiking backbones. Every layer works on sequences [T, B, ...]; every backbone is built as
`Backbone(neuron, in_channels, num_classes, input_size, alpha, ...)` where `neuron` is a factory
called once per spiking layer (so each layer owns its neuron and its learnable parameters) and
alpha is tdBN's scale."""

from bench.models.convnet import SpikingConvNet
from bench.models.layers import SeqToANN, TdBatchNorm2d
from bench.models.resnet import SpikingResNet19, SpikingResNet34
from bench.models.vgg import VGGSNN

__all__ = ["SpikingConvNet", "SpikingResNet19", "SpikingResNet34", "VGGSNN", "SeqToANN", "TdBatchNorm2d"]
