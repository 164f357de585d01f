"""One real cell for scripts/gpu-check.sh: QIF on imagenet-resnet34-t4 (ResNet-34, 224x224, T=4),
one epoch on a small ImageNet fixture in the real on-disk layout (tests/fixtures.py), through
bench.train's run_cell, with trainer=gpu in bf16-mixed when CUDA is present (else trainer=cpu).
Usage: python scripts/gpu_check_cell.py OUT_JSON"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.fixtures

import torch  # noqa: E402

import bench.config  # noqa: E402
from bench.builder import build  # noqa: E402
from bench.config import cell_config, load_params  # noqa: E402
from bench.train import run_cell  # noqa: E402

from tests.fixtures import write_imagenet  # noqa: E402

TASK, NEURON = "imagenet-resnet34-t4", "qif"


def main(out: Path) -> dict:
    cuda = torch.cuda.is_available()
    overrides = ["trainer.max_epochs=1", "task.data.source.num_classes=4", "task.data.num_workers=0"]
    if cuda:
        overrides += ["trainer=gpu", "trainer.precision=bf16-mixed", "task.data.batch_size=8"]
    else:  # the plumbing only: one batch of two per stage
        overrides += ["task.data.batch_size=2"] + [f"+trainer.limit_{s}_batches=1" for s in ("train", "val", "test")]
    with tempfile.TemporaryDirectory() as tmp:
        write_imagenet(Path(tmp) / "imagenet", classes=4, train_per_class=12, val_per_class=4)
        os.environ["BENCH_DATA_DIR"] = tmp
        bench.config.PREPARED_DIR = Path(tmp) / "prepared"  # never the repository's data/prepared/
        cfg = cell_config(load_params(), NEURON, TASK, 0, overrides)
        build(cfg)[0].write_split()  # what the pipeline's prepare stage does
        start = time.perf_counter()
        record = run_cell(cfg, overrides, runs_root=Path(tmp) / "runs", work_root=Path(tmp) / "work")
        wall = time.perf_counter() - start
    result = {"cell": f"{NEURON}/{TASK}/0 on an ImageNet fixture", "device": "cuda" if cuda else "cpu",
              "overrides": overrides, "status": record["status"], "reason": record.get("reason"), "wall_s": wall,
              "train_samples_per_s": record.get("train_samples_per_s"), "peak_memory_mib": record.get("peak_memory_mib")}
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    if record["status"] != "ok":
        raise SystemExit(f"gpu-check cell failed: {record.get('reason')}")
    return result


if __name__ == "__main__":
    main(Path(sys.argv[1]))
