"""Values the tool writes, typed by their column: numbers as numbers, dates as dates.

Rows the tool queues in the journal (a late-fee Charges row, a card Payments row) come back from
its JSON as text (`"5.00"`, `"2026-12-29"`); written as they are, an owner's `=SUM()` would leave
them out and a date filter would not see them. Every value passes through `typed_value` first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from ispsheets.book.changes import Value
from ispsheets.book.schema import TABS_BY_NAME, Column, Kind

_NUMBERS = (Kind.MONEY, Kind.NUMBER, Kind.PERCENT)


def typed_value(column: Column | None, value: object) -> Value:
    """`value` as its column's type; text that does not read as that type stays text."""
    if value is None or column is None or not isinstance(value, str):
        return value  # type: ignore[return-value]
    text = value.strip()
    if not text:
        return value
    try:
        if column.kind in _NUMBERS:
            number = Decimal(text)
            return number if number.is_finite() else value
        if column.kind is Kind.INT:
            return int(text)
        if column.kind is Kind.DATE:
            return dt.date.fromisoformat(text[:10]) if len(text) == 10 else \
                dt.datetime.fromisoformat(text).date()
        if column.kind is Kind.DATETIME:
            return dt.datetime.fromisoformat(text)
    except (InvalidOperation, ValueError):
        return value
    return value


def typed_row(tab: str, values: Mapping[str, object]) -> dict[str, Value]:
    """A row for `tab` with each value typed by the schema's column (unknown tabs and columns
    are left as they are)."""
    schema = TABS_BY_NAME.get(tab)
    by_name = schema.by_name if schema is not None else {}
    return {name: typed_value(by_name.get(name), value) for name, value in values.items()}
