#!/usr/bin/env bash
# The prepared GPU check: at most ~8 minutes on one GPU. Writes OUT_DIR/gpu-check.md (every
# section's output) and JSON beside it. On a machine without CUDA every step still runs, at a
# tiny scale on the CPU, and the report says which CUDA parts were skipped (a test runs it so).
#   1. the neuron conformance suite on CUDA
#   2. bench.perf neurons: bptt/fused/eager against the memory floor and the peers
#   3. bench.perf train in bf16-mixed for ResNet-19/CIFAR-10, VGGSNN/CIFAR10-DVS and
#      ResNet-34/ImageNet shapes, then bench.perf profile paper and temporal: projected GPU-hours
#   4. one real cell (bench.train's run_cell) on an ImageNet fixture with trainer=gpu
# Usage: bash scripts/gpu-check.sh [OUT_DIR]      (default: outputs/gpu-check)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-outputs/gpu-check}
mkdir -p "$out"
report="$out/gpu-check.md"
export PYTHONUNBUFFERED=1 BENCH_CPU_THREADS=${BENCH_CPU_THREADS:-auto}
if python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then cuda=1; else cuda=0; fi
log() { tee -a "$report"; }
section() { printf '\n## %s\n\n' "$1" | log; }

{
    echo "# GPU check"
    echo
    echo "- date: $(date -u +%FT%TZ); commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    python -c 'import torch, platform
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none (CUDA parts skipped, CPU at a tiny scale)"
print(f"- torch {torch.__version__}, python {platform.python_version()}, GPU: {gpu}")'
} > "$report"
cat "$report"

section "1. Neuron conformance on CUDA"
if [ $cuda = 1 ]; then
    python -m pytest -q -p no:cacheprovider tests/test_neuron_conformance.py -k cuda 2>&1 | tail -n 3 | log
else
    echo "skipped: no CUDA device (the CPU half runs in the test suite)" | log
fi

section "2. Neurons: forward+backward against the memory floor and the peers"
if [ $cuda = 1 ]; then
    python -m bench.perf neurons --device cuda 2>&1 | log
else
    python -m bench.perf neurons --device cpu --shape 2 2 4 8 8 --rounds 1 --backend eager bptt 2>&1 | log
    echo "(CPU, tiny shape, no fused path: exercises the step; CUDA skipped)" | log
fi

section "3. Paper-scale training steps and projected hours"
rm -f "$out/train.json"
if [ $cuda = 1 ]; then
    for task in cifar10-resnet19-t4 cifar10dvs-vggsnn-t10 imagenet-resnet34-t4; do
        python -m bench.perf train "$task" lif qif --backend bptt fused --precision bf16-mixed --out "$out/train.json" 2>&1 | log
    done
    python -m bench.perf profile paper --precision bf16-mixed --steps 3 --measured "$out/train.json" \
        --out "$out/profile-paper.json" 2>&1 | log
    # the temporal profile (SHD, SSC, recurrent networks) at its tasks' batch: its GPU-hours
    python -m bench.perf profile temporal --steps 3 --out "$out/profile-temporal.json" 2>&1 | log
else
    python -m bench.perf train cifar10-resnet19-t2 lif --batch 1 --steps 1 --out "$out/train.json" 2>&1 | log
    echo "(CPU, batch 1; the paper profile's projection skipped: it would measure every paper task here)" | log
fi

section "4. One real cell"
python scripts/gpu_check_cell.py "$out/cell.json" 2>&1 | tail -n 12 | log
echo | log
echo "gpu-check done: $report" | log
