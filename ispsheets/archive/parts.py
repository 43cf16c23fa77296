"""A year's archive in parts: `archive/<workbook>-YYYY.xlsx` is the first, and when one of
its tabs cannot take a move's rows without passing `PART_ROWS`, the move goes on in
`<workbook>-YYYY-part2.xlsx`, then `-part3`… Rows always go to the year's last part, so
the parts follow each other in time, tab by tab. An invoice's lines stay in its part.

A year's parts are read as one workbook (`year_rows`): each row keyed over them all, as the
workbook keyed it when it moved (identical Activity rows get `#2`, `#3`… across parts too).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from ispsheets.archive.plan import keyed
from ispsheets.archive.rows import ARCHIVED_TABS, SheetRow, sheet_rows
from ispsheets.archive.values import decode
from ispsheets.book.parse import DateOrder
from ispsheets.book.reader import RawBook, read_xlsx
from ispsheets.book.schema import TABS_BY_NAME, find_tab
from ispsheets.config import Config
from ispsheets.journal import ArchivedRow

# The last sheet row a move fills in a part's tab: below the 80 % of Excel's 1,048,576 rows
# that `check` warns at for the workbook's tabs, and far from the limit, so the owner can open
# a part, sort it, filter it and add rows. Tests lower it.
PART_ROWS = 800_000


# A Google Sheet's archive files: named for no title, which the owner can change at any time
# (the files of earlier years must still be found under the same name).
SHEET_STEM = "google-sheet"


def archive_folder(config: Config) -> Path:
    """`archive/` beside the workbook file; for a Google Sheet, in the business's folder
    (beside config.yaml, the journal and backups/)."""
    if config.workbook.google_sheet:
        return config.base_dir / "archive"
    return config.workbook_path.parent / "archive"


def archive_stem(config: Config) -> str:
    """What the archive files are named after: the workbook file's name (`isp` for isp.xlsx),
    or `google-sheet`."""
    return SHEET_STEM if config.workbook.google_sheet else config.workbook_path.stem


def part_path(config: Config, year: int, part: int = 1) -> Path:
    """`archive/<workbook>-YYYY.xlsx` (part 1) or `archive/<workbook>-YYYY-partN.xlsx`."""
    stem = archive_stem(config)
    name = f"{stem}-{year}" + (f"-part{part}" if part > 1 else "")
    return archive_folder(config) / f"{name}.xlsx"


def part_of(stem: str, path: Path) -> tuple[int, int] | None:
    """(year, part) of an archive file of the workbook named `stem`; None for another file."""
    m = re.fullmatch(re.escape(stem) + r"-(\d{4})(?:-part([2-9]|[1-9]\d+))?", path.stem)
    if m is None or path.suffix != ".xlsx":
        return None
    return int(m.group(1)), int(m.group(2) or 1)


def all_parts(config: Config) -> list[tuple[int, int, Path]]:
    """(year, part, path) of every archive file, oldest year first, parts in order."""
    folder = archive_folder(config)
    if not folder.is_dir():
        return []
    stem = archive_stem(config)
    found = [(*at, path) for path in folder.glob(f"{stem}-*.xlsx")
             if (at := part_of(stem, path)) is not None]
    return sorted(found)


def year_parts(config: Config, year: int) -> list[Path]:
    """The parts of one year that exist, in order (a part the owner removed is skipped)."""
    return [path for y, _, path in all_parts(config) if y == year]


def next_part(config: Config, year: int) -> Path:
    """The part after the year's last one."""
    parts = [p for y, p, _ in all_parts(config) if y == year]
    return part_path(config, year, max(parts, default=0) + 1)


def year_rows(books: Sequence[tuple[Path, RawBook]], tab: str, order: DateOrder
              ) -> Iterator[tuple[str, Path, SheetRow]]:
    """(key, part, row) of every row of `tab` in a year's parts, keyed over them all."""
    def rows() -> Iterator[tuple[Path, SheetRow]]:
        for path, raw in books:
            for row in sheet_rows(raw, tab):
                yield path, row

    pairs = list(rows())
    for (key, _), (path, row) in zip(keyed((r for _, r in pairs), order), pairs, strict=True):
        yield key, path, row


def found_in_parts(paths: Sequence[Path], order: DateOrder
                   ) -> dict[str, dict[str, tuple[Path, SheetRow]]]:
    """tab → key → (part, row) of the rows a year's parts show."""
    books = [(path, read_xlsx(path)) for path in paths]
    return {tab: {key: (path, row) for key, path, row in year_rows(books, tab, order)}
            for tab in ARCHIVED_TABS}


def rows_used(raw: RawBook) -> dict[str, int]:
    """tab → the sheet rows it reaches (its header is row 1), of the archived tabs."""
    used = {}
    for tab in ARCHIVED_TABS:
        name = find_tab(raw.names, TABS_BY_NAME[tab])
        used[tab] = max(len(raw.sheets[name].rows), 1) if name is not None else 1
    return used


def _units(rows: Sequence[ArchivedRow]) -> list[list[int]]:
    """The rows (by index) that go to a part together: an invoice with its lines (moving
    with it), every other row alone."""
    lines: dict[str, list[int]] = {}
    invoices = {r.key for r in rows if r.tab == "Invoices"}
    for index, row in enumerate(rows):
        if row.tab == "InvoiceLines":
            number = str(decode(row.values.get("invoice_number")) or "")
            if number in invoices:
                lines.setdefault(number, []).append(index)
    units = []
    for index, row in enumerate(rows):
        if row.tab == "Invoices":
            units.append([index, *lines.get(row.key, ())])
        elif row.tab != "InvoiceLines" or \
                str(decode(row.values.get("invoice_number")) or "") not in invoices:
            units.append([index])
    return units


def split_into_parts(rows: Sequence[ArchivedRow], used: Mapping[str, int], limit: int
                     ) -> list[list[ArchivedRow]]:
    """The rows (in tab order) for the year's last part, whose tabs reach `used` rows, then
    for each new part: a part takes rows while none of its tabs passes `limit` rows; an
    invoice and its lines go together. A part holding no row takes the next unit whatever
    its size (a limit lowered below it never stops a move). The first list may be empty
    (the last part is full); the others never are."""
    chunks: list[list[int]] = [[]]
    reach = dict(used)
    for unit in _units(rows):
        adding: dict[str, int] = {}
        for index in unit:
            adding[rows[index].tab] = adding.get(rows[index].tab, 0) + 1
        fits = all(reach.get(tab, 1) + n <= limit for tab, n in adding.items())
        if not fits and any(n > 1 for n in reach.values()):
            chunks.append([])
            reach = {}
        chunks[-1].extend(unit)
        for tab, n in adding.items():
            reach[tab] = reach.get(tab, 1) + n
    return [[rows[i] for i in sorted(chunk)] for chunk in chunks]


def reach_after(used: Mapping[str, int], chunk: Sequence[ArchivedRow]) -> dict[str, int]:
    """The rows each archived tab of a part reaches once `chunk` is appended to it."""
    reach = {tab: used.get(tab, 1) for tab in ARCHIVED_TABS}
    for row in chunk:
        reach[row.tab] += 1
    return reach
