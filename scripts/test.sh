#!/usr/bin/env bash
# Install (if needed) and run the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source .venv/bin/activate
# One pytest worker per core (at most 4; BENCH_TEST_WORKERS overrides, 0 runs in this process):
# the cells a test trains are single-threaded, so workers add up. worksteal balances the few long
# end-to-end tests against the many short ones.
workers=${BENCH_TEST_WORKERS:-$(( $(nproc) < 4 ? $(nproc) : 4 ))}
python -m pytest -n "$workers" --dist worksteal --durations=20 "$@"
