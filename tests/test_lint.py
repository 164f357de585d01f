"""The codebase passes its own lint settings (pyproject.toml [tool.ruff]): line length, pyflakes,
pycodestyle, import order, bugbear, pyupgrade."""

import subprocess
import sys

from conftest import ROOT


def test_ruff_passes():
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "bench", "tests"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
