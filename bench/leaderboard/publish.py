"""All-or-nothing publishing of the leaderboard's outputs.

Every output of the stage (tables, table history, changelog, plots) lives in one folder,
results/leaderboard/. A run writes the complete new set to a staging folder *beside* results/
(never inside it, so nothing half-made is ever under results/) and then swaps it with the
published folder in one system call (Linux renameat2 RENAME_EXCHANGE). A kill at any moment
therefore leaves either the old set or the new one in place; a leftover staging folder is
removed by the next run.

Where the exchange is unavailable (not Linux, or a filesystem without it) the swap is two
renames, old -> backup then staging -> published; a kill between them leaves no published folder
but a complete backup, which the next run restores before it reads anything.
"""

import ctypes
import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _renameat2():
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return function


def exchange(a: Path, b: Path) -> bool:
    """Swaps two existing paths atomically. False if this system or filesystem cannot."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), f"{a} <-> {b}")


def _sidecars(target: Path) -> tuple[Path, Path]:
    """(staging, backup): hidden folders beside the folder that holds `target` (results/)."""
    home = target.parent.parent
    return home / f".{target.parent.name}-{target.name}.staging", home / f".{target.parent.name}-{target.name}.backup"


def recover(target: Path) -> None:
    """Undoes what a killed run left: restores a backup whose swap did not finish, removes
    leftover staging and backup folders."""
    staging, backup = _sidecars(target)
    if backup.is_dir() and not target.exists():
        os.replace(backup, target)
    for leftover in (staging, backup):
        shutil.rmtree(leftover, ignore_errors=True)


@contextmanager
def publishing(target: Path) -> Iterator[Path]:
    """Yields an empty staging folder for the complete new set; on success it becomes `target` in
    one swap, on failure it is removed and `target` stays as it was."""
    target = Path(target)
    recover(target)
    staging, backup = _sidecars(target)
    staging.mkdir(parents=True)
    try:
        yield staging
        if not target.exists():
            os.replace(staging, target)
        elif exchange(staging, target):
            pass  # staging now holds the old set
        else:
            os.replace(target, backup)
            os.replace(staging, target)
    finally:
        for leftover in (staging, backup):
            shutil.rmtree(leftover, ignore_errors=True)
