"""Values the journal keeps as text, back to the cells they stand for (dates, numbers)."""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal
from typing import Any

from ispsheets.book.schema import TABS_BY_NAME, Kind


def typed_values(tab: str, values: dict[str, Any]) -> dict[str, Any]:
    """A queued row's values (text, as the journal stored them) as the cells they stand for:
    a date column gets a date, a money column a number, "" a blank cell."""
    schema = TABS_BY_NAME.get(tab)
    if schema is None:
        return values
    typed: dict[str, Any] = {}
    for name, value in values.items():
        column = schema.by_name.get(name)
        if value == "":
            value = None
        elif column is not None and isinstance(value, str):
            with contextlib.suppress(ValueError, ArithmeticError):
                if column.kind is Kind.DATE:
                    value = dt.date.fromisoformat(value)
                elif column.kind in (Kind.MONEY, Kind.NUMBER):
                    value = Decimal(value)
        typed[name] = value
    return typed
