"""An owner's later edit of an archived row is ignored (the journal keeps the row as it
moved, and every figure comes from there); `check` says so, row by row."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ispsheets.archive.book import LIVE_STATES
from ispsheets.archive.parts import archive_stem, found_in_parts, part_of, year_parts
from ispsheets.archive.rows import SheetRow
from ispsheets.archive.values import decode, encode
from ispsheets.config import Config
from ispsheets.journal import ArchivedRow, Journal
from ispsheets.problems import Problem, warning

_SHOWN = 20  # rows named one by one; the rest are counted


def _same(stored: object, shown: object) -> bool:
    a, b = decode(encode(stored)), decode(encode(shown))
    if isinstance(a, dt.datetime) or isinstance(b, dt.datetime):
        return str(a)[:19].replace(" ", "T") == str(b)[:19].replace(" ", "T")
    if isinstance(a, (Decimal, int)) or isinstance(b, (Decimal, int)):
        try:
            return Decimal(str(a)) == Decimal(str(b))
        except InvalidOperation:
            return False
    return ("" if a is None else str(a).strip()) == ("" if b is None else str(b).strip())


def _changed(row: ArchivedRow, shown: SheetRow) -> list[str]:
    columns = sorted(set(row.values) | set(shown.values))
    return [c for c in columns if not _same(decode(row.values.get(c)), shown.values.get(c))]


def _as_written(config: Config, year: int, paths: list[Path], digests: dict[str, str]) -> bool:
    """Does every part of the year read as the archive last wrote it (no part missing)? Then
    no row in it can have been changed or removed, and it is not read."""
    from ispsheets.book.xlsx_backend import fingerprint

    stem = archive_stem(config)
    known = {name for name in digests if (at := part_of(stem, Path(name))) and at[0] == year}
    return known == {p.name for p in paths} and all(
        fingerprint(p) == digests[p.name] for p in paths)


def archive_edits(config: Config, journal: Journal) -> list[Problem]:
    """A warning for each archived row changed or deleted in its archive file. Only the years
    with a part that no longer reads as the archive wrote it are read (and their rows taken
    from the journal): a business with years of archive files checks in the time it takes to
    hash them."""
    problems: list[Problem] = []
    order = config.workbook.date_order
    digests = journal.archive_file_digests()
    for year in journal.archived_years():
        paths = year_parts(config, year)
        if not paths or _as_written(config, year, paths, digests):
            continue
        rows = [r for r in journal.archived(year=year)
                if r.state in LIVE_STATES and r.state != "copying"]
        found = found_in_parts(paths, order)
        where = f"archive/{paths[0].name}" + (
            f" … {paths[-1].name}" if len(paths) > 1 else "")
        for row in rows:
            at = found[row.tab].get(row.key)
            if at is None:
                message = f"{row.tab} row {row.key} is no longer there"
                cell = f"{where}: {row.tab}"
            else:
                path, shown = at
                changed = _changed(row, shown)
                if not changed:
                    continue
                message = (f"{row.tab} row {shown.row} ({row.key}) was changed after it moved "
                           f"to the archive ({', '.join(changed)})")
                cell = f"archive/{path.name}: {row.tab}!{shown.row}:{shown.row}"
            problems.append(warning(cell, message + "; the change is ignored: the journal "
                                    "keeps the row as it moved, and every figure comes from it",
                                    "to change an invoice or its payments, bring it back with "
                                    "`ispsheets archive --restore INV-…` and edit it in the "
                                    "workbook"))
    if len(problems) > _SHOWN:
        rest = len(problems) - _SHOWN
        problems = [*problems[:_SHOWN], warning("archive/", f"{rest} more archived rows were "
                                                "changed or removed; each is ignored", "")]
    return problems
