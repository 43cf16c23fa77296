"""Excel's row limit is never reached: a warning, with the fix, well before it."""

from __future__ import annotations

from ispsheets.book.reader import RawBook
from ispsheets.book.xlsx_sheet import MAX_ROWS
from ispsheets.problems import Problem, warning

FULL_SHARE = 0.8  # warn when a tab passes this share of Excel's rows


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
            fix = (f"lower workbook.archive_after_months in config.yaml (now {months}) so "
                   "older settled rows move to archive/" if months else
                   "set workbook.archive_after_months in config.yaml (3 for a big business) so "
                   "settled rows move to archive/")
            problems.append(warning(name, f"holds {rows:,} rows, {rows / MAX_ROWS:.0%} of the "
                                    f"{MAX_ROWS:,} an Excel tab can hold", fix))
    return problems
