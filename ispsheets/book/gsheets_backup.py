"""Before a write to a Google Sheet, the tabs whose cells it changes are kept as a dated
`.xlsx` backup.

The values are the ones the run read (what the owner had); the same retention as the `.xlsx`
workbook's backups (`workbook.backups`, newest kept). Tabs the write only appends rows to
(InvoiceLines, Activity) are left out: nothing in them is overwritten. Writing it costs about
a second for 2,000 clients (xlsxwriter, cell by cell).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from pathlib import Path

import xlsxwriter

from ispsheets.book.changes import WorkbookWriteError
from ispsheets.book.reader import RawSheet
from ispsheets.book.xlsx_backend import TEMP_SUFFIX, prune_backups


def backup_stem(title: str) -> str:
    """A file-name-safe stem from the spreadsheet's title."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", title).strip("-.") or "google-sheet"


def write_backup(sheets: list[RawSheet], backup_dir: Path, stem: str, keep: int,
                 now: dt.datetime, name: str) -> Path | None:
    """`<stem>-YYYYMMDD-HHMMSS.xlsx` holding `sheets` as read; older backups pruned."""
    if keep <= 0 or not sheets:
        return None
    temp: Path | None = None
    try:
        backup_dir.mkdir(parents=True, exist_ok=True)
        base = f"{stem}-{now:%Y%m%d-%H%M%S}"
        target = backup_dir / f"{base}.xlsx"
        number = 1
        while target.exists():
            number += 1
            target = backup_dir / f"{base}-{number}.xlsx"
        fd, temp_name = tempfile.mkstemp(dir=backup_dir, prefix=f".{target.name}.",
                                         suffix=TEMP_SUFFIX)
        os.close(fd)
        temp = Path(temp_name)
        _write(temp, sheets)
        os.replace(temp, target)
        temp = None
    except OSError as exc:
        raise WorkbookWriteError(name, f"could not be backed up into {backup_dir} "
                                 f"({exc.strerror or exc})",
                                 "make that folder writable (or set workbook.backups to 0); "
                                 "the next run writes everything") from exc
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)
    prune_backups(backup_dir, stem, keep)
    return target


def _write(path: Path, sheets: list[RawSheet]) -> None:
    book = xlsxwriter.Workbook(str(path), {
        "constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
        "strings_to_urls": False})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    moment = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for sheet in sheets:
        out = book.add_worksheet(sheet.name[:31])
        for r, row in enumerate(sheet.rows):
            for c, value in enumerate(row):
                if value is None or value == "":
                    continue
                if isinstance(value, dt.datetime):
                    out.write_datetime(r, c, value, moment)
                elif isinstance(value, dt.date):
                    out.write_datetime(r, c, dt.datetime.combine(value, dt.time()), day)
                elif isinstance(value, str):
                    out.write_string(r, c, value)
                elif isinstance(value, bool):
                    out.write_boolean(r, c, value)
                elif isinstance(value, (int, float)):
                    out.write_number(r, c, value)
                else:
                    out.write_string(r, c, str(value))
    book.close()
