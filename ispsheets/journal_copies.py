"""A copy of the journal beside the newest workbook backups, so both can be put back together.

The copy is taken right after the write that made the workbook backup, so it knows everything
the workbook then holds: `backups/isp-20261203-060000.xlsx` (the workbook before that write)
sits beside `backups/isp-20261203-060000.ispsheets.db` (the journal after it).

How: every write is folded into the journal's file, a read transaction pins that file
(`Journal.pinned_file`: the run's later writes wait in the write-ahead log meanwhile), and a
thread copies its bytes while the run goes on (waits for its report, archives); the run waits
for the copy before it closes the journal. When the file cannot be pinned the copy is made at
once with SQLite's backup API.

The copy due to be pruned is not deleted but brought up to date (`chunk_copy`): the journal is
read and hashed whole, and only the chunks that changed since that copy are written (a few
percent of a big journal on an ordinary day, where a new file meant writing all of it). This
happens only while another copy stays intact meanwhile (`journal_copies` of 2 or more).

Only the newest `workbook.journal_copies` copies are kept (each is as large as the journal:
ten of them were ten times the journal on disk); a copy whose workbook backup was pruned
(`workbook.backups`) is deleted with it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from ispsheets import chunk_copy
from ispsheets.journal import Journal
from ispsheets.problems import Problem, warning

Finish = Callable[[], Problem | None]


def copy_name(workbook_backup: Path, journal_name: str) -> Path:
    return workbook_backup.with_name(f"{workbook_backup.stem}.{journal_name}")


def _temp(target: Path) -> Path:
    return target.with_name(f".{target.name}.tmp")


def _failed(target: Path, exc: BaseException) -> Problem:
    _temp(target).unlink(missing_ok=True)
    return warning(str(target.parent), f"the journal could not be copied beside the "
                   f"workbook backup ({exc})", "check free disk space; the journal itself "
                   "is fine and the next run copies it again")


def keep_journal_copy(journal: Journal, workbook_backup: Path, keep: int) -> Problem | None:
    """Copy the journal beside `workbook_backup` now and prune the copies (see
    `start_journal_copy`)."""
    return start_journal_copy(journal, workbook_backup, keep)()


def start_journal_copy(journal: Journal, workbook_backup: Path, keep: int) -> Finish:
    """Start copying the journal beside `workbook_backup`; call what is returned (before the
    journal is closed) to wait for the copy, prune the copies to the newest `keep` and learn
    whether it failed. `keep` 0: no copy is made (those there are left alone)."""
    if keep <= 0:
        return lambda: None
    target = copy_name(workbook_backup, journal.path.name)
    try:
        pin = journal.pinned_file()
    except sqlite3.Error as exc:
        problem = _failed(target, exc)
        return lambda: problem
    if pin is None:
        try:
            journal.backup_to(target)
        except (OSError, sqlite3.Error) as exc:
            problem = _failed(target, exc)
            return lambda: problem
        return lambda: _pruned(workbook_backup.parent, journal.path.name, keep)
    failure: list[BaseException] = []
    reuse = _reusable(workbook_backup.parent, journal.path.name, keep)
    thread = threading.Thread(target=_copy_file, args=(journal.path, target, failure, reuse),
                              name="journal-copy", daemon=True)
    thread.start()

    def finish() -> Problem | None:
        thread.join()
        pin.close()
        if failure:
            return _failed(target, failure[0])
        return _pruned(workbook_backup.parent, journal.path.name, keep)

    return finish


def _pruned(folder: Path, journal_name: str, keep: int) -> None:
    with contextlib.suppress(OSError):  # the next run prunes again
        prune_journal_copies(folder, journal_name, keep)
    return None


def _copy_file(source: Path, target: Path, failure: list[BaseException],
               reuse: Path | None = None) -> None:
    """The file's bytes into `target` (through a temporary file, synced, then renamed), in
    place of the copy `reuse` (due to be pruned) when its chunk digests still describe it."""
    temp = _temp(target)
    try:
        temp.unlink(missing_ok=True)
        old = chunk_copy.recorded(reuse) if reuse is not None else None
        if reuse is not None and old is not None:
            chunk_copy.forget(reuse)  # a half-patched file must never look recorded
            os.replace(reuse, temp)
        copied = chunk_copy.copy_file(source, temp, old)
        os.replace(temp, target)
        chunk_copy.record(target, copied.digests)
    except OSError as exc:
        failure.append(exc)


def _reusable(folder: Path, journal_name: str, keep: int) -> Path | None:
    """The newest copy that pruning would delete once the next copy is there (its workbook
    backup gone, or past the newest `keep`), if it has chunk digests and another copy stays
    whole while it is rewritten."""
    try:
        copies, backups = _copies(folder, journal_name)
    except OSError:
        return None
    staying = _kept(copies, backups, keep - 1)  # none when `keep` is 1
    if not staying:
        return None
    for _, _, item in reversed(copies):
        if item not in staying and chunk_copy.digests_path(item).is_file():
            return item
    return None


def _kept(copies: list[tuple[tuple[str, int], str, Path]], backups: set[str],
          keep: int | None) -> set[Path]:
    """The copies pruning keeps: the newest `keep` (None: all) whose workbook backup is
    there."""
    newest = copies[max(len(copies) - keep, 0):] if keep is not None else copies
    return {item for _, stem, item in newest if stem in backups}


def _copies(folder: Path, journal_name: str
            ) -> tuple[list[tuple[tuple[str, int], str, Path]], set[str]]:
    """The journal copies in `folder`, oldest first, as (order, backup stem, path) (a killed
    run's half-made copy with the stem ""), and the stems of the workbook backups there."""
    pattern = re.compile(r"(.+-(\d{8}-\d{6})(?:-(\d+))?)\." + re.escape(journal_name) + "$")
    backups = {p.stem for p in folder.iterdir() if p.suffix.lower().startswith(".xls")}
    copies = []
    for item in folder.iterdir():
        found = pattern.match(item.name)
        if found:
            copies.append(((found.group(2), int(found.group(3) or 1)), found.group(1), item))
        elif item.name.startswith(".") and pattern.match(item.name[1:].removesuffix(".tmp")) \
                and item.name.endswith(".tmp"):
            copies.append((("", 0), "", item))  # no backup has the stem "": deleted
    copies.sort()
    return copies, backups


def prune_journal_copies(folder: Path, journal_name: str, keep: int | None = None) -> list[Path]:
    """Delete the journal copies whose workbook backup (same name, another suffix) is gone,
    and all but the newest `keep` (None: no limit); and the half-made copy of a run killed
    while it copied (as large as the journal); and the chunk digests of copies gone."""
    copies, backups = _copies(folder, journal_name)
    kept = _kept(copies, backups, keep)
    removed = []
    for _, _, item in copies:
        if item not in kept:
            with contextlib.suppress(OSError):
                item.unlink()
                removed.append(item)
    suffix = "." + journal_name + ".chunks"
    for item in folder.iterdir():
        name = item.name.removesuffix(".tmp")
        if name.startswith(".") and name.endswith(suffix) \
                and not (folder / name[1:].removesuffix(".chunks")).is_file():
            with contextlib.suppress(OSError):
                item.unlink()
    return removed
