import json

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from bench.builder import build
from bench.config import cell_config, load_params
from bench.neurons.base import Neuron
from bench.train import main, run_cell
from bench.trainer import make_callbacks, make_loggers

FAST = ["trainer.max_epochs=1", "+trainer.limit_train_batches=4", "+trainer.limit_val_batches=2"]


@pytest.mark.parametrize("neuron", ["lif", "qif"])
def test_model_forward_shapes_and_every_layer_spikes_with_its_neuron(in_repo, neuron):
    cfg = cell_config(load_params(), neuron, "digits", 0)
    datamodule, module = build(cfg)
    neurons = [m for m in module.modules() if isinstance(m, Neuron)]
    assert len(neurons) == 3 and all(type(m) is type(instantiate(cfg.neuron)) for m in neurons)
    assert len({id(m) for m in neurons}) == 3, "each layer needs its own neuron"
    logits = module(torch.randn(5, 1, 8, 8))
    assert logits.shape == (4, 5, 10)  # [T, B, classes]


def test_callbacks_and_loggers_come_from_the_config(in_repo, tmp_path):
    extra = ["+callbacks.lr_monitor._target_=lightning.pytorch.callbacks.LearningRateMonitor", "callbacks.throughput=null"]
    callbacks, checkpoint, throughput = make_callbacks(cell_config(load_params(), "lif", "digits", 0, extra), tmp_path)
    names = [type(c).__name__ for c in callbacks]
    assert names == ["ModelCheckpoint", "ModelCheckpoint", "ResumableRNG", "EpochReport", "LearningRateMonitor"]
    assert checkpoint.dirpath == str(tmp_path / "checkpoints") and throughput is None
    (logger,) = make_loggers(cell_config(load_params(), "lif", "digits", 0), tmp_path)
    assert (logger.log_dir, type(logger).__name__) == (str(tmp_path / "logs" / "0"), "CSVLogger")


def test_the_tested_checkpoint_must_be_the_one_best_on_validation(in_repo, tmp_path):
    cfg = cell_config(load_params(), "lif", "digits", 0, ["callbacks.model_checkpoint.monitor=val/loss"])
    with pytest.raises(ValueError, match="must monitor 'val/top1' with mode 'max'"):
        make_callbacks(cfg, tmp_path)


def test_real_trainer_fit_reduces_the_loss(in_repo):
    cfg = cell_config(load_params(), "qif", "digits", 0)
    L.seed_everything(0)
    datamodule, module = build(cfg)
    datamodule.setup("fit")
    x, y = next(iter(datamodule.train_dataloader()))
    before = module.loss(module(x), y).item()
    trainer = L.Trainer(
        max_steps=15, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
    )
    trainer.fit(module, datamodule=datamodule)
    assert trainer.global_step == 15
    module.eval()
    with torch.no_grad():
        after = module.loss(module(x), y).item()
    assert after < 0.5 * before


def test_run_cell_writes_a_complete_record(in_repo, tmp_path):
    cfg = cell_config(load_params(), "lif", "digits", 3, FAST)
    record = run_cell(cfg, FAST, runs_root=tmp_path / "runs", work_root=tmp_path / "work")
    on_disk = json.loads((tmp_path / "runs" / "digits" / "lif" / "3" / "record.json").read_text())
    assert on_disk == record
    assert (record["neuron"], record["task"], record["seed"], record["status"]) == ("lif", "digits", 3, "ok")
    m = record["metrics"]
    for key in ("test_top1", "test_top5", "val_top1"):
        assert 0 <= m[key] <= 100
    assert m["test_top5"] >= m["test_top1"]
    assert 0 < m["firing_rate"] < 1 and len(m["firing_rate_per_layer"]) == 3
    # the pooled rate is the neuron-weighted mean of the layers' rates
    assert min(m["firing_rate_per_layer"].values()) <= m["firing_rate"] <= max(m["firing_rate_per_layer"].values())
    p = record["provenance"]
    for key in ("git_commit", "git_dirty", "versions", "hardware", "config_hash", "wall_s"):
        assert key in p
    assert {"torch", "lightning", "bench"} <= set(p["versions"])
    assert record["overrides"] == FAST and record["n_test"] == 360
    assert (tmp_path / "runs" / "digits" / "lif" / "3" / "history.csv").is_file()
    assert not list((tmp_path / "runs" / "digits" / "lif").glob("*.tmp"))


