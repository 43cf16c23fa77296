"""Cell parsers: one raw spreadsheet value in, a typed value or an `Invalid` (what + fix) out.

A raw value is what calamine (or the Google Sheets API) hands over: `None`/"" for blank, str,
int, float, bool, `datetime`, `date`, `time` or `timedelta`. Parsers never raise.
"""

from __future__ import annotations

import datetime as dt
import gc
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

DateOrder = Literal["MDY", "DMY", "YMD"]

EXCEL_EPOCH = dt.date(1899, 12, 30)
# Serial numbers read as dates only inside this window: a 7 in a date cell is a typo, not 1900.
FIRST_SERIAL_DATE = dt.date(1950, 1, 1)
LAST_SERIAL_DATE = dt.date(2199, 12, 31)
# Larger amounts are typos (or junk); they would also overflow exact money arithmetic.
LARGEST = Decimal("1e12")
EXCEL_DIGITS = 15  # Excel keeps 15 significant digits; the rest of a double is binary noise


@contextmanager
def paused_gc() -> Iterator[None]:
    """Python's cycle collector off while a workbook or a journal becomes records: millions
    of small objects that form no cycles, whose creation would otherwise trigger collections
    that scan the whole (large) heap again and again. Restored as it was on the way out."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


@dataclass(frozen=True)
class Invalid:
    """Why a cell could not be read, and how the owner fixes it."""

    message: str
    fix: str


def is_blank(raw: object) -> bool:
    """None, "", spaces only, or NaN."""
    if raw is None:
        return True
    kind = type(raw)
    if kind is str:
        return not raw.strip()  # type: ignore[attr-defined]
    if kind is float:
        return raw != raw  # NaN
    if isinstance(raw, str):
        return not raw.strip()
    return isinstance(raw, float) and math.isnan(raw)


def _str(raw: object) -> str:
    try:
        return float_text(raw) if isinstance(raw, float) else str(raw)
    except ValueError:  # an int of thousands of digits
        return "a very long number"


def _shown(raw: object) -> str:
    text = _str(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def _a(what: str) -> str:
    return f"an {what}" if what[0] in "aeiou" else f"a {what}"


def float_text(value: float) -> str:
    """A cell's double as the owner sees it: `0.1 + 0.2` gives `0.3`, `5551234567.0` gives
    `5551234567`, never binary noise."""
    if not math.isfinite(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return format(value, f".{EXCEL_DIGITS}g")


def float_decimal(value: float) -> Decimal:
    """The exact Decimal of a finite double, cut to Excel's 15 significant digits."""
    if value.is_integer() and abs(value) < 1e16:
        return Decimal(int(value))
    return Decimal(format(value, f".{EXCEL_DIGITS}g"))


def parse_text(raw: object) -> str:
    """Any cell as trimmed text; whole numbers lose the `.0` a float gives them."""
    if type(raw) is str:
        return raw.strip()  # type: ignore[attr-defined]
    if is_blank(raw):
        return ""
    if isinstance(raw, bool):
        return "yes" if raw else "no"
    if isinstance(raw, float):
        return float_text(raw)
    if isinstance(raw, dt.datetime):
        if raw.time() == dt.time():
            return raw.date().isoformat()
        return raw.isoformat(sep=" ", timespec="seconds")
    return _str(raw).strip()


def parse_key(raw: object) -> str | Invalid:
    """Identifiers stay exactly as typed (`00123` is not 123); surrounding spaces are dropped."""
    if isinstance(raw, float) and not raw.is_integer():
        return Invalid(f"{_shown(raw)!r} is a decimal number, not an id",
                       "type the id as text, e.g. C001")
    return parse_text(raw)


_CURRENCY = re.compile(r"R\$|KSh|CHF|kr|zł|USD|EUR|GBP|CAD|AUD|[$€£¥₹₦₱]", re.IGNORECASE)
_NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d*)?$")


