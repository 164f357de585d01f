"""Where datasets live: `root` from the task config, else $BENCH_DATA_DIR, else `data/` in the
checkout; one folder per dataset, laid out as the upstream loader expects. Resolved when a run
starts (never at config composition), so params.yaml stays machine-independent."""

import os
from pathlib import Path


def dataset_root(folder: str, root: str | None = None) -> Path:
    base = Path(root) if root else Path(os.environ.get("BENCH_DATA_DIR", "data"))
    return base / folder
