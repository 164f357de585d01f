"""Surrogate gradients: the forward pass fires with a Heaviside step H(v), v = h - threshold; the
backward pass replaces its derivative (a Dirac delta) by a window that integrates to 1, so BPTT
can train the network. Each surrogate is one `derivative(v)`; every execution path (eager or
fused) uses it, so adding a surrogate is one small class.

Shapes and scales follow the usual conventions; their settings are written once, in
conf/surrogate/ (spikingjelly's defaults for sigmoid/arctan, the TET/tdBN rectangle of width 1).
"""

import functools
import math
import struct
from pathlib import Path

import torch
from torch import Tensor

SURROGATE_CONF = Path(__file__).resolve().parents[2] / "conf" / "surrogate"


def configured(name: str) -> "Surrogate":
    """conf/surrogate/<name>.yaml instantiated: the one place a surrogate's settings are written
    (a neuron built in Python without one gets configured("rectangle"), as its config would)."""
    from hydra.utils import instantiate

    return instantiate(_surrogate_conf(name))


@functools.cache
def _surrogate_conf(name: str):
    from omegaconf import OmegaConf

    return OmegaConf.load(SURROGATE_CONF / f"{name}.yaml")


class Surrogate:
    """Heaviside forward, `derivative(v)` backward."""

    def derivative(self, v: Tensor) -> Tensor:
        raise NotImplementedError

    def __call__(self, v: Tensor) -> Tensor:
        return _Spike.apply(v, self)

    def for_neuron(self, neuron, T: int, alpha: float, repeated_input: bool = False) -> "Surrogate":
        """The surrogate to use for this neuron in a layer with T steps whose input has tdBN scale
        alpha and is the same at every step (repeated_input) or not. Fixed surrogates ignore the
        context; calibrated ones (AnalyticWindow) compute from it."""
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v: Tensor, surrogate: Surrogate) -> Tensor:
        ctx.save_for_backward(v)
        ctx.surrogate = surrogate
        # A non-finite potential gives a NaN spike (H(nan) would be a silent 0), so it reaches
        # the loss and the run fails naming it, instead of training on at chance level. v - v is
        # 0 for finite v (the spikes are unchanged) and NaN otherwise: unlike torch.where over
        # v.isfinite(), it leaves no mask for the fused path to store per step
        # (docs/performance.md, "The fused path at its real cost").
        return (v >= 0).to(v.dtype) + (v - v)

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor, None]:
        (v,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.derivative(v), None


def _as_float32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


def reciprocal_in(dtype: torch.dtype, value: float) -> float:
    """1 / value as dividing a tensor of dtype by the number value computes it: in float64 for
    float64, else value rounded to float32 and the correctly rounded float32 quotient (float16 and
    bfloat16 compute in float32 too; one float64 division rounded to float32 is correctly
    rounded, float64 having more than twice float32's precision). A 0/1 mask times it is bit for
    bit the mask divided by value, at the cost of a multiplication instead of a vector division."""
    if dtype == torch.float64:
        return 1.0 / value
    return _as_float32(1.0 / _as_float32(value))


def _positive(name: str, value: float) -> float:
    if not (value > 0 and math.isfinite(value)):  # an infinite width has zero gradient everywhere: nothing learns
        raise ValueError(f"surrogate {name} must be a finite number > 0, got {value}")
    return float(value)


class Rectangle(Surrogate):
    """Box of the given width centred on the threshold, height 1/width."""

    def __init__(self, width: float) -> None:
        self.width = _positive("width", width)

    def derivative(self, v: Tensor) -> Tensor:
        inside = torch.lt(v.abs(), self.width / 2, out=torch.empty_like(v))  # 0/1 floats: a bool tensor costs more here
        return inside.mul_(reciprocal_in(v.dtype, self.width))  # = inside / width, bit for bit


class Triangle(Surrogate):
    """Triangle of base `width` centred on the threshold, peak 2/width."""

    def __init__(self, width: float) -> None:
        self.width = _positive("width", width)

    def derivative(self, v: Tensor) -> Tensor:
        half = self.width / 2
        return (1 - v.abs() / half).clamp(min=0) / half


class Sigmoid(Surrogate):
    """Derivative of sigmoid(alpha v): alpha s (1 - s)."""

    def __init__(self, alpha: float) -> None:
        self.alpha = _positive("alpha", alpha)

    def derivative(self, v: Tensor) -> Tensor:
        s = torch.sigmoid(self.alpha * v)
        return self.alpha * s * (1 - s)


class ArcTan(Surrogate):
    """Derivative of arctan(pi/2 alpha v)/pi + 1/2: (alpha/2) / (1 + (pi/2 alpha v)^2)."""

    def __init__(self, alpha: float) -> None:
        self.alpha = _positive("alpha", alpha)

    def derivative(self, v: Tensor) -> Tensor:
        return (self.alpha / 2) / (1 + (math.pi / 2 * self.alpha * v) ** 2)


class AnalyticWindow(Rectangle):
    """Rectangle whose width is derived from the neuron's own dynamics (paper.md §2, docs/neurons.md):
    width = kappa * sigma_h, where sigma_h is the std of the pre-spike potential pooled over the
    task's T steps under tdBN-normalised input x ~ N(0, (alpha * threshold)^2), drawn anew each
    step or, for the stem under direct encoding, once and repeated. With kappa = sqrt(2 pi)
    (conf/surrogate/analytic.yaml) the box has the peak height of the Gaussian density of h."""

    def __init__(self, kappa: float, width: float | None = None) -> None:
        self.kappa = _positive("kappa", kappa)
        self.width = width  # set by for_neuron()

    def derivative(self, v: Tensor) -> Tensor:
        if self.width is None:
            raise RuntimeError(
                "AnalyticWindow has no width yet: it is computed per neuron from the task's T and tdBN alpha "
                "(bench.train does this; by hand call neuron.calibrate(T=..., alpha=...))"
            )
        return super().derivative(v)

    def for_neuron(self, neuron, T: int, alpha: float, repeated_input: bool = False) -> "AnalyticWindow":
        from bench.neurons.analytic import pooled_potential_std

        if neuron.states:
            raise ValueError(
                f"AnalyticWindow propagates the distribution of one potential on a grid; {type(neuron).__name__} has "
                f"the states (u, {', '.join(neuron.states)}), whose joint distribution it does not model. Give this "
                "neuron a fixed surrogate (conf/surrogate/: rectangle, triangle, sigmoid, arctan)"
            )
        sigma_h = pooled_potential_std(neuron, sigma_x=alpha * neuron.threshold, T=T, repeated_input=repeated_input)
        return AnalyticWindow(self.kappa, width=self.kappa * sigma_h)