def _number_from_text(text: str, percent: bool) -> Decimal | None:
    """`$1,049.99`, `(5.00)`, `-$5`, `1 049.99`, `8.25%`; None when it is not a number."""
    text = text.strip().replace("\u2212", "-")
    negative = text.startswith("(") and text.endswith(")")
    if negative:
        text = text[1:-1]
    if percent and text.endswith("%"):
        text = text[:-1]
    text = _CURRENCY.sub("", text)
    text = re.sub(r"[\s'’]", "", text)  # 1 049.99 and 1'049.99 group thousands too
    if text.endswith("-") and not text.startswith(("-", "+")):
        text = "-" + text[:-1]  # 5.00- as some accounting exports write it
    if not re.search(r"\d", text) or not _NUMBER.match(text):
        return None
    value = Decimal(text.replace(",", ""))
    if negative:
        value = -value
    return value


def _number(raw: object, what: str, example: str, percent: bool = False) -> Decimal | Invalid:
    hint = f"type {_a(what)}, e.g. {example}"
    if isinstance(raw, bool):
        return Invalid(f"{raw} is not {_a(what)}", hint)
    if isinstance(raw, (dt.date, dt.time, dt.timedelta)):
        return Invalid(f"{_shown(raw)} is a date or time, not {_a(what)}",
                       f"format the cell as a number and {hint}")
    value: Decimal | None
    if isinstance(raw, int):
        value = Decimal(raw)
    elif isinstance(raw, float):
        value = float_decimal(raw) if math.isfinite(raw) else None
    elif isinstance(raw, Decimal):
        value = raw if raw.is_finite() else None
    else:
        try:
            value = _number_from_text(_str(raw), percent)
        except InvalidOperation:
            value = None
    if value is None:
        if isinstance(raw, str) and re.fullmatch(r"\s*-?\d+,\d{1,2}\s*", raw):
            return Invalid(f"{_shown(raw)!r} uses a comma for decimals",
                           f"type a point for decimals, e.g. {example}")
        return Invalid(f"{_shown(raw)!r} is not {_a(what)}", hint)
    if abs(value) >= LARGEST:
        return Invalid(f"{_shown(raw)!r} is too large for {_a(what)}", hint)
    return value + 0  # + 0 turns -0 into 0


def parse_decimal(raw: object, what: str = "number") -> Decimal | Invalid:
    """A number from a number cell or text like `1,049.5` (blank is the caller's business)."""
    return _number(raw, what, "49.99")


def parse_money(raw: object) -> Decimal | Invalid:
    """Money from numbers or text like `$1,049.99`, `-$5.00` or `(5.00)` (= -5.00)."""
    return _number(raw, "amount", "49.99")


def parse_percent(raw: object) -> Decimal | Invalid:
    """A percent as typed: `8.25` and `8.25%` are both 8.25 %."""
    return _number(raw, "percentage", "8.25", percent=True)


def parse_int(raw: object) -> int | Invalid:
    value = _number(raw, "whole number", "15")
    if isinstance(value, Invalid):
        return value
    if value != value.to_integral_value():
        return Invalid(f"{_shown(raw)!r} is not a whole number", "type a whole number, e.g. 15")
    return int(value)


_TRUE = {"yes", "y", "true", "t", "1", "x", "on", "✓", "✔"}
_FALSE = {"no", "n", "false", "f", "0", "off"}


def parse_bool(raw: object) -> bool | Invalid | None:
    """yes/no, y/n, true/false, 1/0, x; blank is None (the caller picks the default)."""
    if is_blank(raw):
        return None
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, (int, float)) and raw in (0, 1):
        return bool(raw)
    text = _str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return Invalid(f"{_shown(raw)!r} is not yes or no", "type yes or no (or leave it blank)")


_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*[AaPp][Mm])?)?"
_ISO = re.compile(rf"^(\d{{4}})-(\d{{1,2}})-(\d{{1,2}}){_TIME}$")
_SLASHED = re.compile(rf"^(\d{{1,4}})([/.\-])(\d{{1,2}})\2(\d{{1,4}}){_TIME}$")
_NAMED_FORMATS = ("%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y", "%b %d, %Y", "%B %d, %Y",
                  "%d-%b-%Y", "%d-%B-%Y", "%d %b, %Y", "%d %B, %Y")
_ORDER_HINT = {"MDY": "12/01/2026 (month/day/year)", "DMY": "01/12/2026 (day/month/year)",
               "YMD": "2026/12/01 (year/month/day)"}


