"""`python -m bench.perf cell`: the suite's cell and an independent plain PyTorch loop of the same
training, side by side in one run; `train` and `profile`: costs at paper scale (bench.costs); and
scripts/gpu-check.sh, run on a CPU."""

import json
import re
import sys

import pytest
import torch

from bench import costs, perf
from bench.config import cell_config, load_params
from bench.plan import planned_cells

from conftest import sh


def test_perf_cell_times_the_suite_against_a_plain_loop(repo):
    out = sh(sys.executable, "-m", "bench.perf", "cell", "lif", "digits", "--rounds", "1", cwd=repo)
    suite, suite_top1 = map(float, re.search(r"suite \(Lightning.*?(\d+\.\d+) s\s+test top-1 (\d+\.\d+)", out).groups())
    plain, plain_top1 = map(float, re.search(r"plain PyTorch loop\s+(\d+\.\d+) s\s+test top-1 (\d+\.\d+)", out).groups())
    bare, bare_top1 = map(float, re.search(r"bare Lightning loop.*?(\d+\.\d+) s\s+test top-1 (\d+\.\d+)", out).groups())
    ratio = float(re.search(r"suite / plain\s+(\d+\.\d+)x", out).group(1))
    bare_ratio = float(re.search(r"bare Lightning / plain\s+(\d+\.\d+)x", out).group(1))
    assert suite > 0 and plain > 0 and bare > 0 and abs(ratio - suite / plain) < 0.02 and abs(bare_ratio - bare / plain) < 0.02
    assert plain_top1 > 30  # one epoch of the plain loop learns the digits too: it trains for real
    assert plain_top1 == suite_top1 == bare_top1  # the same training, step for step, in all three
    assert re.search(r"as a process \(python -m bench.train\)\s+\d+\.\d+ s", out)


def test_perf_train_measures_a_real_network_step_by_neuron_and_backend(tmp_path):
    out = tmp_path / "train.json"
    rows = perf.main(["train", "digits-seq", "lif", "qif", "--backend", "eager", "bptt", "--steps", "2", "--out", str(out)])
    assert [(r["neuron"], r["backend"]) for r in rows] == [("lif", "eager"), ("lif", "bptt"), ("qif", "eager"), ("qif", "bptt")]
    for r in rows:
        assert r["batch"] == 32 and r["precision"] == "32-true" and r["device"].startswith("cpu")
        assert r["train_step_s"] > r["eval_step_s"] > 0  # backward and the optimiser step cost something
        assert r["train_samples_per_s"] == pytest.approx(32 / r["train_step_s"])
        assert r["saved_for_backward_mib"] > 0
    assert json.loads(out.read_text()) == rows
    perf.main(["train", "digits-seq", "lif", "--steps", "1", "--out", str(out)])  # --out appends
    assert len(json.loads(out.read_text())) == 5


def test_split_sizes_of_the_paper_tasks_follow_the_official_datasets():
    params = load_params()
    sizes = {t: costs.split_samples(cell_config(params, "lif", t, 0)) for t in
             ("cifar10-resnet19-t4", "cifar100-resnet19-t2", "imagenet-resnet34-t4", "cifar10dvs-vggsnn-t10",
              "cifar10dvs-vggsnn-t10-tetcode", "digits-seq")}
    assert sizes == {
        "cifar10-resnet19-t4": (45_000, 5_000, 10_000),  # 50,000 training images, 5,000 held out
        "cifar100-resnet19-t2": (45_000, 5_000, 10_000),
        "imagenet-resnet34-t4": (1_271_167, 10_000, 50_000),  # 10 per class held out; the official val set tests
        "cifar10dvs-vggsnn-t10": (8_100, 900, 1_000),  # 900 per class to train (10% of them validate), 100 to test
        "cifar10dvs-vggsnn-t10-tetcode": (7_000, 3_000, 3_000),  # TET's 70/30; no validation split: the test selects
        "digits-seq": (1077, 360, 360),  # the committed split
    }


def test_projected_hours_are_epochs_times_measured_steps():
    params = load_params()
    cells = [c for c in planned_cells(params.profile) if c.task == "digits-seq" and c.neuron == "lif"]
    step = {"task": "digits-seq", "neuron": "lif", "backend": "bptt", "device": "cpu", "precision": "32-true",
            "batch": 32, "train_step_s": 0.1, "eval_step_s": 0.02}
    rows = costs.project(params, cells, [step])
    epochs = params.tasks["digits-seq"].trainer.max_epochs
    # ceil(1077 / 32) = 34 training steps, ceil(360 / 32) = 12 of validation and of test after each
    # epoch (the max over epochs), then the test of the best checkpoint
    seconds = epochs * (34 * 0.1 + 12 * 0.02 + 12 * 0.02) + 12 * 0.02
    assert len(rows) == len(params.profile.seeds) and all(r["hours"] == pytest.approx(seconds / 3600) for r in rows)
    table = costs.hours_table("mini", rows)
    assert f"| digits-seq | lif | {len(rows)} | {epochs} | 1077 |" in table


