"""A spiking MLP for sequence tasks: input [T, B, C] (one feature vector per timestep), hidden
layers Linear -> tdBN over time -> spiking neuron, and a linear readout at every timestep (the
task's loss reads the per-step logits, e.g. their mean over all steps)."""

from collections.abc import Callable, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from bench.models.layers import SeqToANN
from bench.neurons.base import Neuron


class TdBatchNorm1d(nn.BatchNorm1d):
    """Threshold-dependent batch norm (Zheng et al., AAAI 2021) on [T, B, C]: statistics per
    feature over (T, B), the normalised input scaled to alpha * threshold (as TdBatchNorm2d)."""

    def __init__(self, num_features: int, alpha: float = 1.0, threshold: float = 1.0, **kwargs) -> None:
        super().__init__(num_features, **kwargs)
        self.alpha = float(alpha)
        self.threshold = float(threshold)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3:
            raise ValueError(f"TdBatchNorm1d expects [T, B, C], got shape {tuple(x.shape)}")
        T, B = x.shape[:2]
        use_batch_stats = self.training or self.running_mean is None
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
        momentum = self.momentum if self.momentum is not None else 1.0 / max(int(self.num_batches_tracked), 1)
        x_hat = F.batch_norm(x.flatten(0, 1), self.running_mean, self.running_var, None, None, use_batch_stats, momentum,
                             self.eps)
        y = self.alpha * self.threshold * x_hat
        if self.affine:
            y = y * self.weight + self.bias
        return y.unflatten(0, (T, B))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", alpha={self.alpha}, threshold={self.threshold}"


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
