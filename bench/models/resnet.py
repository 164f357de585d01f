"""Spiking ResNets with tdBN: ResNet-19 (CIFAR, CIFAR10-DVS) and ResNet-34 (ImageNet), spike
after the add or SEW-ADD (Fang et al. 2021)."""

from collections.abc import Sequence

from torch import Tensor, nn

from bench.models.blocks import NeuronFactory, conv_bn, stage
from bench.models.layers import SeqToANN

NORMS = ("tdbn", "bn")


class SpikingResNet19(nn.Module):
    """ResNet-19 of tdBN (Zheng et al. 2021) and TET (Deng et al. 2022): a 3x3 stem with 128
    channels, stages of [3, 3, 2] basic blocks with 128/256/512 channels (strides 1, 2, 2),
    global average pooling, a 256-unit spiking fully connected layer and the classifier.
    12.69M parameters for 10 classes. Two input channels adapt it to event frames.

    `stem_channels: 64, norm: bn` is the variant of TET's public code (models/resnet_models.py:
    a 64-channel stem and plain BatchNorm, no tdBN scaling)."""

    def __init__(self, neuron: NeuronFactory, input_shape: Sequence[int], num_classes: int, alpha: float = 1.0,
                 stem_channels: int = 128, norm: str = "tdbn") -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"ResNet-19 norm must be one of {NORMS}, got {norm!r}")
        in_channels, input_size, _ = input_shape  # one sample (per timestep): C, H, W
        stem_neuron = neuron(stem=True)
        stem_alpha, stem_theta = (alpha, stem_neuron.threshold) if norm == "tdbn" else (1.0, 1.0)
        self.stem = nn.Sequential(conv_bn(in_channels, stem_channels, 3, 1, stem_alpha, stem_theta), stem_neuron)
        self.layers = nn.Sequential(
            stage(neuron, stem_channels, 128, 3, 1, alpha, norm),
            stage(neuron, 128, 256, 3, 2, alpha, norm),
            stage(neuron, 256, 512, 2, 2, alpha, norm),
        )
        self.pool = SeqToANN(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc1 = SeqToANN(nn.Linear(512, 256))
        self.neuron_fc = neuron()
        self.fc2 = SeqToANN(nn.Linear(256, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        """[T, B, C, H, W] -> per-timestep logits [T, B, num_classes]."""
        x = self.pool(self.layers(self.stem(x)))
        return self.fc2(self.neuron_fc(self.fc1(x)))


class SpikingResNet34(nn.Module):
    """ResNet-34 in torchvision's topology (7x7/2 stem, 3x3/2 max-pool, [3, 4, 6, 3] basic blocks
    with 64-512 channels, global average pooling, classifier) with tdBN and spiking neurons:
    21.80M parameters for 1000 classes, as torchvision's resnet34. `sew: true` is SEW-ResNet-34
    with ADD (Fang et al. 2021): the same convolutions, the neurons inside the residual branch and
    on the projection shortcuts (SEWBasicBlock)."""

    def __init__(self, neuron: NeuronFactory, input_shape: Sequence[int], num_classes: int, alpha: float = 1.0,
                 sew: bool = False) -> None:
        super().__init__()
        in_channels, input_size, _ = input_shape  # one sample (per timestep): C, H, W
        stem_neuron = neuron(stem=True)
        self.stem = nn.Sequential(
            conv_bn(in_channels, 64, 7, 2, alpha, stem_neuron.threshold),
            stem_neuron,
            SeqToANN(nn.MaxPool2d(3, stride=2, padding=1)),
        )
        widths, depths = (64, 128, 256, 512), (3, 4, 6, 3)
        stages, c_in = [], 64
        for i, (width, depth) in enumerate(zip(widths, depths)):
            stages.append(stage(neuron, c_in, width, depth, 1 if i == 0 else 2, alpha, sew=sew))
            c_in = width
        self.layers = nn.Sequential(*stages)
        self.pool = SeqToANN(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = SeqToANN(nn.Linear(512, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.layers(self.stem(x))))
