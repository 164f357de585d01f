#!/usr/bin/env bash
# Reproduce the pipeline with K benchmark cells training at once on this machine, each worker
# bound to its own devices:
#   bash scripts/repro-parallel.sh [--force] K [DEVICES_1 ... DEVICES_K]
#   bash scripts/repro-parallel.sh 4             # workers on GPU 0, 1, 2, 3
#   bash scripts/repro-parallel.sh 2 0,1 2,3     # two workers with two GPUs each (trainer=ddp)
#   bash scripts/repro-parallel.sh --force 2     # every cell, as `dvc repro -f` (a timing run)
#
# The data splits the cells share run first, through `dvc repro`. Then two rounds: the train
# cells, the neurons' dynamics stages and the tuning studies DVC finds out of date, then the tuned
# cells (which read the studies). Each round is one work list, longest expected first
# (`python -m bench.worklist --schedule [--tuned]`: a cell or study is expected to take what its
# committed result took); each of the K workers is one `python -m bench.runner --queue` process
# that takes the next stage from the list whenever it is free and runs it exactly as DVC would
# (same command, DVC_STAGE set), which saves DVC's and the imports' ~16 s per stage
# (bench/runner.py). When every stage of a round succeeded, one `dvc commit` of the stage groups
# that ran (`train`, `dynamics`, `tune`, `tuned`) enters them in dvc.lock (up-to-date stages stay
# as they are); otherwise only those that succeeded are committed, and the tuned round does not
# start. Then the leaderboard, and one summary line (cells, how many trained now, the table
# version). Each
# phase's seconds are printed. Stopping the script (SIGTERM, Ctrl-C) stops
# its workers (a cell in flight writes no record and resumes next time), commits what finished
# and exits 143; its temporary files go in every case.
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

phase() { echo "repro-parallel.sh: $1 in $SECONDS s"; SECONDS=0; }
SECONDS=0

dvc repro ${force:+--force} --glob 'prepare@*'   # the data splits every cell of a task reads
phase "data splits"

# Two rounds, each a work list that the K workers empty: first the train, dynamics and tune stages
# whose results are missing or out of date (--force: all of them), then the tuned cells, which
# read the studies the first round made (bench/tune.py).
queue=$(mktemp)
done=$(mktemp)
tuned_queue=$(mktemp)
trap 'rm -f "$queue" "$done" "$tuned_queue"' EXIT

# Commits the stages that succeeded (all of the round's groups when no worker failed), so that
# nothing this run made is left out of dvc.lock.
commit_done() {
  if [ "$1" = all ]; then
    # every stage of these groups was up to date or has just succeeded; a group none of whose
    # stages ran is already committed (each stage it is given costs DVC a re-read of params.yaml)
    local ran
    ran=$(cut -d@ -f1 "$done" | sort -u | tr '\n' ' ')
    [ -z "$ran" ] || dvc commit --force --quiet $ran
  elif [ -s "$done" ]; then
    mapfile -t succeeded <"$done"
    dvc commit --force --quiet "${succeeded[@]}"
  fi
}

# SIGTERM or Ctrl-C: the workers get SIGTERM (a cell in flight stops without a record and resumes
# from its last epoch next time), then what finished is committed.
workers=()
stop() {
  trap '' TERM INT
  echo "repro-parallel.sh: stopped; stopping ${#workers[@]} workers, then committing the stages that finished" >&2
  kill -TERM "${workers[@]}" 2>/dev/null || true
  wait || true
  commit_done some
  exit 143
}

threads=${OMP_NUM_THREADS:-$(($(nproc) / K > 0 ? $(nproc) / K : 1))}
failed=0
to_train=0
# round <what its work list holds>: the workers empty $queue
round() {
  : >"$done"
  local cells
  cells=$(grep -c -E '^(train|tuned)@' "$queue" || true)   # counted now: the workers empty the list
  to_train=$((to_train + cells))
  echo "repro-parallel.sh: $1: $cells cells, $(grep -c '^tune@' "$queue" || true) tuning studies and" \
    "$(grep -c '^dynamics@' "$queue" || true) dynamics stages on $K workers"
  [ -s "$queue" ] || return 0
  workers=()
  trap stop TERM INT
  for ((k = 0; k < K; k++)); do
    CUDA_VISIBLE_DEVICES=${devices[k]} OMP_NUM_THREADS=$threads \
      python -m bench.runner --no-commit --done "$done" --queue "$queue" &
    workers+=($!)
  done
  for ((k = 0; k < K; k++)); do
    wait "${workers[k]}" || { echo "repro-parallel.sh: worker $k failed" >&2; failed=$((failed + 1)); }
  done
  trap - TERM INT
  phase "stages"
  if [ "$failed" -eq 0 ]; then commit_done all; else commit_done some; fi
  phase "dvc commit"
}
python -m bench.worklist --schedule $force --tuned "$tuned_queue" >"$queue"
phase "work list"
round "train, dynamics and tune stages"
cp "$tuned_queue" "$queue"
[ "$failed" -gt 0 ] || round "tuned cells"
if [ "$failed" -gt 0 ]; then
  echo "repro-parallel.sh: $failed workers had failed stages (named above; a cell's record says why; the leaderboard was not rebuilt)" >&2
  exit 1
fi
# --single-item: its upstream is up to date by now (the splits above, every train, dynamics, tune
# and tuned stage in the work lists or committed); `dvc repro leaderboard` would check all of it again, a line and
# about 0.4 s per stage (DVC re-reads params.yaml for each).
dvc repro ${force:+--force} --single-item leaderboard
phase "leaderboard"
cells=$(python -m bench.worklist --all | wc -l)
python -m bench.worklist --schedule --all --tuned "$tuned_queue" >/dev/null   # --all: no dvc status
tuned=$(wc -l <"$tuned_queue")
table=$(sed -n 's/^- Table version \([^ ]*\).*/\1/p' results/leaderboard/leaderboard.md)
echo "repro-parallel.sh: $cells cells and $tuned tuned cells, $to_train of them trained now; table $table" \
  "(results/leaderboard/leaderboard.md)"
