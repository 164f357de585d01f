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


class TdBatchNorm2d(nn.BatchNorm2d):
    """Threshold-dependent batch norm (Zheng et al., AAAI 2021) on [T, B, C, H, W].

    Statistics are per channel over (T, B, H, W); the normalised input is scaled to
    alpha * threshold before the affine transform, so that pre-synaptic inputs start at the
    scale of the neuron's threshold: y = weight * alpha * threshold * x_hat + bias.
    """

    def __init__(self, num_features: int, alpha: float = 1.0, threshold: float = 1.0, **kwargs) -> None:
        super().__init__(num_features, **kwargs)
        self.alpha = float(alpha)
        self.threshold = float(threshold)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 5:
            raise ValueError(f"TdBatchNorm2d expects [T, B, C, H, W], got shape {tuple(x.shape)}")
        T, B = x.shape[:2]
        flat = x.flatten(0, 1)
        use_batch_stats = self.training or self.running_mean is None
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
        # momentum=None means a cumulative moving average, as in nn.BatchNorm2d
        momentum = self.momentum if self.momentum is not None else 1.0 / max(int(self.num_batches_tracked), 1)
        x_hat = F.batch_norm(
            flat, self.running_mean, self.running_var, None, None, use_batch_stats, momentum, self.eps
        )
        y = self.alpha * self.threshold * x_hat
        if self.affine:
            y = y * self.weight[:, None, None] + self.bias[:, None, None]
        return y.unflatten(0, (T, B))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", alpha={self.alpha}, threshold={self.threshold}"
