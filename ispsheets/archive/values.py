"""Cell values as the journal keeps them for archived rows: JSON-safe, types kept."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ispsheets.book import parse
from ispsheets.book.changes import Value


def encode(value: object) -> Any:
    """A raw cell (calamine's types, or a record's) as JSON: dates and amounts tagged."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    if isinstance(value, float):
        return {"n": str(parse.float_decimal(value))}
    if isinstance(value, Decimal):
        return {"n": str(value)}
    if isinstance(value, int):
        return value
    return str(value)


def decode(value: Any) -> Value:
    if isinstance(value, dict):
        if "t" in value:
            return dt.datetime.fromisoformat(value["t"])
        if "d" in value:
            return dt.date.fromisoformat(value["d"])
        return Decimal(value["n"])
    return value  # type: ignore[no-any-return]


def encode_row(values: Mapping[str, object]) -> dict[str, Any]:
    return {name: encode(value) for name, value in values.items() if encode(value) is not None}


def decode_row(values: Mapping[str, Any]) -> dict[str, Value]:
    return {name: decode(value) for name, value in values.items()}
