#!/usr/bin/env bash
# Install (if needed) and run the benchmark pipeline on the committed profile: every cell whose
# code, config or data changed is (re-)trained, then the leaderboard is rebuilt.
# Without arguments (or with -f: every cell again, a timing run) the cells train on every core,
# one cell per core (scripts/repro-parallel.sh); other arguments go to `dvc repro` (e.g. a stage
# name such as train@qif-randman-0).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source .venv/bin/activate
if [ $# -eq 0 ]; then
    bash scripts/repro-parallel.sh "$(nproc)"
elif [ "$*" = "-f" ]; then
    bash scripts/repro-parallel.sh --force "$(nproc)"
else
    dvc repro "$@"
fi
echo
echo "leaderboard: results/leaderboard/leaderboard.md (also .html, .tex, .csv; figures in results/leaderboard/plots/; cite with python -m bench.cite)"
