"""Every task of the `paper` profile, end to end on tiny fixtures in the datasets' real formats:
the real datamodule, backbone, loss, training step, checkpoint selection, test and record."""

import json

import pytest
from torchvision import datasets

from bench.builder import build
from bench.config import cell_config, load_params
from bench.train import run_cell

from tests.fixtures import trust_cifar_fixture, write_cifar, write_cifar10dvs, write_imagenet

SMOKE = [
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=1",
    "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=1",
    "task.data.batch_size=2",
    "task.data.num_workers=0",
]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    md5 = {"cifar10": write_cifar(root / "cifar10", "cifar10"),
           "cifar100": write_cifar(root / "cifar100", "cifar100", per_file=100)}
    write_imagenet(root / "imagenet")
    write_cifar10dvs(root / "cifar10dvs")
    return root, md5


PAPER = ["cifar10-resnet19-t2", "cifar10-resnet19-t2-tet", "cifar10-resnet19-t4", "cifar10-resnet19-t4-tet",
         "cifar100-resnet19-t2", "cifar100-resnet19-t2-tet", "cifar100-resnet19-t4", "cifar100-resnet19-t4-tet",
         "imagenet-resnet34-t4", "imagenet-resnet34-t4-tet", "cifar10dvs-vggsnn-t10", "cifar10dvs-resnet19-t10"]


def test_the_paper_profile_covers_every_reported_row(in_repo):
    from omegaconf import OmegaConf

    paper = OmegaConf.load(in_repo / "conf/profile/paper.yaml")
    assert sorted([*paper.tasks, *paper.single_seed_tasks]) == sorted(PAPER)
    assert list(paper.neurons) == ["lif", "qif"] and list(paper.seeds) == [0, 1, 2]
    assert list(paper.single_seed_tasks) == ["imagenet-resnet34-t4", "imagenet-resnet34-t4-tet"]


REFERENCE_CODE = ["cifar10dvs-vggsnn-t10-tetcode"]  # a reference's public code, end to end (not in the paper profile)


@pytest.mark.parametrize("task", PAPER + REFERENCE_CODE)
def test_paper_task_runs_end_to_end_on_real_format_fixtures(in_repo, data_root, task, tmp_path, monkeypatch):
    root, md5 = data_root
    monkeypatch.setenv("BENCH_DATA_DIR", str(root))
    trust_cifar_fixture(monkeypatch, datasets.CIFAR10, md5["cifar10"])
    trust_cifar_fixture(monkeypatch, datasets.CIFAR100, md5["cifar100"])
    monkeypatch.setattr("bench.config.PREPARED_DIR", tmp_path / "prepared")  # not the repository's
    overrides = list(SMOKE)
    if task.startswith("imagenet"):
        overrides.append("task.data.source.num_classes=4")
    if task.endswith("-tetcode"):  # the fixture's recordings are numbered 0-9: TET's 700-999 test part is empty
        overrides.append("task.data.source.protocol=first90")
    if task.startswith(("cifar10-", "cifar100-")):
        overrides.append(f"task.data.source.val_size={200 if task.startswith('cifar100') else 20}")
    neuron = "qif"
    cfg = cell_config(load_params(), neuron, task, 0, overrides)
    build(cfg)[0].write_split()  # what the pipeline's prepare stage does
    record = run_cell(cfg, overrides, runs_root=tmp_path / "runs", work_root=tmp_path / "work")
    assert record["status"] == "ok", record.get("reason")
    on_disk = json.loads((tmp_path / "runs" / task / neuron / "0" / "record.json").read_text())
    metrics = on_disk["metrics"]
    assert (metrics["energy_model"], metrics["energy_full_model"]) == ("conventional-horowitz45-fp32", "full-horowitz45-fp32")
    assert metrics["synaptic_operations"]["effective_macs"] > 0  # the analog first layer
    assert metrics["energy_full_mj"] > metrics["energy_mj"] > 0  # the full count adds the neurons' updates
    if task.startswith(("cifar10-", "cifar100-", "imagenet")):  # direct encoding: the stem's image repeats
        assert list(metrics["synaptic_inputs"].values())[0] == "static"
        assert metrics["synaptic_operations"]["static_macs"] > 0
    assert on_disk["train_samples_per_s"] > 0 and on_disk["peak_memory_mib"] > 0
    assert on_disk["split_protocol"]
