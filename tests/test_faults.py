"""Adversarial runs of a cell: signals, a second run of the same cell, an unwritable results
folder and mistyped requests. Each must end clearly, with a non-zero exit, and never leave a
record that the leaderboard would publish."""

import fcntl
import json
import signal
import subprocess
import sys

import pytest
import torch

from bench.config import cell_config, load_params
from bench.neurons.lif import LIF
from bench.train import main, run_cell
from bench.trainer import UsageError

from conftest import ROOT, wait_for_loadable

FAST = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1"]


def test_sigterm_ends_a_cell_nonzero_without_a_record_and_a_rerun_resumes(repo):
    cmd = [sys.executable, "-m", "bench.train", "lif", "digits", "0", "trainer.max_epochs=4"]
    proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_loadable(repo / "outputs/scratch/work/digits/lif/0/checkpoints/last.ckpt", proc)  # epoch 0 done
    proc.send_signal(signal.SIGTERM)  # preemption, `timeout`, `docker stop`, SLURM
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM and "stopped by SIGTERM" in err
    record = repo / "outputs/scratch/runs/digits/lif/0/record.json"
    assert not record.exists()
    subprocess.run(cmd, cwd=repo, check=True, capture_output=True)
    assert json.loads(record.read_text())["resumed_from_epoch"] is not None


def test_a_second_run_of_the_same_cell_is_refused(in_repo, tmp_path):
    lock = tmp_path / "work/digits/lif/0.lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "w") as held:  # as a first run holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        cfg = cell_config(load_params(), "lif", "digits", 0, FAST)
        with pytest.raises(UsageError, match="another run of this cell is in progress"):
            run_cell(cfg, FAST, runs_root=tmp_path / "runs", work_root=tmp_path / "work")
    assert not list((tmp_path / "runs").rglob("record.json"))


def test_an_unwritable_results_folder_is_refused_before_training(in_repo, tmp_path):
    cfg = cell_config(load_params(), "lif", "digits", 0, FAST)
    with pytest.raises(UsageError, match="cannot write results to /proc/bench-results"):
        run_cell(cfg, FAST, runs_root="/proc/bench-results", work_root=tmp_path / "work")  # read-only, even for root
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["qif", "digits", "-1"], "the seed must be a non-negative integer"),
        (["qif", "digits", "0", "trainer.max_epochs=abc"], "trainer.max_epochs must be an integer >= 1, got 'abc'"),
        (["qif", "digits", "0", "trainer.max_epochs=0"], "trainer.max_epochs must be an integer >= 1, got 0"),
        (["qif", "digits", "0", "neuron.threshold=-1"], "neuron qif: QIF needs"),
        (["qif", "digits", "0", "+profile.seeds=[1]"], "this cell's config has no 'profile'"),
        (["qif", "digits", "0", "neurons.lif.tau=3"], "this cell trains neuron 'qif'; neurons.lif.* does not change it"),
        (["qif", "digits", "0", "neuron.b=1"], "no setting 'neuron.b' in this cell's config; did you mean neuron.a? (or use "
                                               "+neuron.b=... to add one"),
        (["../../victim", "digits", "0"], "neuron name '../../victim' is not allowed"),
        (["qif", "digits", "0", "trainer.precision=abc"], "trainer settings ("),
        (["qif", "digits", "0", "+trainer.no_such_setting=1"], "no_such_setting"),
        (["qif", "digits", "0", "+trainer.callbacks=[]"], "trainer.callbacks is set by bench.train"),
        (["qif", "digits", "0", "runtime.cpu_threads=0"], "runtime.cpu_threads (or BENCH_CPU_THREADS) must be an integer >= 1"),
        (["qif", "digits", "0", "runtime.cpu_isa=foo"], "runtime.cpu_isa is fixed when the process starts"),
        (["qif", "digits", "0", "runtime.neuron_backend=foo"], "runtime.neuron_backend must be one of eager, bptt, fused"),
        (["qif", "digits", "0", "logger=mlflow"], "logger mlflow needs the mlflow package"),
    ],
)
def test_a_mistyped_request_is_one_clear_line(args, message):
    out = subprocess.run([sys.executable, "-m", "bench.train", *args], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode != 0 and message in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert not any((ROOT / "results/runs/digits" / args[0]).glob("*.tmp"))


def test_debug_shows_the_traceback(in_repo):
    with pytest.raises(ValueError, match="not allowed"):
        main(["../victim", "digits", "0", "--debug"])


def test_a_binary_split_file_is_named(tmp_path):
    from bench.data import ClassificationDataModule
    from bench.data.digits import Digits

    dm = ClassificationDataModule(Digits(), prepared_dir=str(tmp_path))
    (tmp_path / "split.json").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ValueError, match=f"split file {tmp_path}/split.json is not valid JSON"):
        dm.setup("fit")


def test_a_split_that_is_not_one_or_lists_a_sample_the_data_lacks_is_named(tmp_path):
    from bench.data import ClassificationDataModule
    from bench.data.datamodule import DataError
    from bench.data.digits import Digits

    dm = ClassificationDataModule(Digits(), prepared_dir=str(tmp_path))
    (tmp_path / "split.json").write_text("[1, 2, 3]")
    with pytest.raises(DataError, match=f"split file {tmp_path}/split.json is not a split"):
        dm.setup("fit")
    split = dm.write_split()
    split["test"][0] = 10**9
    (tmp_path / "split.json").write_text(json.dumps(split))
    with pytest.raises(DataError, match=f"{tmp_path}/split.json: .*sample"):
        dm.setup("fit")


