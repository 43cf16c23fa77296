"""Excel's row limit, and a Google Sheet's cell limit, are never reached: a warning, with the
fix, well before them."""

from __future__ import annotations

from ispsheets.book.reader import RawBook
from ispsheets.book.xlsx_sheet import MAX_ROWS
from ispsheets.problems import Problem, warning

FULL_SHARE = 0.8  # warn when a tab passes this share of Excel's rows (a sheet: of its cells)
SHEET_CELLS = 10_000_000  # Google's limit for one spreadsheet, blank cells of the grids included


def _fix(months: int) -> str:
    return (f"lower workbook.archive_after_months in config.yaml (now {months}) so older "
            "settled rows move to archive/" if months else
            "set workbook.archive_after_months in config.yaml (3 for a big business) so "
            "settled rows move to archive/")


def row_limit_warnings(raw: RawBook, months: int, *, read_all: bool = True) -> list[Problem]:
    """A warning for each tab past 80 % of Excel's 1,048,576 rows, with the fix. A daily run
    passes `read_all=False`: it looks only at the tabs it has read anyway (loading a long
    Activity tab just to count it would cost every run; `check` counts them all)."""
    problems = []
    for name, sheet in raw.sheets.items():
        if not sheet.loaded and (not read_all or name not in (
                "Activity", "Invoices", "InvoiceLines", "Payments", "Charges")):
            continue
        rows = len(sheet.rows)
        if rows > FULL_SHARE * MAX_ROWS:
            problems.append(warning(name, f"holds {rows:,} rows, {rows / MAX_ROWS:.0%} of the "
                                    f"{MAX_ROWS:,} an Excel tab can hold", _fix(months)))
    return problems


def cell_limit_warnings(where: str, cells: int | None, months: int) -> list[Problem]:
    """A warning when a Google Sheet's grids pass 80 % of Google's 10,000,000 cells (None:
    not a Google Sheet)."""
    if cells is None or cells <= FULL_SHARE * SHEET_CELLS:
        return []
    return [warning(where, f"holds {cells:,} cells, {cells / SHEET_CELLS:.0%} of the "
                    f"{SHEET_CELLS:,} a Google Sheet can hold (blank cells of each tab's grid "
                    "count too)", _fix(months) + ", and delete the blank rows and columns at "
                    "the end of each tab")]
