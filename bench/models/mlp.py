"""A spiking MLP for sequence tasks: input [T, B, C] (one feature vector per timestep), hidden
layers Linear -> tdBN over time -> spiking neuron, and a linear readout at every timestep (the
task's loss reads the per-step logits, e.g. their mean over all steps)."""

from collections.abc import Callable, Sequence

from torch import Tensor, nn

from bench.models.layers import SeqToANN, TdBatchNorm1d
from bench.neurons.base import Neuron


class SpikingMLP(nn.Module):
    def __init__(
        self,
        neuron: Callable[..., Neuron],
        input_shape: Sequence[int],
        num_classes: int,
        hidden: Sequence[int] = (128, 128),
        alpha: float = 1.0,
    ) -> None:
        super().__init__()
        if len(input_shape) != 1:
            raise ValueError(f"SpikingMLP takes one feature vector per timestep, got samples of shape {tuple(input_shape)}")
        layers: list[nn.Module] = []
        c_in = input_shape[0]
        for i, width in enumerate(hidden):
            spiking = neuron(stem=i == 0)
            norm = TdBatchNorm1d(width, alpha=alpha, threshold=spiking.threshold)
            layers += [SeqToANN(nn.Linear(c_in, width, bias=False)), norm, spiking]
            c_in = width
        self.features = nn.Sequential(*layers)
        self.classifier = SeqToANN(nn.Linear(c_in, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        """[T, B, C] -> per-timestep logits [T, B, num_classes]."""
        return self.classifier(self.features(x))
