"""Surrogate gradients: the forward pass fires with a Heaviside step, the backward pass uses a
smooth (or windowed) stand-in for its derivative so that BPTT can train the network."""

import torch
from torch import Tensor


class _RectangleSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v: Tensor, width: float) -> Tensor:
        ctx.save_for_backward(v)
        ctx.width = width
        return (v >= 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor, None]:
        (v,) = ctx.saved_tensors
        window = (v.abs() < ctx.width / 2).to(grad_out.dtype) / ctx.width
        return grad_out * window, None


class Rectangle:
    """Heaviside forward; backward a rectangular window of the given width centred on the
    threshold, height 1/width (so it integrates to 1, like the step it replaces)."""

    def __init__(self, width: float = 1.0) -> None:
        if width <= 0:
            raise ValueError(f"surrogate width must be > 0, got {width}")
        self.width = float(width)

    def __call__(self, v: Tensor) -> Tensor:
        """Spikes for v = h - threshold."""
        return _RectangleSpike.apply(v, self.width)

    def __repr__(self) -> str:
        return f"Rectangle(width={self.width})"
