"""A small, deterministic DVS (event camera) emulator.

A static image is moved across the sensor along a saccade path (three straight sweeps, as the
N-MNIST recordings were made); each pixel keeps a reference log intensity and emits an event
whenever the current log intensity has moved by more than its contrast threshold since its last
event (ON when brighter, OFF when darker; several events in one frame for large changes).
Sensor non-idealities: per-pixel threshold mismatch, timestamp jitter within a frame, and
background-activity noise events. Everything is drawn from a generator seeded per sample, so the
same (image, seed) always gives the same events.

Events are tonic-style structured arrays: t (uint64, microseconds), x, y (uint16), p (bool).
"""

import numpy as np
from scipy.ndimage import shift as subpixel_shift

EVENT_DTYPE = np.dtype([("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("p", "?")])


def saccade_path(steps: int, amplitude: float) -> np.ndarray:
    """(steps, 2) offsets (dy, dx) in pixels along three sweeps: down-right, left, up-right."""
    corners = np.array([[0, 0], [amplitude, amplitude], [amplitude, -amplitude], [0, 0]], dtype=float)
    legs = len(corners) - 1
    s = np.linspace(0, legs, steps, endpoint=False)
    leg, frac = np.floor(s).astype(int), (s % 1)[:, None]
    return corners[leg] * (1 - frac) + corners[leg + 1] * frac


def emulate(
    image: np.ndarray,
    seed: int,
    duration_us: int = 300_000,
    steps: int = 30,
    amplitude: float = 1.0,
    contrast: float = 0.3,
    mismatch: float = 0.03,
    noise_rate_hz: float = 0.5,
) -> np.ndarray:
    """Events of a [H, W] image with values in [0, 1] moved along the saccade path."""
    rng = np.random.default_rng(seed)
    h, w = image.shape
    threshold = np.clip(contrast + mismatch * rng.standard_normal((h, w)), contrast / 2, None)

    def log_intensity(img: np.ndarray) -> np.ndarray:
        return np.log(np.clip(img, 0, None) + 0.1)  # 0.1: the sensor's dark level

    reference = log_intensity(image)
    frame_us = duration_us / steps
    chunks = []
    for k, (dy, dx) in enumerate(saccade_path(steps, amplitude)):
        delta = log_intensity(subpixel_shift(image, (dy, dx), order=1, mode="constant")) - reference
        n = np.floor(np.abs(delta) / threshold).astype(np.int64)  # events per pixel in this frame
        ys, xs = np.nonzero(n)
        if len(ys):
            counts = n[ys, xs]
            ev = np.zeros(counts.sum(), EVENT_DTYPE)
            ev["t"] = (k * frame_us + rng.uniform(0, frame_us, len(ev))).astype(np.uint64)
            ev["y"], ev["x"] = np.repeat(ys, counts), np.repeat(xs, counts)
            ev["p"] = np.repeat(delta[ys, xs] > 0, counts)
            chunks.append(ev)
            reference[ys, xs] += np.sign(delta[ys, xs]) * counts * threshold[ys, xs]
    n_noise = rng.poisson(noise_rate_hz * h * w * duration_us * 1e-6)
    noise = np.zeros(n_noise, EVENT_DTYPE)
    noise["t"] = rng.integers(0, duration_us, n_noise)
    noise["x"], noise["y"] = rng.integers(0, w, n_noise), rng.integers(0, h, n_noise)
    noise["p"] = rng.integers(0, 2, n_noise).astype(bool)
    events = np.concatenate([*chunks, noise])
    return events[np.argsort(events["t"], kind="stable")]
