"""A small spiking CNN for tiny images (the embedded `digits` task).

conv3x3 -> tdBN -> neuron blocks, 2x2 average pooling after every second block, then a linear
read-out applied at every timestep. The first convolution sees the analog image (direct
encoding), every later one sees spikes.
"""

from collections.abc import Callable, Sequence

from torch import Tensor, nn

from bench.models.layers import SeqToANN, TdBatchNorm2d
from bench.neurons.base import Neuron


class SpikingConvNet(nn.Module):
    def __init__(
        self,
        neuron: Callable[..., Neuron],
        input_shape: Sequence[int],
        num_classes: int,
        channels: Sequence[int] = (32, 64, 128),
        alpha: float = 1.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, size, _ = input_shape  # one sample (per timestep): C, H, W
        for i, c_out in enumerate(channels):
            spiking = neuron(stem=i == 0)
            layers += [
                SeqToANN(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)),
                TdBatchNorm2d(c_out, alpha=alpha, threshold=spiking.threshold),
                spiking,
            ]
            if i % 2 == 1 and size >= 2:
                layers.append(SeqToANN(nn.AvgPool2d(2)))
                size //= 2
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.classifier = SeqToANN(nn.Flatten(), nn.Linear(c_in * size * size, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        """[T, B, C, H, W] -> per-timestep logits [T, B, num_classes]."""
        return self.classifier(self.features(x))
