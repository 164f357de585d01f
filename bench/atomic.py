"""Atomic writes: a file or folder appears complete or not at all, so a crash, a kill or a full
disk never leaves a half-written split, cache entry, record or table for a reader to pick up."""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yields a temporary path beside `path` (same folder, same suffix, unique per process) for
    the caller to write a file or a folder to; on success it replaces `path` by one rename (an
    existing folder is removed first), on failure it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    _remove(staging)
    try:
        yield staging
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(staging, path)
    finally:
        _remove(staging)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as staging:
        staging.write_text(text, encoding="utf-8")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
