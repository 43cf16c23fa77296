"""The archive files read back: for `recover-journal`, which rebuilds a lost journal from the
workbook *and* its archives (else it would not know what was billed and paid in them)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ispsheets.archive.parts import all_parts, year_rows
from ispsheets.archive.rows import ARCHIVED_TABS, sheet_rows
from ispsheets.archive.values import encode_row
from ispsheets.book import parse
from ispsheets.book.reader import RawBook, RawSheet, read_xlsx
from ispsheets.book.schema import TABS_BY_NAME, find_tab, normalise_header
from ispsheets.config import Config
from ispsheets.journal import ArchivedRow, Journal


def archive_files(config: Config) -> list[tuple[int, Path]]:
    """(year, path) of each `archive/<workbook>-YYYY.xlsx` and its parts
    (`<workbook>-YYYY-partN.xlsx`), oldest year first, a year's parts in order."""
    return [(year, path) for year, _, path in all_parts(config)]


def with_archive_files(raw: RawBook, config: Config) -> RawBook:
    """The workbook's rows with the archive files' rows below them (mapped to its headers)."""
    files = [read_xlsx(path) for _, path in archive_files(config)]
    if not files:
        return raw
    sheets = dict(raw.sheets)
    for tab_name in ARCHIVED_TABS:
        name = find_tab(raw.names, TABS_BY_NAME[tab_name])
        if name is None:
            continue
        sheet = raw.sheets[name]
        header = [normalise_header(parse.parse_text(h)) if not parse.is_blank(h) else ""
                  for h in sheet.header]
        rows = list(sheet.rows)
        for archive in files:
            for row in sheet_rows(archive, tab_name):
                values = {normalise_header(k): v for k, v in row.values.items()}
                rows.append([values.get(h) if h else None for h in header])
        sheets[name] = RawSheet(name, rows)
    return RawBook(sheets)


def record_archive_files(config: Config, journal: Journal, now: dt.datetime) -> int:
    """Key every row of the archive files as archived (`removed`); returns how many. A year's
    parts are keyed as one (as the move keyed them)."""
    order = config.workbook.date_order
    by_year: dict[int, list[Path]] = {}
    for year, path in archive_files(config):
        by_year.setdefault(year, []).append(path)
    rows = []
    for year, paths in sorted(by_year.items()):
        books = [(path, read_xlsx(path)) for path in paths]
        rows += [ArchivedRow(tab, key, year, encode_row(row.values), "removed")
                 for tab in ARCHIVED_TABS for key, _, row in year_rows(books, tab, order)]
    journal.begin_archive(rows, now)
    journal.set_archive_state([(r.tab, r.key) for r in rows], "removed", now)
    return len(rows)
