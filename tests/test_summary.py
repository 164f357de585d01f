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
    # NeuroBench's dense leaves out the kernel positions over the zero padding: per channel pair a
    # 3x3 kernel reaches 484 positions of an 8x8 map (not 64 x 9 = 576) and 100 of a 4x4 one (not 144)
    assert out["neurobench_dense_per_sample"] == pytest.approx(4 * (32 * 484 + 64 * 32 * 484 + 128 * 64 * 100 + 2048 * 10))


def test_the_reference_code_variants_of_the_backbones(in_repo):
    """TET's VGGSNN (biased convolutions, kaiming fan-out), TET's ResNet-19 (64-channel stem, plain
    BatchNorm) and SEW-ResNet-34 (ADD), counted independently of the code that builds them."""
    from bench.builder import build
    from bench.config import cell_config, load_params
    from bench.models.layers import TdBatchNorm2d
    from bench.models.resnet import SpikingResNet34
    from bench.neurons.lif import LIF

    params = load_params()

    def model(task, overrides=()):
        return build(cell_config(params, "lif", task, 0, list(overrides)))[1].backbone

    vgg = model("cifar10dvs-vggsnn-t10-tetcode")
    convs = [m for m in vgg.modules() if isinstance(m, nn.Conv2d)]
    assert sum(p.numel() for p in vgg.parameters()) == 9_268_746 + sum(c.out_channels for c in convs)  # + conv biases
    for conv in convs:  # kaiming_normal_(mode="fan_out", nonlinearity="relu"): std sqrt(2 / fan_out)
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        assert conv.weight.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.1)

    tet = model("cifar10-resnet19-t2", ["task.model.stem_channels=64", "task.model.norm=bn"])
    # ours minus the 128-channel stem (conv 3*9*128, BN 2*128) plus the 64-channel one (3*9*64, 2*64), the
    # first block's conv1 from 64 instead of 128 channels (-64*9*128) and its new 1x1 projection (64*128 + 2*128)
    assert sum(p.numel() for p in tet.parameters()) == 12_697_994 - 3 * 9 * 64 - 2 * 64 - 64 * 9 * 128 + 64 * 128 + 2 * 128
    norms = [m for m in tet.modules() if isinstance(m, TdBatchNorm2d)]
    assert {(m.alpha, m.threshold) for m in norms} == {(1.0, 1.0)}  # plain BatchNorm everywhere

    sew = SpikingResNet34(neuron=lambda **_: LIF(), input_shape=(3, 64, 64), num_classes=10, sew=True)
    plain = SpikingResNet34(neuron=lambda **_: LIF(), input_shape=(3, 64, 64), num_classes=10)
    assert sum(p.numel() for p in sew.parameters()) == sum(p.numel() for p in plain.parameters())
    counts = []
    hooks = [b.register_forward_hook(lambda m, i, out: counts.append(out.max().item())) for b in sew.layers.modules()
             if type(b).__name__ == "SEWBasicBlock"]
    with torch.no_grad():
        out = sew(3 * torch.randn(2, 2, 3, 64, 64, generator=torch.Generator().manual_seed(0)))
    for h in hooks:
        h.remove()
    assert out.shape == (2, 2, 10) and len(counts) == 3 + 4 + 6 + 3
    assert max(counts) >= 2  # ADD passes spike counts on, not binary spikes
