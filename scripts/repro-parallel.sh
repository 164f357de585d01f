#!/usr/bin/env bash
# Reproduce the pipeline with K benchmark cells training at once on this machine, each worker
# bound to its own devices:
#   bash scripts/repro-parallel.sh [--force] K [DEVICES_1 ... DEVICES_K]
#   bash scripts/repro-parallel.sh 4             # workers on GPU 0, 1, 2, 3
#   bash scripts/repro-parallel.sh 2 0,1 2,3     # two workers with two GPUs each (trainer=ddp)
#   bash scripts/repro-parallel.sh --force 2     # every cell, as `dvc repro -f` (a timing run)
#
# The shared upstream stages run through `dvc repro`. The train cells DVC finds out of date
# (`python -m bench.cells`) are dealt round-robin to K workers; each worker is one
# `python -m bench.run_cells` process that trains its cells one after the other exactly as their
# stages would (same command, DVC_STAGE set), which saves DVC's and the imports' ~16 s per cell
# (bench/run_cells.py). When every cell succeeded, one `dvc commit` of the `train` group enters
# them all in dvc.lock (up-to-date cells stay as they are); otherwise only those that succeeded
# are committed. Then the leaderboard.
#
# A CPU cell uses runtime.cpu_threads threads (default 1, part of its config: the numbers depend on
# it), so K = the number of cores keeps a CPU busy. With `cpu_threads: auto` each worker gets
# nproc/K threads (OMP_NUM_THREADS, unless set): K workers each using every core oversubscribe
# the CPU, which made CPU cells 3-10x slower here (docs/cluster.md).
set -euo pipefail
cd "$(dirname "$0")/.."

force=
if [ "${1:-}" = "--force" ]; then force=--all; shift; fi
K=${1:?usage: repro-parallel.sh [--force] K [DEVICES_1 ... DEVICES_K]}
shift
devices=("$@")
if [ ${#devices[@]} -eq 0 ]; then devices=($(seq 0 $((K - 1)))); fi
if [ ${#devices[@]} -ne "$K" ]; then
  echo "repro-parallel.sh: $K workers but ${#devices[@]} device sets (${devices[*]})" >&2
  exit 2
fi

# The upstream stages the cells share (data splits, neuron dynamics) first, one at a time.
dvc repro ${force:+--force} --glob 'prepare@*' 'dynamics@*'

# The train cells whose results are missing or out of date (--force: all of them).
mapfile -t cells < <(python -m bench.cells $force | cut -d' ' -f4)
echo "repro-parallel.sh: ${#cells[@]} cells to train on $K workers"

threads=${OMP_NUM_THREADS:-$(($(nproc) / K > 0 ? $(nproc) / K : 1))}
failed=$(mktemp)
done=$(mktemp)
for ((k = 0; k < K; k++)); do
  (
    export CUDA_VISIBLE_DEVICES=${devices[k]} OMP_NUM_THREADS=$threads
    mine=()
    for ((i = k; i < ${#cells[@]}; i += K)); do mine+=("${cells[i]}"); done
    if [ ${#mine[@]} -gt 0 ]; then
      python -m bench.run_cells --no-commit --done "$done" "${mine[@]}" || echo "worker $k" >>"$failed"
    fi
  ) &
done
wait

if [ ${#cells[@]} -gt 0 ] && [ ! -s "$failed" ]; then
  dvc commit --force --quiet train            # every cell: each one was up to date or has just succeeded
elif [ -s "$done" ]; then
  mapfile -t succeeded <"$done"
  dvc commit --force --quiet "${succeeded[@]}"
fi
if [ -s "$failed" ]; then
  echo "repro-parallel.sh: cells failed (named above; their records say why; the leaderboard was not rebuilt):" >&2
  cat "$failed" >&2
  exit 1
fi
dvc repro ${force:+--force --single-item} leaderboard   # --single-item: not its upstream again
