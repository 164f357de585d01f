"""Moments of a neuron's pre-spike potential under tdBN-normalised input, for the analytic
surrogate window (paper.md §2; derivation in docs/neurons.md).

Model: the neuron starts at its resting potential, receives i.i.d. x_t ~ N(0, sigma_x^2) and
fires/resets as configured. The distribution of the potential u is propagated exactly in
structure and numerically in resolution, never by sampling:

    h_t = g(u_{t-1}) + x_t,  g(u) = u + f(u)

Given u_{t-1} as a discrete measure on a fine grid, h_t is a Gaussian mixture whose mean and
second moment are exact sums over the grid. The next potential is obtained by pushing the grid
through g (mass split linearly between neighbouring grid points, which keeps the mean), convolving
with the discretised Gaussian of x, and applying the reset to the mass at or above threshold.
This works for any f (LIF, QIF, PLIF, yours), including the oscillatory and runaway regimes where
a Gaussian closure fails.

Repeated input (the stem under direct encoding sees the same analog input at every step): x is
drawn once and presented T times, so given x the path of the potential is deterministic and the
moments are a quadrature over x (the Gaussian's mass on the same fine grid), again exact in
structure. Positive correlation over time makes h spread more than under i.i.d. input.
"""

import math

import numpy as np
import torch
from scipy.special import ndtr

POINTS_PER_SIGMA = 100
SPAN_SIGMAS = 12.0


def return_map(neuron, u: np.ndarray) -> np.ndarray:
    """The null-input map g(u) = u + f(u) (paper.md's g; not a multi-state neuron's g) in float64,
    with the neuron's current parameter values."""
    with torch.no_grad():
        t = torch.as_tensor(u, dtype=torch.float64)
        return (t + neuron.f(t).to(torch.float64)).numpy()


def _gaussian_bin_masses(sigma: float, step: float) -> np.ndarray:
    """Probability of each grid cell (width `step`, centred on k * step) under N(0, sigma^2)."""
    half = int(math.ceil(8 * sigma / step))
    edges = (np.arange(-half, half + 2) - 0.5) * step
    return np.diff(ndtr(edges / sigma))


def _deposit(values: np.ndarray, weights: np.ndarray, lo: float, step: float, n: int) -> np.ndarray:
    """Mass of points at `values` split linearly between the two nearest grid nodes (clamped to the grid)."""
    pos = np.clip((values - lo) / step, 0, n - 1)
    left = np.floor(pos).astype(np.int64).clip(max=n - 2)
    frac = pos - left
    out = np.bincount(left, weights * (1 - frac), minlength=n)
    out += np.bincount(left + 1, weights * frac, minlength=n)
    return out


def potential_moments(neuron, sigma_x: float, T: int, repeated_input: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(mean, variance) of the pre-spike potential h_t for t = 1..T."""
    if T < 1 or not sigma_x > 0:
        raise ValueError(f"need T >= 1 and sigma_x > 0, got T={T}, sigma_x={sigma_x}")
    if repeated_input:
        return _repeated_input_moments(neuron, sigma_x, T)
    theta = neuron.threshold
    u0 = float(neuron.rest)
    u_reset = float(neuron.u_reset)
    step = sigma_x / POINTS_PER_SIGMA
    lo = min(u0, u_reset, theta) - SPAN_SIGMAS * sigma_x * math.sqrt(T)
    hi = theta + SPAN_SIGMAS * sigma_x
    grid = lo + step * np.arange(int(math.ceil((hi - lo) / step)) + 1)
    n = len(grid)
    kernel = _gaussian_bin_masses(sigma_x, step)
    g = return_map(neuron, grid)
    fires = grid >= theta

    # mass mapped below the grid, or (soft reset: it is not sent back to u_reset) above it
    escapes = (g < lo) | ((g > hi) & (neuron.reset == "soft"))

    w = _deposit(np.array([u0]), np.ones(1), lo, step, n)  # all mass at rest
    means, variances = [], []
    for t in range(1, T + 1):
        if (escaped := float(w @ escapes)) > 1e-6:
            raise ValueError(
                f"{type(neuron).__name__}: the potential runs away under input std {sigma_x:g} "
                f"(probability {escaped:.2g} by step {t}): its variance is unbounded, so no analytic window exists; "
                "use a fixed surrogate, a smaller tdBN alpha or hard reset"
            )
        mean = float(w @ g)
        second = float(w @ (g * g)) + sigma_x**2
        means.append(mean)
        variances.append(second - mean * mean)
        # distribution of h on the grid: push through g, then add the Gaussian input
        h = np.convolve(_deposit(g, w, lo, step, n), kernel, mode="same")
        spiking = h * fires
        w = h - spiking
        if neuron.reset == "hard":
            w += _deposit(np.array([u_reset]), np.array([spiking.sum()]), lo, step, n)
        else:
            w += _deposit(grid - theta, spiking, lo, step, n)
        w /= w.sum()  # mass leaving the grid's ends was clamped back; keep it a distribution
    return np.array(means), np.array(variances)


RUNAWAY = 1e6  # |h| beyond this (in units of threshold + T sigma_x): the potential has run away


def _repeated_input_moments(neuron, sigma_x: float, T: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, variance) of h_t, t = 1..T, when one x ~ N(0, sigma_x^2) is presented at every step."""
    step = sigma_x / POINTS_PER_SIGMA
    weights = _gaussian_bin_masses(sigma_x, step)
    half = len(weights) // 2
    x = step * np.arange(-half, half + 1)
    weights = weights / weights.sum()
    u = np.full_like(x, float(neuron.rest))
    bound = RUNAWAY * (neuron.threshold + T * sigma_x)
    means, variances = [], []
    for t in range(1, T + 1):
        h = return_map(neuron, u) + x
        if (escaped := float(weights @ ~(np.abs(h) < bound))) > 1e-6:
            raise ValueError(
                f"{type(neuron).__name__}: the potential runs away under repeated input of std {sigma_x:g} "
                f"(probability {escaped:.2g} by step {t}): no analytic window exists; use a fixed surrogate"
            )
        mean = float(weights @ h)
        means.append(mean)
        variances.append(float(weights @ (h - mean) ** 2))
        fires = h >= neuron.threshold
        u = np.where(fires, float(neuron.u_reset), h) if neuron.reset == "hard" else h - neuron.threshold * fires
    return np.array(means), np.array(variances)


def pooled_potential_std(neuron, sigma_x: float, T: int, repeated_input: bool = False) -> float:
    """Standard deviation of h pooled over t = 1..T (every step weighted equally)."""
    means, variances = potential_moments(neuron, sigma_x, T, repeated_input)
    pooled_mean = means.mean()
    pooled_var = (variances + means**2).mean() - pooled_mean**2
    return float(math.sqrt(pooled_var))
