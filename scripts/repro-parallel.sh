#!/usr/bin/env bash
# Reproduce the pipeline with K benchmark cells training at once on this machine, each worker
# bound to its own devices:
#   bash scripts/repro-parallel.sh K [DEVICES_1 ... DEVICES_K]
#   bash scripts/repro-parallel.sh 4             # workers on GPU 0, 1, 2, 3
#   bash scripts/repro-parallel.sh 2 0,1 2,3     # two workers with two GPUs each (trainer=ddp)
#
# This is plain `dvc repro`, run K times in one workspace: while a stage's command runs, DVC
# releases the repository lock and holds only read locks on the stage's dependencies and a
# write lock on its outputs, so independent train cells reproduce concurrently, each writing its
# own outputs and its own dvc.lock entry (docs/cluster.md). Cells are dealt round-robin.
#
# A CPU cell uses runtime.cpu_threads threads (default 1, part of its config: the numbers depend on
# it), so K = the number of cores keeps a CPU busy. With `cpu_threads: auto` each worker gets
# nproc/K threads (OMP_NUM_THREADS, unless set): K workers each using every core oversubscribe
# the CPU, which made CPU cells 3-10x slower here (docs/cluster.md).
set -euo pipefail
cd "$(dirname "$0")/.."

K=${1:?usage: repro-parallel.sh K [DEVICES_1 ... DEVICES_K]}
shift
devices=("$@")
if [ ${#devices[@]} -eq 0 ]; then devices=($(seq 0 $((K - 1)))); fi
if [ ${#devices[@]} -ne "$K" ]; then
  echo "repro-parallel.sh: $K workers but ${#devices[@]} device sets (${devices[*]})" >&2
  exit 2
fi

# The upstream stages the cells share (data splits, neuron dynamics) first, one at a time.
dvc repro --glob 'prepare@*' 'dynamics@*'

# The train cells whose results are missing or out of date.
mapfile -t cells < <(python -m bench.cells | cut -d' ' -f4)
echo "repro-parallel.sh: ${#cells[@]} cells to train on $K workers"

threads=${OMP_NUM_THREADS:-$(($(nproc) / K > 0 ? $(nproc) / K : 1))}
failed=$(mktemp)
for ((k = 0; k < K; k++)); do
  (
    export CUDA_VISIBLE_DEVICES=${devices[k]} OMP_NUM_THREADS=$threads
    for ((i = k; i < ${#cells[@]}; i += K)); do
      dvc --wait-for-lock repro --single-item "${cells[i]}" || echo "${cells[i]}" >>"$failed"
    done
  ) &
done
wait

if [ -s "$failed" ]; then
  echo "repro-parallel.sh: failed cells (their records say why; the leaderboard was not rebuilt):" >&2
  cat "$failed" >&2
  exit 1
fi
dvc repro leaderboard
