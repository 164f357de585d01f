import json

import pytest
from omegaconf import OmegaConf

from bench.leaderboard import aggregate, load_records, select_profile, to_markdown

PROFILE = OmegaConf.create({"name": "t", "neurons": ["lif", "qif"], "tasks": ["digits"], "seeds": [0, 1, 2]})


def write(root, neuron, seed, top1=None, status="ok", task="digits", overrides=(), **extra):
    record = {"neuron": neuron, "task": task, "seed": seed, "status": status, "overrides": list(overrides)}
    record["split_protocol"] = "stratified-60/20/20-seed0"
    if status == "ok":
        record["metrics"] = {"test_top1": top1, "test_top5": top1 + 1, "val_top1": top1 + 2, "firing_rate": 0.1 * seed,
                             "energy_mj": 0.01 * (seed + 1), "energy_model": "horowitz45-fp32"}
    else:
        record["reason"] = "DivergedError: non-finite training loss"
    record.update(extra)
    path = root / task / neuron / str(seed) / "record.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record))


@pytest.fixture
def runs(tmp_path):
    for seed, top1 in enumerate([90.0, 92.0, 94.0]):
        write(tmp_path, "qif", seed, top1)
    write(tmp_path, "lif", 0, 95.0)
    write(tmp_path, "lif", 1, status="failed")
    write(tmp_path, "lif", 2, 10.0, overrides=["trainer.max_epochs=1"])  # a smoke run: not the protocol
    write(tmp_path, "lif", 7, 10.0)  # not a seed of the profile
    return tmp_path


def test_mean_and_std_over_seeds_by_hand(runs):
    records = select_profile(load_records(runs), PROFILE)
    table = aggregate(records, {"digits": 3}).set_index("neuron")
    qif = table.loc["qif"]
    assert qif.n_seeds == 3 and qif.n_failed == 0
    assert qif.top1_mean == pytest.approx(92.0)
    assert qif.top1_std == pytest.approx(2.0)  # sample std: sqrt(((-2)^2 + 0 + 2^2) / 2)
    assert qif.top5_mean == pytest.approx(93.0)
    assert qif.firing_rate_mean == pytest.approx(0.1)
    assert qif.energy_mj_mean == pytest.approx(0.02) and qif.energy_model == "horowitz45-fp32"
    lif = table.loc["lif"]
    assert (lif.n_seeds, lif.n_failed, lif.top1_mean) == (1, 1, 95.0)
    assert list(table.index) == ["lif", "qif"]  # sorted by mean top-1


def test_markdown_shows_failures_and_incomplete_rows(runs):
    records = select_profile(load_records(runs), PROFILE)
    md = to_markdown(aggregate(records, {"digits": 3}), records, PROFILE)
    assert "92.00 ± 2.00" in md
    assert "0.02 (horowitz45-fp32)" in md
    assert "1/3 (incomplete)" in md
    assert "digits / lif / seed 1: DivergedError" in md
    assert "10.00" not in md  # the override run and the foreign seed are left out


@pytest.mark.parametrize(
    "record, error",
    [
        ("{not json", "not a readable JSON record"),
        ('{"neuron": "qif", "task": "digits", "seed": 0, "status": "ok", "metrics": {}}', "lacks.*metrics.test_top1"),
        ('{"neuron": "qif", "task": "digits", "seed": 0, "status": "done"}', "status must be"),
    ],
)
def test_malformed_record_is_an_error_naming_the_file(tmp_path, record, error):
    path = tmp_path / "digits" / "qif" / "0" / "record.json"
    path.parent.mkdir(parents=True)
    path.write_text(record)
    with pytest.raises(ValueError, match=f"{path}.*{error}"):
        load_records(tmp_path)
