"""Is the journal exactly as the last command that closed it left it? Then its page check
need not read every page again.

`PRAGMA quick_check` reads the whole file (about 0.3 s per 100 MB: 4 s at 20,000 clients with a
year, more each year). A command that opened the journal through `journal_guard` (its check
passed, or was skipped as below) writes, once it has closed it, a seal beside it,
`ispsheets.db.checked`: the file's size, modification and change times (nanoseconds), inode and
first 100 bytes (SQLite's header: page count, change counter, schema cookie). The next open
skips the check only when all of these are the same, there is no unfolded write-ahead log
(`ispsheets.db-wal` with something in it), and the last full check is under a week old.

Anything else that touched the file (a copy put back, an editor, a disk tool, truncation, any
write: even one that sets the modification time back changes the change time) makes the next
open check every page again. The seal is removed when a journal is opened, so a run killed or
stopped half-way leaves none. What it cannot see is damage that changes no file metadata (a
failing disk); SQLite still refuses such pages when a command reads them, and the full check
runs at least once a week.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

SUFFIX = ".checked"
HEADER_BYTES = 100
FULL_CHECK_EVERY_S = 7 * 24 * 3600


@dataclass(frozen=True)
class Seal:
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    header: str  # hex of the first HEADER_BYTES
    checked_at: float  # wall clock (time.time()) of the last full quick_check


def seal_path(path: Path) -> Path:
    return path.with_name(path.name + SUFFIX)


def observe(path: Path, checked_at: float) -> Seal | None:
    """The journal file as it is now (None: it cannot be read)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(HEADER_BYTES)
            stat = os.fstat(handle.fileno())
    except OSError:
        return None
    return Seal(stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, header.hex(),
                checked_at)


def _unfolded_log(path: Path) -> bool:
    try:
        return path.with_name(path.name + "-wal").stat().st_size > 0
    except FileNotFoundError:
        return False
    except OSError:
        return True


def _read(path: Path) -> Seal | None:
    try:
        return Seal(**json.loads(seal_path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def still_sealed(path: Path, now: float) -> float | None:
    """When the journal's pages were last fully checked, if it is still exactly as the seal
    says and that was under FULL_CHECK_EVERY_S ago; None: check it now."""
    seal = _read(path)
    if seal is None or _unfolded_log(path) or not 0 <= now - seal.checked_at < \
            FULL_CHECK_EVERY_S:
        return None
    if observe(path, seal.checked_at) != seal:
        return None
    return seal.checked_at


def unseal(path: Path) -> None:
    with contextlib.suppress(OSError):
        seal_path(path).unlink(missing_ok=True)


def write_seal(path: Path, checked_at: float) -> None:
    """Seal the journal as it is now (after its last connection closed). A seal that cannot be
    written only means the next open checks every page."""
    seal = observe(path, checked_at)
    if seal is None or _unfolded_log(path):
        return
    target = seal_path(path)
    temp = target.with_name(f".{target.name}.tmp")
    with contextlib.suppress(OSError):
        temp.write_text(json.dumps(asdict(seal)), encoding="utf-8")
        os.replace(temp, target)
