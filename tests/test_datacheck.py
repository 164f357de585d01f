"""`python -m bench.data check`: finds a missing, incomplete or altered dataset on the real-format
fixtures and says what to do; an intact one passes."""

import pytest
from omegaconf import OmegaConf

from bench.config import load_params
from bench.data import check
from bench.data.__main__ import main

from tests.fixtures import trust_cifar_fixture, write_cifar, write_cifar10dvs, write_imagenet


def task_at(name: str, root, **source) -> OmegaConf:
    task = load_params().tasks[name].copy()
    OmegaConf.set_struct(task, False)
    task.data.source.root = str(root)
    task.data.source.update(source)
    return task


def problems(findings) -> list[str]:
    return [f.text for f in findings if not f.ok]


def test_cifar_files_are_checked_against_torchvision_md5_sums(in_repo, tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR10

    task = task_at("cifar10-resnet19-t4", tmp_path)
    missing = problems(check.check_task("cifar10-resnet19-t4", task))
    assert len(missing) == 1 and "cifar-10-batches-py not found" in missing[0] and "cifar-10-python.tar.gz" in missing[0]
    md5 = write_cifar(tmp_path / "cifar10")
    altered = problems(check.check_task("cifar10-resnet19-t4", task))  # the fixture is not the official data
    assert len(altered) == 7 and all("md5 differs from the official" in p for p in altered)
    trust_cifar_fixture(monkeypatch, CIFAR10, md5)
    assert problems(check.check_task("cifar10-resnet19-t4", task)) == []
    (tmp_path / "cifar10/cifar-10-batches-py/data_batch_3").write_bytes(b"truncated")
    assert problems(check.check_task("cifar10-resnet19-t4", task)) == [
        f"{tmp_path}/cifar10/cifar-10-batches-py/data_batch_3: md5 differs from the official cifar10 file data_batch_3's "
        f"({md5['data_batch_3']}); re-download it"]


def test_cifar10dvs_recordings_are_counted_per_class(in_repo, tmp_path, monkeypatch):
    task = task_at("cifar10dvs-vggsnn-t10", tmp_path)
    assert "figshare" in problems(check.check_task("cifar10dvs-vggsnn-t10", task))[0]
    write_cifar10dvs(tmp_path / "cifar10dvs", per_class=3, events=50)
    short = problems(check.check_task("cifar10dvs-vggsnn-t10", task))
    assert len(short) == 10 and short[0].endswith("CIFAR10DVS/airplane: 3 of 1000 recordings")
    monkeypatch.setattr(check, "CIFAR10DVS_PER_CLASS", 3)
    assert problems(check.check_task("cifar10dvs-vggsnn-t10", task)) == []


def test_imagenet_layout_and_class_folders(in_repo, tmp_path):
    task = task_at("imagenet-resnet34-t4", tmp_path, num_classes=4)
    assert len(problems(check.check_task("imagenet-resnet34-t4", task))) == 2  # train/ and val/ missing
    write_imagenet(tmp_path / "imagenet", classes=4, train_per_class=2, val_per_class=1)
    findings = check.check_task("imagenet-resnet34-t4", task)
    assert problems(findings) == [] and any(f.text.endswith("train: 4 of 4 class folders") for f in findings)
    (tmp_path / "imagenet/val/n01440764").rename(tmp_path / "imagenet/val-extra")
    assert problems(check.check_task("imagenet-resnet34-t4", task)) == [f"{tmp_path}/imagenet/val: 3 of 4 class folders"]


def test_the_command_reports_and_fails_on_problems(in_repo, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    main(["check", "randman", "digits"])  # embedded: nothing to download, exit 0
    assert "randman: bench.data.randman.Randman (embedded" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="1 problem"):
        main(["check", "cifar100-resnet19-t4"])
    assert "PROBLEM" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no task named 'cifar11'"):
        main(["check", "cifar11"])
    with pytest.raises(SystemExit, match="only CIFAR can be downloaded"):
        main(["check", "--download", "imagenet-resnet34-t4"])
