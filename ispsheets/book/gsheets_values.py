"""Cell values between the Sheets API's JSON and the tool's raw values, both ways.

Read: Sheets hands over numbers, text and booleans, dates as serial numbers (days since
1899-12-30, the same count as Excel's). In the schema's date columns a serial becomes the
`date` (or `datetime`, with a time of day) calamine gives for an `.xlsx` date cell, whole
numbers become `int` and error values become "", so the records, the checks and the `Tab!Cell`
problems are the same as for the `.xlsx` file.
Write: dates become serial numbers (the column's date format shows them as dates), money a
number, text stays text (written RAW, so `=IMPORTXML(...)` in a client's name is never a formula).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ispsheets.book.changes import Value
from ispsheets.book.parse import EXCEL_EPOCH, FIRST_SERIAL_DATE, LAST_SERIAL_DATE
from ispsheets.book.reader import Rows, tidy
from ispsheets.book.schema import TABS, Kind, Tab, normalise_header

ERROR_VALUES = frozenset({"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!",
                          "#ERROR!", "#SPILL!", "#CALC!"})
_FIRST = (FIRST_SERIAL_DATE - EXCEL_EPOCH).days
_LAST = (LAST_SERIAL_DATE - EXCEL_EPOCH).days + 1
_MIDNIGHT = dt.datetime.combine(EXCEL_EPOCH, dt.time())

# Number formats the tool gives the cells it writes (Sheets' NumberFormat objects).
NUMBER_FORMATS: Mapping[Kind, dict[str, str]] = {
    Kind.DATE: {"type": "DATE", "pattern": "yyyy-mm-dd"},
    Kind.DATETIME: {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm"},
    Kind.MONEY: {"type": "NUMBER", "pattern": "#,##0.00"},
    Kind.PERCENT: {"type": "NUMBER", "pattern": '0.00"%"'},
    Kind.INT: {"type": "NUMBER", "pattern": "0"},
    Kind.KEY: {"type": "TEXT", "pattern": "@"},
    Kind.TEXT: {"type": "TEXT", "pattern": "@"},
    Kind.EMAILS: {"type": "TEXT", "pattern": "@"},
}


def schema_tab(name: str) -> Tab | None:
    wanted = normalise_header(name)
    return next((t for t in TABS if normalise_header(t.name) == wanted), None)


def column_kinds(tab_name: str, header: list[object]) -> dict[int, Kind]:
    """Column index → kind, for the schema's columns the header names."""
    tab = schema_tab(tab_name)
    if tab is None:
        return {}
    kinds = {normalise_header(c.name): c.kind for c in tab.columns}
    return {i: kinds[normalise_header(h)] for i, h in enumerate(header)
            if normalise_header(h) in kinds}


def from_serial(value: float | int) -> dt.date | dt.datetime:
    """A serial number as calamine gives a date cell: `date` when whole, else `datetime`."""
    if float(value).is_integer():
        return EXCEL_EPOCH + dt.timedelta(days=int(value))
    return _MIDNIGHT + dt.timedelta(seconds=round(float(value) * 86400))


def to_serial(value: dt.date | dt.datetime) -> int | float:
    if isinstance(value, dt.datetime):
        delta = value.replace(tzinfo=None) - _MIDNIGHT
        return delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400
    return (value - EXCEL_EPOCH).days


def read_rows(tab_name: str, values: list[list[Any]], header: list[object] | None = None
              ) -> Rows:
    """A value range (from A1) as the book's raw rows, as calamine gives them: rectangular,
    blanks "", numbers tidied, errors blank, serials in the schema's date columns as dates.
    `header` (row 1) names the columns when `values` does not start at row 1."""
    width = max((len(row) for row in values), default=0)
    rows: Rows = [[("" if type(v) is str and v in ERROR_VALUES else v) for v in row]
                  + [""] * (width - len(row)) for row in values]
    rows = tidy(rows)
    first = header if header is not None else (rows[0] if rows else [])
    dates = {i for i, k in column_kinds(tab_name, first).items()
             if k in (Kind.DATE, Kind.DATETIME)}
    if dates:
        for row in rows[0 if header is not None else 1:]:
            for i in dates:
                if i < len(row):
                    v = row[i]
                    if type(v) in (int, float) and _FIRST <= v < _LAST:
                        row[i] = from_serial(v)  # type: ignore[arg-type]
    return rows


def to_json(value: Value) -> Any:
    """A change-set value as a JSON value for a RAW write ("" clears the cell)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return value
    if isinstance(value, (dt.date, dt.datetime)):
        return to_serial(value)
    if isinstance(value, Decimal):
        number = float(value)
        return int(number) if number.is_integer() and abs(number) < 1e15 else number
    return value
