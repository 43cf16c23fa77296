"""One cell's XML: values in (Decimal, date, text) and raw values out, as calamine reads them.

Text is stored as an inline string, so a value is never a formula. Control characters XML
cannot hold are written with Excel's own `_xHHHH_` escape (which Excel and calamine decode), and
a literal `_xHHHH_` in the text is escaped too, so text reads back exactly. Lone surrogates and
the non-characters U+FFFE/U+FFFF, which no reader gives back, are dropped.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from ispsheets.book.changes import Value

EXCEL_EPOCH = dt.datetime(1899, 12, 30)
FIRST_SERIAL_DAY = dt.date(1900, 3, 1)  # earlier serials go through Excel's 1900 leap-year bug
MAX_TEXT = 32767  # Excel's limit on the characters in one cell
FORMULA_START = ("=", "+", "-", "@")

_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]|_(?=x[0-9A-Fa-f]{4}_)")
_DROPPED = re.compile("[\ud800-\udfff\ufffe\uffff]")  # lone surrogates, non-characters
_XML_SPECIAL = re.compile("[&<>\r]")
_XML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}
_ENTITY = re.compile(r"&(#[0-9]+|#x[0-9a-fA-F]+|amp|lt|gt|quot|apos);")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_EXCEL_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def escape_text(text: str) -> str:
    """Cell text as XML character data (without the enclosing `<t>`)."""
    text = _DROPPED.sub("", text)[:MAX_TEXT]
    text = _ILLEGAL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    return _XML_SPECIAL.sub(lambda m: _XML_ESCAPES[m.group()], text)


def stored_text(text: str) -> str:
    """What a text cell holds after writing `text`: what calamine will read back."""
    return _DROPPED.sub("", text)[:MAX_TEXT]


def unescape_xml(raw: bytes) -> str:
    """XML character data (entities, character references) to text; `_xHHHH_` is kept."""
    text = raw.decode("utf-8")
    if "&" not in text:
        return text
    return _ENTITY.sub(_entity, text)


def _entity(match: re.Match[str]) -> str:
    name = match.group(1)
    if name.startswith("#x"):
        return chr(int(name[2:], 16))
    if name.startswith("#"):
        return chr(int(name[1:]))
    return _NAMED[name]


def decode_text(raw: bytes) -> str:
    """Cell text from XML character data, Excel's `_xHHHH_` escapes decoded."""
    text = unescape_xml(raw)
    if "_x" not in text:
        return text
    return _EXCEL_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


_END = "&<>_\\s\\x00-\\x1f\\ud800-\\udfff\\ufffe\\uffff"  # not at either end of plain text
_MIDDLE = "&<>_\\r\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\ud800-\\udfff\\ufffe\\uffff"
_PLAIN = re.compile(f"[^{_END}](?:[^{_MIDDLE}]*[^{_END}])?")


def text_element(text: str) -> str:
    """`<t>` holding `text`. Spaces and line breaks at its ends are kept by xml:space (calamine
    trims them otherwise)."""
    if len(text) <= MAX_TEXT and _PLAIN.fullmatch(text):
        return f"<t>{text}</t>"
    stored = stored_text(text)
    if stored[:1].isspace() or stored[-1:].isspace():
        return f'<t xml:space="preserve">{escape_text(text)}</t>'
    return f"<t>{escape_text(text)}</t>"


def serial(value: dt.date | dt.datetime) -> str:
    """Excel's 1900 date serial, days since 1899-12-30 (a fraction for the time of day)."""
    if isinstance(value, dt.datetime):
        delta = value.replace(tzinfo=None) - EXCEL_EPOCH
        if not delta.seconds and not delta.microseconds:
            return str(delta.days)
        return repr(delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400)
    return str((value - EXCEL_EPOCH.date()).days)


def from_serial(number: float) -> dt.datetime:
    return EXCEL_EPOCH + dt.timedelta(days=number)


def number_text(value: Decimal | int) -> str:
    """A number as `<v>` text: `str(Decimal)` exactly, no float round trip."""
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"{value} cannot be written to a cell")
    return str(value)


def is_date_value(value: Value) -> bool:
    return isinstance(value, dt.date) and (
        (value.date() if isinstance(value, dt.datetime) else value) >= FIRST_SERIAL_DAY)


def needs_quote(text: str) -> bool:
    """Text Excel would take as a formula if the owner retyped it (stored with a quote prefix)."""
    return text.startswith(FORMULA_START)


def blank(value: Value) -> bool:
    return value is None or value == ""


def value_kind(value: Value) -> str:
    """What decides a cell's style and type: blank, number, date, datetime, text, ..."""
    if value is None or value == "":
        return "blank"
    kind = type(value)
    if kind is str:
        return "quoted" if value.startswith(FORMULA_START) else "text"  # type: ignore[union-attr]
    if kind is Decimal or kind is int:
        return "number"
    if kind is dt.date or kind is dt.datetime:
        if not is_date_value(value):
            return "old-date"
        return "datetime" if kind is dt.datetime else "date"
    return kind.__name__


def cell_xml(ref: str, value: Value, style: int) -> str:
    """The `<c>` element for `value` (None or "" → an empty cell keeping its style)."""
    s = f' s="{style}"' if style else ""
    if blank(value):
        return f'<c r="{ref}"{s}/>' if style else ""
    if isinstance(value, bool):
        return f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (Decimal, int)):
        return f'<c r="{ref}"{s}><v>{number_text(value)}</v></c>'
    if isinstance(value, dt.date):
        if is_date_value(value):
            return f'<c r="{ref}"{s}><v>{serial(value)}</v></c>'
        text = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
        return f'<c r="{ref}"{s} t="inlineStr"><is>{text_element(text)}</is></c>'
    if isinstance(value, str):
        return f'<c r="{ref}"{s} t="inlineStr"><is>{text_element(value)}</is></c>'
    raise TypeError(f"cannot write a {type(value).__name__} to a cell")


def raw_number(text: str, date_style: bool, time_style: bool = False) -> object:
    """A numeric cell as the reader hands it over: int, float, date or datetime."""
    number = float(text)
    if date_style and 0 <= number < 2958466:
        moment = from_serial(number)
        return moment.date() if number.is_integer() and not time_style else moment
    if number.is_integer():
        return int(number)
    return number
