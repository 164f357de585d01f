#!/usr/bin/env bash
# Install (if needed) and run the benchmark pipeline on the committed profile: every cell whose
# code, config or data changed is (re-)trained, then the leaderboard is rebuilt.
# Extra arguments go to `dvc repro` (e.g. a stage name such as train@qif-digits-0).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source .venv/bin/activate
dvc repro "$@"
echo
echo "leaderboard: results/leaderboard/leaderboard.md (also .html, .tex, .csv; figures in results/leaderboard/plots/; cite with python -m bench.cite)"
