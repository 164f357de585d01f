"""The embedded temporal tasks (issue: tasks where neuron dynamics decide): sequential digits and
Randman, their backbone (a spiking MLP with tdBN over time) and the memoryless control."""

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from bench.config import neuron_config
from bench.data.digits import digit_images
from bench.data.digits_seq import SequentialDigits
from bench.data.randman import Randman, class_manifold, spike_times
from bench.models.layers import TdBatchNorm1d
from bench.models.mlp import SpikingMLP


def test_randman_is_deterministic_with_one_spike_per_unit_and_balanced_classes():
    times, labels = spike_times(classes=4, units=12, manifold_dim=2, alpha=2.0, samples_per_class=50, steps=30, seed=3)
    again, _ = spike_times(classes=4, units=12, manifold_dim=2, alpha=2.0, samples_per_class=50, steps=30, seed=3)
    other, _ = spike_times(classes=4, units=12, manifold_dim=2, alpha=2.0, samples_per_class=50, steps=30, seed=4)
    assert np.array_equal(times, again) and not np.array_equal(times, other)
    assert times.shape == (200, 12) and times.min() == 0 and times.max() == 29  # min-max normalised per class and unit
    assert np.bincount(labels).tolist() == [50] * 4
    source = Randman(steps=30, classes=4, units=12, manifold_dim=2, samples_per_class=50, generator_seed=3)
    split = source.make_split()
    assert split["generator"]["units"] == 12 and split["generator"]["seed"] == 3
    data = source.datasets(split)
    x, y = data["test"][0]
    assert x.shape == (30, 12) and torch.equal(x.sum(0), torch.ones(12))  # every unit fires exactly once
    assert len(data["train"]) + len(data["val"]) + len(data["test"]) == 200


def test_randman_refuses_a_split_made_with_other_generator_settings():
    split = Randman(steps=30, units=12).make_split()
    with pytest.raises(ValueError, match="generator settings"):
        Randman(steps=30, units=13).datasets(split)


def reference_function(x: np.ndarray, theta: np.ndarray, alpha: float) -> np.ndarray:
    """fzenke/randman's TorchRandman.eval_random_function, term by term: theta [dim, 3, F] holds
    each dimension's amplitudes, frequency factors and phases; spectrum 1/((i+1)^alpha + 1)."""
    value = np.ones(len(x))
    for d in range(theta.shape[0]):
        series = np.zeros(len(x))
        for i in range(theta.shape[2]):
            amplitude, velocity, phase = theta[d, :, i]
            series += amplitude / ((i + 1) ** alpha + 1.0) * np.sin(2 * np.pi * (i * x[:, d] * velocity + phase))
        value *= series
    return value


@pytest.mark.parametrize("alpha, manifold_dim", [(2.0, 2), (1.5, 1)])
def test_randman_follows_the_reference_generator(alpha, manifold_dim):
    """The reference's formulas, recomputed term by term from the same random draws: F =
    ceil(1000^(1/alpha)) frequencies, no constant term, spectrum 1/((i+1)^alpha + 1), a product
    over the intrinsic dimensions, then per class and unit (v - min) / (max - min + 1e-7) and
    the spike at step floor(T y)."""
    units, samples, steps, seed = 5, 40, 25, 7
    F = int(np.ceil(1000 ** (1 / alpha)))
    assert F == {2.0: 32, 1.5: 100}[alpha]
    times, labels = spike_times(classes=2, units=units, manifold_dim=manifold_dim, alpha=alpha,
                                samples_per_class=samples, steps=steps, seed=seed)
    rng = np.random.default_rng(seed)  # the generator's draws, in its order: parameters, then points
    for label in range(2):
        theta = rng.random((3, units, manifold_dim, F)).transpose(1, 2, 0, 3).copy()  # [unit, dim, (a, v, p), F]
        theta[:, :, 0, 0] = 0.0
        x = rng.random((samples, manifold_dim))
        values = np.stack([reference_function(x, theta[unit], alpha) for unit in range(units)], axis=1)
        y = (values - values.min(0)) / (values.max(0) - values.min(0) + 1e-7)
        expected = (y * steps).astype(np.int64)
        assert np.array_equal(times[labels == label], expected)
    assert times.max() == steps - 1 and times.min() == 0


def test_a_randman_class_is_a_smooth_manifold():
    """Nearby points of the intrinsic space map to nearby values (the amplitudes fall off as
    1/k^alpha, so the map is Lipschitz with a small constant), far points to different ones."""
    manifold = class_manifold(np.random.default_rng(0), units=8, manifold_dim=1, alpha=2.0, frequencies=32)
    x = np.linspace(0, 1, 2001)[:, None]
    values = manifold(x)
    steps = np.abs(np.diff(values, axis=0)).max()
    assert steps < 0.05 * (values.max() - values.min())
    assert np.abs(values[0] - values[-1]).max() > 10 * steps


def test_sequential_digits_present_the_standardised_image_in_raster_order():
    source = SequentialDigits(steps=16)
    data = source.datasets(source.make_split())
    images, labels = digit_images()
    x, y = data["train"][0]
    i = source.make_split()["train"][0]
    train = torch.from_numpy(images[source.make_split()["train"]])
    expected = (torch.from_numpy(images[i]) - train.mean()) / train.std()
    assert x.shape == (16, 4) and torch.allclose(x.reshape(-1), expected) and y == labels[i]
    with pytest.raises(ValueError, match="must divide the 64 pixels"):
        SequentialDigits(steps=10)


def test_the_spiking_mlp_normalises_over_time_and_batch_and_reads_out_every_step():
    norm = TdBatchNorm1d(5, alpha=0.5, threshold=2.0)
    y = norm(3 + 4 * torch.randn(6, 32, 5))
    assert torch.allclose(y.mean((0, 1)), torch.zeros(5), atol=1e-5)
    assert torch.allclose(y.std((0, 1), unbiased=False), torch.full((5,), 1.0), atol=1e-2)  # alpha * threshold
    model = SpikingMLP(lambda **_: instantiate(neuron_config("lif")), input_shape=(4,), num_classes=10, hidden=(16, 8))
    assert model(torch.randn(16, 3, 4)).shape == (16, 3, 10)
    with pytest.raises(ValueError, match="one feature vector per timestep"):
        SpikingMLP(lambda **_: instantiate(neuron_config("lif")), input_shape=(1, 8, 8), num_classes=10)


def test_the_memoryless_control_forgets_everything_between_steps():
    """lif-tau1 (decay 0): the spikes at step t depend on the input at step t only, so reordering
    the steps reorders the output the same way; LIF (tau 2) carries its potential over."""
    x = 1.5 * torch.rand(12, 4, 7)
    order = torch.randperm(12, generator=torch.Generator().manual_seed(0))
    control, lif = instantiate(neuron_config("lif-tau1")), instantiate(neuron_config("lif"))
    assert torch.equal(control(x[order]), control(x)[order])
    assert not torch.equal(lif(x[order]), lif(x)[order])
