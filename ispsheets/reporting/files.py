"""The report files in `reports/`: their names, and which old ones go. Apart from the writer
(`reporting.workbook`, which imports pandas and xlsxwriter: half a second), so that a run whose
report a forked child writes never loads them itself."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable
from pathlib import Path


def report_path(folder: Path, as_of: dt.date) -> Path:
    return folder / f"ispsheets-report-{as_of.isoformat()}.xlsx"


_REPORT_NAME = re.compile(r"^ispsheets-report-(\d{4}-\d{2}-\d{2})\.xlsx$")


def reports_to_prune(names: Iterable[str], keep: int, written: str = "") -> list[str]:
    """Daily reports past the newest `keep` (0 keeps all), except each month's last one and
    the one just `written`; other files are never named."""
    days = sorted((m[1], name) for name in names if (m := _REPORT_NAME.match(name)))
    if keep <= 0 or len(days) <= keep:
        return []
    month_last = {day[:7]: name for day, name in days}  # sorted: the last one of a month wins
    kept = {name for _, name in days[-keep:]} | set(month_last.values()) | {written}
    return [name for _, name in days if name not in kept]


# what a report's writer (`reporting.workbook`, `reporting.bulk`) writes before its atomic rename
_UNFINISHED = re.compile(r"^\.(?:report|bulk)-[^/]*\.xlsx$")
LEFT_FOR = 3600  # seconds: an unfinished report file older than this was left by a dead run


def left_behind(files: Iterable[tuple[str, float]], now: float) -> list[str]:
    """The unfinished report files (name, modified) a killed run left: the writer's temporary
    files, untouched for `LEFT_FOR` seconds (runs take the lock, so none is being written)."""
    return [name for name, modified in files
            if _UNFINISHED.match(name) and now - modified > LEFT_FOR]


def prune_reports(folder: Path, keep: int, written: Path) -> None:
    """Delete the daily reports `reports_to_prune` names, in `folder`, and the unfinished
    report files a killed run left there (`left_behind`)."""
    paths = list(folder.iterdir())
    for name in reports_to_prune((p.name for p in paths), keep, written.name):
        (folder / name).unlink(missing_ok=True)
    files = []
    for path in paths:
        if _UNFINISHED.match(path.name):
            try:
                files.append((path.name, path.stat().st_mtime))
            except OSError:  # gone meanwhile
                continue
    for name in left_behind(files, time.time()):
        (folder / name).unlink(missing_ok=True)