def _date_hint(order: str) -> str:
    return f"type a date like 2026-12-01 or {_ORDER_HINT.get(order, _ORDER_HINT['MDY'])}"


def _date_or_invalid(year: int, month: int, day: int, raw: object, order: str) -> dt.date | Invalid:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return Invalid(f"{_shown(raw)!r} is not a real date", _date_hint(order))


def _serial_date(raw: int | float) -> dt.date | Invalid:
    """A number in a date cell: an Excel serial (1900 date system) inside a plausible window."""
    first = (FIRST_SERIAL_DATE - EXCEL_EPOCH).days
    last = (LAST_SERIAL_DATE - EXCEL_EPOCH).days
    if first <= raw < last + 1:  # False for NaN and infinities
        return EXCEL_EPOCH + dt.timedelta(days=int(raw))
    return Invalid(f"{_shown(raw)!r} is a number, not a date",
                   "type a date like 2026-12-01, or format the cell as a date")


def _text_date(text: str, raw: object, order: str) -> dt.date | Invalid:
    if m := _ISO.match(text):
        return _date_or_invalid(int(m[1]), int(m[2]), int(m[3]), raw, order)
    if m := _SLASHED.match(text):
        first, second, third = m[1], m[3], m[4]
        a, b, c = int(first), int(second), int(third)
        if len(first) == 4 or (order == "YMD" and len(third) <= 2):
            year = a if len(first) == 4 else 2000 + a
            return _date_or_invalid(year, b, c, raw, order)
        if len(third) == 3:
            return Invalid(f"{_shown(raw)!r} is not a date", _date_hint(order))
        year = c + 2000 if len(third) <= 2 else c
        month, day = (a, b) if order in ("MDY", "YMD") else (b, a)
        return _date_or_invalid(year, month, day, raw, order)
    cleaned = re.sub(r"\s+", " ", text.replace(".", " ")).strip()
    cleaned = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", cleaned, flags=re.IGNORECASE)
    for fmt in _NAMED_FORMATS:
        try:
            return dt.datetime.strptime(cleaned, fmt).date()
        except ValueError:
            continue
    return Invalid(f"{_shown(raw)!r} is not a date", _date_hint(order))


def parse_date(raw: object, order: DateOrder = "MDY") -> dt.date | Invalid | None:
    """Real Excel dates, ISO text, `12/01/2026` read in the configured order, `Dec 1, 2026`."""
    if is_blank(raw):
        return None
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, bool):
        return Invalid(f"{raw} is not a date", _date_hint(order))
    if isinstance(raw, (int, float)):
        return _serial_date(raw)
    if isinstance(raw, (dt.time, dt.timedelta)):
        return Invalid(f"{_shown(raw)} is a time, not a date", _date_hint(order))
    return _text_date(_str(raw).strip(), raw, order)


# Dates an owner can mean: none before this, none more than `YEARS_AHEAD` after the run's day.
EARLIEST_PLAUSIBLE = dt.date(2000, 1, 1)
YEARS_AHEAD = 5
_LEAP_BUG_END = dt.date(1900, 3, 1)  # Excel counts a 29 Feb 1900: serials before it are one off
_TYPED_NUMBER_BEFORE = dt.date(1910, 1, 1)  # a date cell holding 1 to 3653: a number typed in


@dataclass(frozen=True)
class DateWindow:
    """The dates an owner's cell can plausibly hold; outside it a date is a typo, not a day to
    bill from (a `15` typed into a date cell is 1900-01-15: 1,524 months of service)."""

    first: dt.date
    last: dt.date
    today: dt.date

    @classmethod
    def around(cls, today: dt.date) -> DateWindow:
        """From 2000-01-01 to `YEARS_AHEAD` years after `today` (the run's day)."""
        try:
            last = today.replace(year=today.year + YEARS_AHEAD)
        except ValueError:  # 29 February
            last = today.replace(year=today.year + YEARS_AHEAD, day=28)
        return cls(EARLIEST_PLAUSIBLE, last, today)

    def check(self, value: dt.date, raw: object) -> Invalid | None:
        """None when `value` is inside the window; otherwise what it is and its likely cause."""
        if value < self.first:
            typed = _typed_number(value, raw)
            if typed is not None:
                return Invalid(
                    f"{value.isoformat()} is before {self.first.isoformat()}: a number typed "
                    f"into a date cell? (a date cell shows {typed} as {value.isoformat()})",
                    "type the whole date, e.g. 2026-12-01")
            return Invalid(f"{_as_read(value, raw)} before {self.first.isoformat()}: "
                           "a typo in the year?",
                           "type the date with its four-digit year, e.g. 2026-12-01")
        if value > self.last:
            return Invalid(f"{_as_read(value, raw)} more than {YEARS_AHEAD} years after "
                           f"today ({self.today.isoformat()}): a typo in the year?",
                           "type the date with its four-digit year, e.g. 2026-12-01")
        return None


