import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def in_repo(monkeypatch):
    """Run with the repository root as working directory (params.yaml, data/prepared)."""
    monkeypatch.chdir(ROOT)
    return ROOT


def pytest_configure(config):
    # Deterministic and quiet on small CPUs.
    os.environ.setdefault("PYTHONHASHSEED", "0")
