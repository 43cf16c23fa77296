"""One run at a time: an OS lock on a file beside the journal, removed when the run ends.

The kernel drops the lock when the process dies, so a lock left by a killed run is simply
taken over; the file also names the holder so a second run can say who is busy.

The run that holds the lock deletes the file before letting go of it, so no `ispsheets.lock`
stays in the folder. A second run may have opened the file just before it was deleted and get
the lock on that deleted file once it is released: so whoever gets the lock checks that the
name still leads to the very file it locked (same device and inode), and otherwise starts
again on the new file. Two runs can therefore never both believe they hold the lock.
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
    """Hold the lock for the block, or raise AlreadyRunning (or CannotLock) at once; the file
    is gone after."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _acquire(path)
    except OSError as exc:
        raise CannotLock(path, exc) from exc
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        yield
    finally:
        try:
            path.unlink(missing_ok=True)  # while still holding it: see the module docstring
        finally:
            os.close(fd)


def _acquire(path: Path) -> int:
    """A descriptor of the file at `path`, locked by us, that `path` still names."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown process"
            os.close(fd)
            raise AlreadyRunning(path, holder) from None
        except BaseException:
            os.close(fd)
            raise
        if _same_file(fd, path):
            return fd
        os.close(fd)  # the holder removed it as we opened it: lock the file there now


def _same_file(fd: int, path: Path) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)