def _as_read(value: dt.date, raw: object) -> str:
    """`2099-12-31 is` for a date cell, `'12/01/1026' reads as 1026-12-01,` for text."""
    if isinstance(raw, dt.date):
        return f"{value.isoformat()} is"
    return f"{_shown(raw)!r} reads as {value.isoformat()},"


def _typed_number(value: dt.date, raw: object) -> str | None:
    """The number that shows as `value` in a date cell, when `raw` was a number or a date
    cell's day from Excel's first decade (a day, a price or a year typed: 2026 is 1905-07-18);
    a later date like 1926-11-30 is a typo in the year."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return _str(raw)
    if isinstance(raw, dt.date) and value < _TYPED_NUMBER_BEFORE:
        serial = (value - EXCEL_EPOCH).days - (value < _LEAP_BUG_END)
        return str(serial)
    return None


def parse_datetime(raw: object, order: DateOrder = "MDY") -> dt.datetime | Invalid | None:
    if isinstance(raw, dt.datetime):
        return raw
    if isinstance(raw, str) and raw.strip():
        try:
            return dt.datetime.fromisoformat(raw.strip())
        except ValueError:
            pass
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        day = _serial_date(raw)
        if isinstance(day, dt.date):
            seconds = round((float(raw) % 1) * 86400)
            return dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)
    day = parse_date(raw, order)
    if day is None or isinstance(day, Invalid):
        return day
    return dt.datetime.combine(day, dt.time())


_EMAIL = re.compile(r"^[^@\s;,<>()\[\]\"':]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$")


def parse_emails(raw: object) -> tuple[str, ...] | Invalid:
    """Several addresses separated by `;` or `,`; each must look like name@host.tld."""
    text = parse_text(raw)
    if not text:
        return ()
    addresses = tuple(a.strip() for a in re.split(r"[;,]", text) if a.strip())
    for address in addresses:
        if not _EMAIL.match(address) or ".." in address:
            return Invalid(f"{_shown(address)!r} is not an email address",
                           "type addresses like ann@example.com, separated by ; or ,")
    return addresses


# Other spellings owners type, by normalised text.
CHOICE_ALIASES = {"canceled": "cancelled", "yearly": "annual", "annually": "annual",
                  "semiannually": "semiannual", "halfyearly": "semiannual", "month": "monthly",
                  "quarter": "quarterly"}


def _squash(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.lower())


def parse_choice(raw: object, choices: tuple[str, ...]) -> str | Invalid | None:
    """One of `choices`, ignoring case, spaces and dashes (`Semi-annual`, `Canceled` too)."""
    if is_blank(raw):
        return None
    text = _squash(parse_text(raw))
    text = CHOICE_ALIASES.get(text, text)
    for choice in choices:
        if text == _squash(choice):
            return choice
    return Invalid(f"{_shown(raw)!r} is not one of {', '.join(choices)}",
                   f"type one of: {', '.join(choices)}")


class TextValues:
    """Decimals and dates parsed from stored text, each distinct text once (amounts and days
    repeat across thousands of rows; Decimal and date values are immutable, so shared)."""

    def __init__(self) -> None:
        self.decimals: dict[str, Decimal] = {}
        self.dates: dict[str, dt.date] = {}

    def decimal(self, text: str) -> Decimal:
        value = self.decimals.get(text)
        if value is None:
            value = self.decimals[text] = Decimal(text)
        return value

    def date(self, text: str | None) -> dt.date | None:
        if not text:
            return None
        value = self.dates.get(text)
        if value is None:
            value = self.dates[text] = dt.date.fromisoformat(text)
        return value
