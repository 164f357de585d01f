"""Atomic writes: a file or folder appears complete or not at all, so a crash, a kill or a full
disk never leaves a half-written split, cache entry, record or table for a reader to pick up."""

import ctypes
import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yields a temporary path beside `path` (same folder, same suffix, unique per process) for
    the caller to write a file or a folder to; on success it takes `path`'s place in one step
    (a file by rename, a folder by an exchange with the old one, see _replace_folder), on failure
    it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _restore_set_aside(path)
    staging = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    _remove(staging)
    try:
        yield staging
        if path.is_dir() and not path.is_symlink():
            _replace_folder(staging, path)
        else:
            os.replace(staging, path)
    finally:
        _remove(staging)


def _replace_folder(staging: Path, path: Path) -> None:
    """A folder cannot be renamed over a non-empty one. Linux swaps the two in one step
    (renameat2 RENAME_EXCHANGE); elsewhere the old folder is set aside first, and a kill between
    the two renames leaves it set aside, for the next write of `path` to restore."""
    if _exchange(staging, path):
        return  # staging now holds the old folder; the caller removes it
    aside = path.with_name(f".{path.stem}.{os.getpid()}.old{path.suffix}")
    os.replace(path, aside)
    os.replace(staging, path)
    _remove(aside)


def _restore_set_aside(path: Path) -> None:
    if not path.exists():
        for aside in sorted(path.parent.glob(f".{path.stem}.*.old{path.suffix}")):
            os.replace(aside, path)
            return


def _exchange(a: Path, b: Path) -> bool:
    """Swaps two paths atomically (Linux renameat2 with RENAME_EXCHANGE); False where the C
    library, the kernel or the file system lacks it."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    at_cwd, rename_exchange = -100, 2
    if renameat2(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as staging:
        staging.write_text(text, encoding="utf-8")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
