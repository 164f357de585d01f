"""Spiking backbones. Every layer works on sequences [T, B, ...]."""

from bench.models.convnet import SpikingConvNet
from bench.models.layers import SeqToANN, TdBatchNorm2d

__all__ = ["SpikingConvNet", "SeqToANN", "TdBatchNorm2d"]
