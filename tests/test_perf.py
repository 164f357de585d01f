"""`python -m bench.perf cell`: the suite's cell and an independent plain PyTorch loop of the same
training, side by side in one run."""

import re
import sys

from conftest import sh


def test_perf_cell_times_the_suite_against_a_plain_loop(repo):
    out = sh(sys.executable, "-m", "bench.perf", "cell", "lif", "digits", "--rounds", "1", cwd=repo)
    suite = float(re.search(r"suite \(Lightning.*?(\d+\.\d+) s\s+test top-1 (\d+\.\d+)", out).group(1))
    plain, plain_top1 = map(float, re.search(r"plain PyTorch loop\s+(\d+\.\d+) s\s+test top-1 (\d+\.\d+)", out).groups())
    ratio = float(re.search(r"suite / plain\s+(\d+\.\d+)x", out).group(1))
    assert suite > 0 and plain > 0 and abs(ratio - suite / plain) < 0.02
    assert plain_top1 > 30  # one epoch of the plain loop learns the digits too: it trains for real
    assert re.search(r"as a process \(python -m bench.train\)\s+\d+\.\d+ s", out)
