"""VGGSNN of TET (Deng et al. 2022) for CIFAR10-DVS: 2 x 48 x 48 event frames."""

from collections.abc import Sequence

from torch import Tensor, nn

from bench.models.blocks import NeuronFactory, conv_bn
from bench.models.layers import SeqToANN

VGGSNN_LAYERS = (64, 128, "A", 256, 256, "A", 512, 512, "A", 512, 512, "A")
INITS = ("default", "kaiming-fan-out")


class VGGSNN(nn.Module):
    """conv3x3-tdBN-neuron layers 64, 128, pool, 256, 256, pool, 512, 512, pool, 512, 512, pool
    (2x2 average pooling), then a linear classifier on the 512 x (input/16)^2 features.
    `conv_bias: true, init: kaiming-fan-out` is TET's public code (models/VGG_models.py: biased
    convolutions, kaiming_normal_(mode="fan_out", nonlinearity="relu") on every convolution);
    the default is PyTorch's initialisation without bias."""

    def __init__(self, neuron: NeuronFactory, input_shape: Sequence[int], num_classes: int, alpha: float = 1.0,
                 conv_bias: bool = False, init: str = "default") -> None:
        super().__init__()
        if init not in INITS:
            raise ValueError(f"VGGSNN init must be one of {INITS}, got {init!r}")
        in_channels, input_size, _ = input_shape  # one sample (per timestep): C, H, W
        layers: list[nn.Module] = []
        c_in, size = in_channels, input_size
        for item in VGGSNN_LAYERS:
            if item == "A":
                layers.append(SeqToANN(nn.AvgPool2d(2)))
                size //= 2
                continue
            spiking = neuron(stem=not layers)
            layers += [conv_bn(c_in, item, 3, 1, alpha, spiking.threshold, bias=conv_bias), spiking]
            c_in = item
        if size < 1:
            raise ValueError(f"VGGSNN needs input_size >= 16 (four 2x2 poolings), got {input_size}")
        self.features = nn.Sequential(*layers)
        self.classifier = SeqToANN(nn.Flatten(), nn.Linear(c_in * size * size, num_classes))
        if init == "kaiming-fan-out":
            for m in self.features.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