def test_a_hand_edit_of_params_yaml_that_its_sweep_points_do_not_follow_is_refused(tmp_path):
    """neurons.qif.u2 changed in params.yaml by hand: the qif cells would run one config, its
    sweep points (plan.points) another."""
    from omegaconf import OmegaConf

    params = OmegaConf.load(ROOT / "params.yaml")
    params.neurons.qif.u2 = 0.6
    OmegaConf.save(params, tmp_path / "params.yaml")
    with pytest.raises(ValueError, match=r"params.yaml: sweep point qif-a-0p125 has qif.u2 = 0.5 but neurons.qif.u2 is 0.6: "
                                         r"params.yaml was edited by hand; edit conf/ instead"):
        load_params(tmp_path / "params.yaml")


def test_a_truncated_events_file_is_named(tmp_path):
    from bench.data.digits_dvs import DigitsDVS

    source = DigitsDVS(n_time_bins=4)
    split = source.make_split(tmp_path)
    events = tmp_path / "events.npz"
    events.write_bytes(events.read_bytes()[:1000])
    with pytest.raises(ValueError, match=f"{events} is not a complete events file.*prepare@digits-dvs"):
        source.datasets(split, tmp_path)


def test_a_stray_macosx_folder_in_cifar10dvs_is_named(tmp_path):
    from bench.data.cifar10dvs import CIFAR10DVS

    from tests.fixtures import write_cifar10dvs

    write_cifar10dvs(tmp_path / "cifar10dvs", per_class=2)
    (tmp_path / "cifar10dvs/CIFAR10DVS/__MACOSX/airplane").mkdir(parents=True)
    with pytest.raises(ValueError, match="holds folders that are not classes \\(__MACOSX\\); remove them"):
        CIFAR10DVS(4, root=str(tmp_path)).make_split()


class NaNLIF(LIF):
    """A neuron with a bug: its potential goes NaN once it exceeds half the threshold."""

    def f(self, u):
        return super().f(u) + torch.where(u > 0.5, torch.nan, 0.0)


def test_a_neuron_whose_potential_goes_nan_is_a_failed_run_naming_the_layer(in_repo, tmp_path):
    """(Both neuron paths pass a non-finite potential on: tests/test_neuron_conformance.py.)"""
    overrides = [*FAST, f"neuron._target_={NaNLIF.__module__}.NaNLIF"]
    record = run_cell(cell_config(load_params(), "lif", "digits", 0, overrides), overrides,
                      runs_root=tmp_path / "runs", work_root=tmp_path / "work")
    assert record["status"] == "failed" and "metrics" not in record
    assert record["reason"].startswith("DivergedError: non-finite outputs in val at epoch 0")  # the sanity check
    assert "first non-finite values from layer" in record["reason"]
    assert "(the neuron's potential, finite input: True)" in record["reason"]


class EvalNaNLIF(LIF):
    """A neuron with a bug only evaluation sees: NaN potentials whenever it is not training."""

    def f(self, u):
        return super().f(u) + (0.0 if self.training else torch.nan)


def test_nan_outputs_in_evaluation_are_a_failed_run_not_a_result_at_chance(in_repo, tmp_path):
    overrides = [*FAST, f"neuron._target_={EvalNaNLIF.__module__}.EvalNaNLIF"]
    record = run_cell(cell_config(load_params(), "lif", "digits", 0, overrides), overrides,
                      runs_root=tmp_path / "runs", work_root=tmp_path / "work")
    assert record["status"] == "failed" and "non-finite outputs in val" in record["reason"]
    assert not (tmp_path / "runs/digits/lif/0/test-predictions.csv").exists()


def test_a_partial_test_in_the_pipeline_s_config_is_a_failed_cell(in_repo, tmp_path):
    """`dvc exp run -S +trainer.limit_test_batches=1` puts it into params.yaml: no override, so a
    pipeline cell, which must test the whole split; an ad-hoc smoke run may test less, and says so."""
    partial = [*FAST, "+trainer.limit_test_batches=1"]
    cfg = cell_config(load_params(), "lif", "digits", 0, partial)
    with pytest.raises(SystemExit, match="failed"):
        run_cell(cfg, [], runs_root=tmp_path / "runs", work_root=tmp_path / "work")
    record = json.loads((tmp_path / "runs/digits/lif/0/record.json").read_text())
    assert record["status"] == "failed" and "a partial test is not a result" in record["reason"]
    smoke = run_cell(cfg, partial, runs_root=tmp_path / "smoke", work_root=tmp_path / "smoke-work")
    assert smoke["status"] == "ok" and smoke["n_test"] < smoke["n_test_split"]


def test_an_infinite_surrogate_width_is_refused():
    from bench.neurons.surrogate import Rectangle

    with pytest.raises(ValueError, match="must be a finite number > 0, got inf"):
        Rectangle(float("inf"))


def test_the_resume_point_is_written_after_every_epoch_not_only_when_validation_improves(in_repo, tmp_path):
    """With lr 0 validation never improves after the first epoch: last.ckpt must still be the
    last epoch's (Lightning's save_last follows best.ckpt), or a resumed run repeats epochs."""
    overrides = ["trainer.max_epochs=3", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1",
                 "task.optimizer.lr=0.0"]
    run_cell(cell_config(load_params(), "lif", "digits", 0, overrides), overrides,
             runs_root=tmp_path / "runs", work_root=tmp_path / "work")
    checkpoints = tmp_path / "work/digits/lif/0/checkpoints"
    last = torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=False)
    best = torch.load(checkpoints / "best.ckpt", map_location="cpu", weights_only=False)
    assert (best["epoch"], last["epoch"]) == (0, 2)
