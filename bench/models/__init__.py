"""Spiking backbones. Every layer works on sequences [T, B, ...]; every backbone is built as
`Backbone(neuron, input_shape, num_classes, alpha, ...)` where `neuron` is a factory
called once per spiking layer (so each layer owns its neuron and its learnable parameters) and
alpha is tdBN's scale.

A task names its backbone by its full module path (`bench.models.convnet.SpikingConvNet`), and
nothing here imports the backbones: a cell loads, and its DVC stage tracks, only its own
backbone's file besides the shared layers (layers.py, blocks.py; dvc.yaml).
"""