def test_the_paper_profile_is_composed_as_dvc_exp_run_would():
    params, cells = costs.profile_cells("paper")
    assert params.profile.name == "paper" and params.trainer.accelerator == "gpu"
    assert len(cells) == 2 * 10 * 3 + 2 * 2  # {lif, qif} x 10 tasks x 3 seeds + ImageNet's two tasks x 1 seed


def test_gpu_check_runs_on_a_cpu_and_says_what_it_skipped(repo, tmp_path):
    sh("bash", "scripts/gpu-check.sh", str(tmp_path), cwd=repo)
    report = (tmp_path / "gpu-check.md").read_text()
    for section in ("1. Neuron conformance", "2. Neurons", "3. Paper-scale", "4. One real cell"):
        assert f"## {section}" in report
    assert "skipped: no CUDA device" in report and "GPU: none (CUDA parts skipped" in report
    assert json.loads((tmp_path / "train.json").read_text())[0]["task"] == "cifar10-resnet19-t2"
    assert json.loads((tmp_path / "cell.json").read_text())["status"] == "ok"
    assert "gpu-check done" in report


def test_perf_neurons_times_the_bptt_loop_against_another_commit(in_repo):
    by_shape = perf.main(["neurons", "--shape", "6", "2", "16", "--shape", "2", "2", "3", "4", "4", "--rounds", "1",
                          "--backend", "bptt", "--against", "HEAD", "--neuron", "lif", "qif", "alif", "adex"])
    assert list(by_shape) == ["6x2x16", "2x2x3x4x4"]  # several shapes in one run
    results = by_shape["6x2x16"]
    ours = {name.split()[0] for name in results if not name.startswith(("snntorch", "spikingjelly"))}
    assert ours == {"floor", "lif", "qif", "alif", "adex"}  # --neuron: only these
    for name in ("lif", "qif", "alif", "adex"):
        then = results[f"{name} bptt@HEAD"]
        assert then["same"] is True and then["vs_today"] > 0  # the committed loop gives today's numbers
    lif = results["lif bptt"]["ms"] / results["lif bptt@HEAD"]["ms"]
    assert results["lif bptt@HEAD"]["vs_today"] == pytest.approx(lif)
    assert results["floor"]["allocator"] == "freed memory kept mapped"  # glibc: timed without fresh page faults


def test_the_steady_allocator_keeps_big_blocks_on_the_heap_only_while_it_times():
    """bench.perf neurons times without fresh page faults: a 64 MiB tensor comes from the heap,
    not a mapping of its own; afterwards glibc maps big blocks again."""
    import ctypes

    fields = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")
    mallinfo = ctypes.CDLL("libc.so.6").mallinfo2
    mallinfo.restype = type("mallinfo2", (ctypes.Structure,), {"_fields_": [(f, ctypes.c_size_t) for f in fields]})
    with perf.steady_allocator() as allocator:
        assert allocator == "freed memory kept mapped"
        mapped = mallinfo().hblkhd  # bytes in blocks mapped on their own
        kept = torch.ones(2**24)
        assert mallinfo().hblkhd == mapped
        del kept
    bigger = torch.empty(mallinfo().fordblks // 4 + 2**24)  # more than the heap has free, top included
    assert mallinfo().hblkhd >= mapped + bigger.nbytes


def test_profile_says_what_it_measures_up_front_and_a_line_per_pair(in_repo, tmp_path, capsys):
    """`bench.perf profile` on a CPU: the plan first, then one line per (task, neuron) measured with
    the time left, then the table; what --measured gives is not measured again."""
    params, cells = costs.profile_cells("mini")
    pairs = sorted({(c.task, c.neuron) for c in cells})
    given = [{"task": t, "neuron": n, "backend": params.runtime.neuron_backend, "device": "cpu", "precision": "32-true",
              "batch": 32, "train_step_s": 0.1, "eval_step_s": 0.02} for t, n in pairs[2:]]
    (tmp_path / "measured.json").write_text(json.dumps(given))
    rows = perf.main(["profile", "mini", "--device", "cpu", "--measured", str(tmp_path / "measured.json")])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    plan = f"profile mini: {len(cells)} cells; 2 (task, neuron) pairs to measure on cpu ({len(pairs) - 2} from --measured)"
    assert lines[0].startswith(plan)
    assert "at batch 2" in lines[0]
    (t0, n0), (t1, n1) = pairs[:2]
    assert lines[1].startswith(f"[1/2] {t0} {n0}: training step ") and "at batch 2" in lines[1] and "min left" in lines[1]
    assert lines[2].startswith(f"[2/2] {t1} {n1}: ") and "left" not in lines[2]
    assert out.startswith("profile mini: projected device-hours") and len(rows) == len(cells)
    assert {r["batch"] for r in rows if (r["task"], r["neuron"]) in pairs[:2]} == {2}
