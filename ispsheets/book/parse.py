"""Cell parsers: one raw spreadsheet value in, a typed value or an `Invalid` (what + fix) out.

A raw value is what pandas/calamine (or the Google Sheets API) hands over: `None`/"" for blank,
str, int, float, bool, `datetime`, `date`, `time` or `timedelta`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

DateOrder = Literal["MDY", "DMY", "YMD"]

EXCEL_EPOCH = dt.date(1899, 12, 30)


@dataclass(frozen=True)
class Invalid:
    """Why a cell could not be read, and how the owner fixes it."""

    message: str
    fix: str


def is_blank(raw: object) -> bool:
    if raw is None:
        return True
    if isinstance(raw, float) and math.isnan(raw):
        return True
    return isinstance(raw, str) and not raw.strip()


def _shown(raw: object) -> str:
    text = str(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_text(raw: object) -> str:
    """Any cell as trimmed text; whole numbers lose the `.0` a float gives them."""
    if is_blank(raw):
        return ""
    if isinstance(raw, bool):
        return "yes" if raw else "no"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, dt.datetime):
        return raw.isoformat(sep=" ", timespec="seconds") if raw.time() else raw.date().isoformat()
    return str(raw).strip()


def parse_key(raw: object) -> str | Invalid:
    """Identifiers stay exactly as typed (`00123` is not 123)."""
    text = parse_text(raw)
    if isinstance(raw, float) and not raw.is_integer():
        return Invalid(f"{_shown(raw)!r} is a decimal number, not an id",
                       "type the id as text, e.g. C001")
    return text


_MONEY_JUNK = re.compile(r"[\s$€£¥₹₦₱,']|R\$|KSh|CHF|kr|zł|USD|EUR|GBP|CAD|AUD", re.IGNORECASE)


def parse_decimal(raw: object, what: str = "number") -> Decimal | Invalid:
    """Money and numbers from numbers or text like `$1,049.99`, `(5.00)` or `-5`."""
    if isinstance(raw, bool):
        return Invalid(f"{raw} is not a {what}", f"type a {what}, e.g. 49.99")
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float):
        if math.isnan(raw) or math.isinf(raw):
            return Invalid(f"{raw} is not a {what}", f"type a {what}, e.g. 49.99")
        return Decimal(repr(raw))
    if isinstance(raw, Decimal):
        return raw
    if isinstance(raw, (dt.date, dt.time, dt.timedelta)):
        return Invalid(f"{_shown(raw)} is a date or time, not a {what}",
                       f"format the cell as a number and type a {what}, e.g. 49.99")
    text = str(raw).strip()
    negative = text.startswith("(") and text.endswith(")")
    if negative:
        text = text[1:-1]
    cleaned = _MONEY_JUNK.sub("", text)
    if cleaned.endswith("%"):
        cleaned = cleaned[:-1]
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return Invalid(f"{_shown(raw)!r} is not a {what}", f"type a {what}, e.g. 49.99")
    if not value.is_finite():
        return Invalid(f"{_shown(raw)!r} is not a {what}", f"type a {what}, e.g. 49.99")
    return -value if negative else value


def parse_int(raw: object) -> int | Invalid:
    value = parse_decimal(raw, "whole number")
    if isinstance(value, Invalid):
        return value
    if value != value.to_integral_value():
        return Invalid(f"{_shown(raw)!r} is not a whole number", "type a whole number, e.g. 15")
    return int(value)


_TRUE = {"yes", "y", "true", "t", "1", "x", "on"}
_FALSE = {"no", "n", "false", "f", "0", "off"}


def parse_bool(raw: object) -> bool | Invalid | None:
    """yes/no/true/false/1/0; blank is None (the caller picks the default)."""
    if is_blank(raw):
        return None
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, (int, float)) and raw in (0, 1):
        return bool(raw)
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return Invalid(f"{_shown(raw)!r} is not yes or no", "type yes or no")


_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_SLASHED = re.compile(r"^(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})$")
_ORDER_HINT = {"MDY": "12/01/2026 (month/day/year)", "DMY": "01/12/2026 (day/month/year)",
               "YMD": "2026/12/01 (year/month/day)"}


def _date_or_invalid(year: int, month: int, day: int, raw: object, order: str) -> dt.date | Invalid:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return Invalid(f"{_shown(raw)!r} is not a real date",
                       f"type a date like 2026-12-01 or {_ORDER_HINT[order]}")


def parse_date(raw: object, order: DateOrder = "MDY") -> dt.date | Invalid | None:
    """Real Excel dates, ISO text, or `12/01/2026` read in the configured date order."""
    if is_blank(raw):
        return None
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, bool):
        return Invalid(f"{raw} is not a date", "type a date like 2026-12-01")
    if isinstance(raw, (int, float)):
        # A serial number in a cell not formatted as a date: Excel's 1900 date system.
        if 1 <= raw < 2958466:
            return EXCEL_EPOCH + dt.timedelta(days=int(raw))
        return Invalid(f"{_shown(raw)!r} is not a date", "type a date like 2026-12-01")
    text = str(raw).strip()
    if m := _ISO.match(text):
        return _date_or_invalid(int(m[1]), int(m[2]), int(m[3]), raw, order)
    if m := _SLASHED.match(text):
        a, b, c = (int(x) for x in m.groups())
        if len(m[1]) == 4:
            return _date_or_invalid(a, b, c, raw, order)
        year = c + 2000 if c < 100 else c
        month, day = (a, b) if order == "MDY" else (b, a)
        return _date_or_invalid(year, month, day, raw, order)
    for fmt in ("%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y", "%b %d, %Y", "%B %d, %Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return Invalid(f"{_shown(raw)!r} is not a date",
                   f"type a date like 2026-12-01 or {_ORDER_HINT[order]}")


def parse_datetime(raw: object, order: DateOrder = "MDY") -> dt.datetime | Invalid | None:
    if isinstance(raw, dt.datetime):
        return raw
    if isinstance(raw, str) and raw.strip():
        try:
            return dt.datetime.fromisoformat(raw.strip())
        except ValueError:
            pass
    day = parse_date(raw, order)
    if day is None or isinstance(day, Invalid):
        return day
    return dt.datetime.combine(day, dt.time())


_EMAIL = re.compile(r"^[^@\s;,<>()\"']+@[^@\s;,<>()\"']+\.[A-Za-z]{2,}$")


def parse_emails(raw: object) -> tuple[str, ...] | Invalid:
    """Several addresses separated by `;` or `,`; each must look like name@host.tld."""
    text = parse_text(raw)
    if not text:
        return ()
    addresses = tuple(a.strip() for a in re.split(r"[;,]", text) if a.strip())
    for address in addresses:
        if not _EMAIL.match(address):
            return Invalid(f"{_shown(address)!r} is not an email address",
                           "type addresses like ann@example.com, separated by ; or ,")
    return addresses


def parse_choice(raw: object, choices: tuple[str, ...]) -> str | Invalid | None:
    if is_blank(raw):
        return None
    text = parse_text(raw).lower()
    for choice in choices:
        if text == choice or text.replace(" ", "") == choice.replace(" ", ""):
            return choice
    return Invalid(f"{_shown(raw)!r} is not one of {', '.join(choices)}",
                   f"type one of: {', '.join(choices)}")