def test_test_accuracy_is_of_the_checkpoint_best_on_validation(in_repo, tmp_path, capsys):
    overrides = ["trainer.max_epochs=3", "+trainer.limit_train_batches=3"]
    cfg = cell_config(load_params(), "qif", "digits", 0, overrides)
    record = run_cell(cfg, overrides, runs_root=tmp_path / "runs", work_root=tmp_path / "work")
    history = (tmp_path / "runs" / "digits" / "qif" / "0" / "history.csv").read_text().splitlines()
    header = history[0].split(",")
    val = [float(row.split(",")[header.index("val/top1")]) for row in history[1:]]
    best = max(range(len(val)), key=lambda i: (val[i], -i))  # first epoch with the best val top-1
    assert record["best_epoch"] == best
    assert record["metrics"]["val_top1"] == pytest.approx(val[best], abs=1e-3)  # history.csv in percent, as the record
    # the literature's figure beside the headline: the test set after every epoch, its maximum
    epoch_test = [float(row.split(",")[header.index("epoch_test/top1")]) for row in history[1:]]
    assert record["metrics"]["test_top1_max_over_epochs"] == pytest.approx(max(epoch_test), abs=1e-3)
    assert record["test_top1_max_epoch"] == epoch_test.index(max(epoch_test))
    # the epoch-end test of the selected epoch is the test of the selected checkpoint
    assert record["metrics"]["test_top1"] == pytest.approx(epoch_test[best], abs=1e-3)
    progress = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch ")]  # one line per epoch
    assert len(progress) == 3 and progress[-1].startswith("epoch 3/3: train loss ")
    assert f"val top-1 {val[-1]:.2f}%" in progress[-1]


def test_a_crash_leaves_a_failed_record_and_a_nonzero_exit(in_repo, tmp_path, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("bench.train.fit_and_test", explode)
    cfg = cell_config(load_params(), "qif", "digits", 0)
    with pytest.raises(SystemExit, match="failed"):
        run_cell(cfg, [], runs_root=tmp_path / "runs", work_root=tmp_path / "work")
    record = json.loads((tmp_path / "runs" / "digits" / "qif" / "0" / "record.json").read_text())
    assert record["status"] == "failed" and record["reason"] == "RuntimeError: boom"
    assert "metrics" not in record


def test_divergence_is_a_failed_result_not_a_crash(in_repo, tmp_path, monkeypatch):
    monkeypatch.setattr("bench.losses.MeanOutputCrossEntropy.forward", lambda self, logits, y: logits.sum() * float("nan"))
    overrides = FAST
    cfg = cell_config(load_params(), "lif", "digits", 0, overrides)
    record = run_cell(cfg, overrides, runs_root=tmp_path / "runs", work_root=tmp_path / "work")
    assert record["status"] == "failed" and "non-finite" in record["reason"]


def test_cli_writes_record_for_a_new_seed_to_the_scratch_folder(in_repo, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("bench.train.SCRATCH_DIR", tmp_path)
    record = main(["qif", "digits", "7", *FAST])
    assert record["seed"] == 7 and record["status"] == "ok"
    assert (tmp_path / "runs" / "digits" / "qif" / "7" / "record.json").is_file()
    assert f"wrote {tmp_path}/runs/digits/qif/7/, not results/runs/" in capsys.readouterr().err
    assert not (in_repo / "results/runs/digits/qif/7").exists()


def test_a_cell_by_hand_takes_params_yaml_keys_and_a_live_logger(in_repo, tmp_path, monkeypatch):
    """`neurons.<neuron>.<key>` as in `dvc exp run -S`, and logger=tensorboard: TensorBoard event
    files beside the CSV log, which still gives the record its history."""
    monkeypatch.setattr("bench.train.SCRATCH_DIR", tmp_path)
    record = main(["lif", "digits", "7", *FAST, "neurons.lif.tau=3.0", "logger=tensorboard"])
    assert record["status"] == "ok" and record["config"]["neuron"]["tau"] == 3.0
    assert sorted(record["config"]["logger"]) == ["csv", "tensorboard"]
    logs = tmp_path / "work" / "digits" / "lif" / "7" / "logs"
    assert list((logs / "tensorboard").glob("version_*/events.out.tfevents.*"))
    assert (tmp_path / "runs" / "digits" / "lif" / "7" / "history.csv").is_file()
