"""The embedded event task: the DVS emulator and the digits-dvs dataset."""

import numpy as np
import pytest

from bench.data.digits_dvs import DigitsDVS
from bench.data.dvs_emulator import EVENT_DTYPE, emulate, saccade_path


def test_emulator_is_deterministic_sorted_and_tonic_style():
    image = np.zeros((8, 8))
    image[2:6, 3:5] = 1.0
    a, b = emulate(image, seed=3), emulate(image, seed=3)
    assert a.dtype == EVENT_DTYPE and np.array_equal(a, b)
    assert (np.diff(a["t"].astype(np.int64)) >= 0).all()
    assert a["x"].max() < 8 and a["y"].max() < 8
    assert not np.array_equal(a, emulate(image, seed=4))  # jitter, mismatch and noise depend on the seed


def test_moving_edges_give_on_and_off_events_a_blank_scene_only_noise():
    image = np.zeros((8, 8))
    image[2:6, 3:5] = 1.0
    events = emulate(image, seed=0, noise_rate_hz=0.0)
    assert events["p"].sum() > 20 and (~events["p"]).sum() > 20  # leading edges ON, trailing edges OFF
    blank = emulate(np.zeros((8, 8)), seed=0, noise_rate_hz=100.0, duration_us=1_000_000)
    assert 0.5 * 6400 < len(blank) < 1.5 * 6400  # Poisson noise: rate x pixels x duration


def test_saccade_returns_to_the_start():
    path = saccade_path(30, 1.0)
    assert path.shape == (30, 2) and np.allclose(path[0], 0) and np.abs(path).max() <= 1.0


def test_digits_dvs_frames_split_and_errors(tmp_path):
    source = DigitsDVS(n_time_bins=4)
    with pytest.raises(FileNotFoundError, match="events.npz not found.*prepare@digits-dvs"):
        source.datasets({}, tmp_path)
    split = source.make_split(tmp_path)
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == (1077, 360, 360)
    assert split["n_events"] > 100 * 1797  # a few hundred events per digit
    data = source.datasets(split, tmp_path)
    x, y = data["test"][0]
    assert tuple(x.shape) == (4, 2, 8, 8) and x.sum() > 0 and 0 <= y < 10
    DigitsDVS(n_time_bins=4).make_split(tmp_path / "again")
    assert (tmp_path / "events.npz").read_bytes() == (tmp_path / "again" / "events.npz").read_bytes()
