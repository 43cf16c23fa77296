"""One run at a time: an OS lock on a file beside the journal.

The kernel drops the lock when the process dies, so a lock left by a killed run is simply
taken over; the file also names the holder so a second run can say who is busy.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class AlreadyRunning(Exception):
    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path}: another ispsheets run is working on this workbook ({holder})")
        self.path, self.holder = path, holder


class CannotLock(Exception):
    """The lock file cannot be made (no permission, disk full): nothing was done."""

    def __init__(self, path: Path, error: OSError) -> None:
        super().__init__(f"{path}: {error.strerror or error}")
        self.path, self.error = path, error


@contextmanager
def run_lock(path: Path) -> Iterator[None]:
    """Hold the lock for the block, or raise AlreadyRunning (or CannotLock) at once."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise CannotLock(path, exc) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown process"
            raise AlreadyRunning(path, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        yield
    finally:
        os.close(fd)
