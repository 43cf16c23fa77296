"""Read every tab of a workbook in one pass, exactly as laid out (row 1 = header row)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from python_calamine import CalamineWorkbook, SheetTypeEnum


@dataclass(frozen=True)
class RawSheet:
    """One tab's cells as raw values; `rows[0]` is sheet row 1, column A is index 0.

    Blank rows and blank leading columns are kept, so a row's index + 1 is its sheet row.
    """

    name: str
    rows: list[list[object]] = field(hash=False, compare=False)

    @property
    def header(self) -> list[object]:
        return self.rows[0] if self.rows else []


@dataclass(frozen=True)
class RawBook:
    """All tabs of a workbook, in workbook order."""

    sheets: dict[str, RawSheet] = field(hash=False, compare=False)

    @property
    def names(self) -> list[str]:
        return list(self.sheets)


def _cell(value: object) -> object:
    """A whole number comes back as `int` (calamine gives every number as a float)."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def raw_sheet(name: str, rows: list[list[object]]) -> RawSheet:
    """A tab from calamine's rows: numbers tidied, trailing blank rows dropped."""
    while rows and all(v is None or v == "" for v in rows[-1]):
        rows.pop()
    return RawSheet(name, [[_cell(v) for v in row] for row in rows])


def read_xlsx(path: Path) -> RawBook:
    """Every worksheet through calamine, as typed cells with no guessing: text stays text
    (`00123` stays `00123`), dates are `date`/`datetime`, formulas give their cached value,
    blank and error cells give ""."""
    book = CalamineWorkbook.from_path(str(path))
    sheets = {}
    for meta in book.sheets_metadata:
        if meta.typ != SheetTypeEnum.WorkSheet:
            continue  # chart and macro sheets hold no rows
        rows = book.get_sheet_by_name(meta.name).to_python(skip_empty_area=False)
        sheets[meta.name] = raw_sheet(meta.name, rows)
    return RawBook(sheets)
