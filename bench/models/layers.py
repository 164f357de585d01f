"""Building blocks that lift ordinary layers to spike sequences [T, B, ...]."""

import torch.nn.functional as F
from torch import Tensor, nn


class SeqToANN(nn.Module):
    """Applies a stateless layer to every timestep at once by folding T into the batch."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.layer = layers[0] if len(layers) == 1 else nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        T, B = x.shape[:2]
        y = self.layer(x.flatten(0, 1))
        return y.unflatten(0, (T, B))


class _TdBatchNorm:
    """Threshold-dependent batch norm (Zheng et al., AAAI 2021) on spike sequences [T, B, C, ...].

    Statistics are per channel over T, B and any spatial dims; the normalised input is scaled to
    alpha * threshold before the affine transform, so that pre-synaptic inputs start at the
    scale of the neuron's threshold: y = weight * alpha * threshold * x_hat + bias.
    """

    layout: str  # the input's layout, for the error message

    def __init__(self, num_features: int, alpha: float = 1.0, threshold: float = 1.0, **kwargs) -> None:
        super().__init__(num_features, **kwargs)
        self.alpha = float(alpha)
        self.threshold = float(threshold)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != self.layout.count(",") + 1:
            raise ValueError(f"{type(self).__name__} expects {self.layout}, got shape {tuple(x.shape)}")
        T, B = x.shape[:2]
        use_batch_stats = self.training or self.running_mean is None
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
        # momentum=None means a cumulative moving average, as in nn.BatchNorm2d
        momentum = self.momentum if self.momentum is not None else 1.0 / max(int(self.num_batches_tracked), 1)
        x_hat = F.batch_norm(
            x.flatten(0, 1), self.running_mean, self.running_var, None, None, use_batch_stats, momentum, self.eps
        )
        y = self.alpha * self.threshold * x_hat
        if self.affine:
            per_channel = (-1,) + (1,) * (x.dim() - 3)  # broadcast over the spatial dims
            y = y * self.weight.view(per_channel) + self.bias.view(per_channel)
        return y.unflatten(0, (T, B))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", alpha={self.alpha}, threshold={self.threshold}"


class TdBatchNorm1d(_TdBatchNorm, nn.BatchNorm1d):
    """tdBN on feature sequences [T, B, C] (the spiking MLP)."""

    layout = "[T, B, C]"


class TdBatchNorm2d(_TdBatchNorm, nn.BatchNorm2d):
    """tdBN on feature-map sequences [T, B, C, H, W] (the conv backbones)."""

    layout = "[T, B, C, H, W]"
