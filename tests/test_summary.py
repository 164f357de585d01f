"""Parameter counts and dense MACs of the paper's backbones against the literature and an
independent count on torchvision's ResNet-34."""

import pytest
import torch
import torchvision
from torch import nn

from bench.summary import main, summarize


def torchvision_macs(model: nn.Module, shape) -> int:
    total = 0

    def hook(m, inp, out):
        nonlocal total
        total += out.numel() * (m.weight[0].numel() if isinstance(m, nn.Conv2d) else m.in_features)

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for h in hooks:
        h.remove()
    return total


def test_resnet34_matches_torchvision(in_repo):
    s = summarize("imagenet-resnet34-t4", "qif")
    reference = torchvision.models.resnet34()
    assert s["params"] == sum(p.numel() for p in reference.parameters()) == 21_797_672
    assert s["dense_macs_per_sample"] == 4 * torchvision_macs(reference, (3, 224, 224))  # T = 4
    assert len(s["spiking_layers"]) == 1 + 2 * (3 + 4 + 6 + 3)


def test_resnet19_cifar(in_repo):
    s = summarize("cifar10-resnet19-t2")
    # tdBN/TET ResNet-19: 12.55M in convolutions + 256-FC head; ~12.6-12.7M quoted in the literature
    assert s["params"] == 12_697_994
    assert len(s["spiking_layers"]) == 1 + 2 * (3 + 3 + 2) + 1
    assert s["spiking_layers"][0]["neurons"] == 128 * 32 * 32
    conv_macs = 32 * 32 * 128 * 3 * 9 + 3 * 2 * (32 * 32 * 128 * 128 * 9)  # stem + stage 1
    assert s["dense_macs_per_sample"] > 2 * conv_macs  # two timesteps, and more stages


def test_vggsnn_dvs(in_repo):
    s = summarize("cifar10dvs-vggsnn-t10")
    assert s["input_shape"] == [2, 48, 48] and s["T"] == 10
    assert s["params"] == 9_268_746
    assert [layer["neurons"] for layer in s["spiking_layers"]] == [
        64 * 48 * 48, 128 * 48 * 48, 256 * 24 * 24, 256 * 24 * 24, 512 * 12 * 12, 512 * 12 * 12, 512 * 6 * 6, 512 * 6 * 6
    ]


def test_cli_prints_json(in_repo, capsys):
    import json

    main(["digits", "qif"])
    out = json.loads(capsys.readouterr().out)
    assert out["params"] > 0 and out["neurons"] == 32 * 64 + 64 * 64 + 128 * 16
    assert out["dense_macs_per_sample"] == pytest.approx(4 * (64 * 32 * 9 + 64 * 64 * 288 + 16 * 128 * 576 + 2048 * 10))
