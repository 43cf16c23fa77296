"""A copy of the journal beside every workbook backup, so both can be put back together.

The copy is taken (with SQLite's backup API, consistent even while the journal is open) right
after the write that made the workbook backup, so it knows everything the workbook then holds:
`backups/isp-20261203-060000.xlsx` (the workbook before that write) sits beside
`backups/isp-20261203-060000.ispsheets.db` (the journal after it). A copy whose workbook backup
was pruned (`workbook.backups`) is deleted with it.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from pathlib import Path

from ispsheets.journal import Journal
from ispsheets.problems import Problem, warning


def copy_name(workbook_backup: Path, journal_name: str) -> Path:
    return workbook_backup.with_name(f"{workbook_backup.stem}.{journal_name}")


def keep_journal_copy(journal: Journal, workbook_backup: Path) -> Problem | None:
    """Copy the journal beside `workbook_backup` and drop copies whose backup is gone."""
    target = copy_name(workbook_backup, journal.path.name)
    try:
        journal.backup_to(target)
    except (OSError, sqlite3.Error) as exc:
        target.with_name(f".{target.name}.tmp").unlink(missing_ok=True)
        return warning(str(target.parent), f"the journal could not be copied beside the "
                       f"workbook backup ({exc})", "check free disk space; the journal itself "
                       "is fine and the next run copies it again")
    prune_journal_copies(workbook_backup.parent, journal.path.name)
    return None


def prune_journal_copies(folder: Path, journal_name: str) -> list[Path]:
    """Delete the journal copies whose workbook backup (same name, another suffix) is gone."""
    pattern = re.compile(r"(.+-\d{8}-\d{6}(?:-\d+)?)\." + re.escape(journal_name) + "$")
    backups = {p.stem for p in folder.iterdir() if p.suffix.lower().startswith(".xls")}
    removed = []
    for item in folder.iterdir():
        found = pattern.match(item.name)
        if found and found.group(1) not in backups:
            with contextlib.suppress(OSError):
                item.unlink()
                removed.append(item)
    return removed
