"""What the machine refused (disk full, no permission, a file it cannot read), as one
`where: what — fix` line an owner can act on, never a traceback.

A run keys every side effect in the journal before it acts, so stopping part-way loses
nothing: once the cause is fixed, the next run completes what this one started, and sends
no email twice. These lines say so.
"""

from __future__ import annotations

import errno
import sqlite3
import traceback
from pathlib import Path

from ispsheets.problems import Problem

NOTHING_LOST = ("nothing is lost: the next run completes what this one started (no email is "
                "sent twice)")
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_NO_RIGHT = (errno.EACCES, errno.EPERM, errno.EROFS)


def reason(exc: BaseException) -> str:
    """`No space left on device`, `database or disk is full`: the system's own words."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if exc.args and isinstance(exc.args[0], OSError):  # xlsxwriter's FileCreateError(OSError)
        return reason(exc.args[0])
    return str(exc) or type(exc).__name__


def remedy(exc: BaseException | str) -> str:
    """What the owner can do about it, by what the system said."""
    text = str(exc).lower()
    if (isinstance(exc, OSError) and exc.errno in _NO_SPACE) or any(
            words in text for words in ("full", "no space left", "too large")):
        return "free some disk space"
    if (isinstance(exc, OSError) and exc.errno in _NO_RIGHT) or any(
            words in text for words in ("readonly", "read-only", "permission denied")):
        return "let the user that runs ispsheets write there"
    if (isinstance(exc, OSError) and exc.errno in (errno.EEXIST, errno.ENOTDIR)) or any(
            words in text for words in ("file exists", "not a directory")):
        return "a file stands where ispsheets needs a folder: move or rename it"
    return "check the disk and the file's permissions"


def stopped_by(exc: OSError | sqlite3.Error, journal: Path) -> Problem:
    """A run stopped part-way by the disk or the journal's database."""
    if isinstance(exc, sqlite3.Error):
        where = str(journal)
        what = f"the journal could not be written ({reason(exc)}); the run stopped"
    else:
        where = str(exc.filename) if exc.filename else "ispsheets"
        what = f"could not be written ({reason(exc)}); the run stopped"
    return Problem(where, what, f"{remedy(exc)}; {NOTHING_LOST}")


def last_line(text: str) -> str:
    """The exception line at the end of a formatted traceback."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else text


def innermost(exc: BaseException) -> str:
    """`ispsheets/steps/collect.py:123` — the deepest frame of our own code."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "ispsheets" in f.filename]
    if not frames:
        return ""
    frame = frames[-1]
    path = Path(frame.filename)
    parts = path.parts[path.parts.index("ispsheets"):] if "ispsheets" in path.parts else (
        path.name,)
    return f"{'/'.join(parts)}:{frame.lineno}"
