"""`xl/styles.xml`: which cell styles show dates, and new styles derived from the owner's.

A derived style is a copy of the cell's own style (font, fill, border, alignment) with another
number format or a quote prefix, so a tool cell keeps the owner's look and still reads back as
the right type. New styles are appended; existing style indexes never move.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from decimal import Decimal

from lxml import etree

from ispsheets.book.changes import Value
from ispsheets.book.xlsx_cells import blank, is_date_value, needs_quote

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
GENERAL = 0
MONEY = 4  # built-in "#,##0.00"
_BUILTIN_DATES = {*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59),
                  *range(71, 82)}
_BUILTIN_TIMES = {*range(18, 23), *range(45, 48)}
_NOT_FORMAT = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]|_.|\*.')
_EMPTY = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
          b'<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
          b'<fonts count="1"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
          b'</fonts><fills count="2"><fill><patternFill patternType="none"/></fill>'
          b'<fill><patternFill patternType="gray125"/></fill></fills>'
          b'<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
          b'</borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" '
          b'borderId="0"/></cellStyleXfs><cellXfs count="1"><xf numFmtId="0" fontId="0" '
          b'fillId="0" borderId="0" xfId="0"/></cellXfs><cellStyles count="1">'
          b'<cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')


def _format_part(code: str) -> str:
    return _NOT_FORMAT.sub("", code.split(";")[0])


def is_date_code(code: str) -> bool:
    """A custom number format that shows a date or time (what calamine reads as a date)."""
    return bool(re.search("[dmyhs]", _format_part(code), re.IGNORECASE))


class Styles:
    """The cell styles of a workbook, editable by appending."""

    def __init__(self, xml: bytes | None) -> None:
        self.created = xml is None
        self.changed = self.created
        self.root = etree.fromstring(xml or _EMPTY)
        self.ns = self.root.nsmap.get(self.root.prefix)
        self._derived: dict[tuple[int, str, object], int] = {}
        self.cell_xfs = self._child("cellXfs", after=("cellStyleXfs", "borders", "fills",
                                                      "fonts", "numFmts"))
        self.formats: dict[int, str] = {}
        numfmts = self.root.find(self._tag("numFmts"))
        if numfmts is not None:
            for item in numfmts.iter(self._tag("numFmt")):
                self.formats[int(item.get("numFmtId", "0"))] = item.get("formatCode", "")
        self._xfs = list(self.cell_xfs.iter(self._tag("xf")))
        self._date_cache: dict[int, tuple[bool, bool]] = {}

    def _tag(self, name: str) -> str:
        return f"{{{self.ns}}}{name}" if self.ns else name

    def _child(self, name: str, after: tuple[str, ...]) -> etree._Element:
        found = self.root.find(self._tag(name))
        if found is not None:
            return found
        element = etree.Element(self._tag(name), count="0")
        for previous in after:
            anchor = self.root.find(self._tag(previous))
            if anchor is not None:
                anchor.addnext(element)
                return element
        self.root.insert(0, element)
        return element

    def _kind(self, style: int) -> tuple[bool, bool]:
        """(shows a date, shows a time) for a cell style index."""
        if style not in self._date_cache:
            fmt = self.number_format(style)
            if fmt in _BUILTIN_DATES:
                result = (True, fmt in _BUILTIN_TIMES)
            elif fmt in self.formats and is_date_code(self.formats[fmt]):
                part = _format_part(self.formats[fmt]).lower()
                result = (True, "h" in part or "s" in part)
            else:
                result = (False, False)
            self._date_cache[style] = result
        return self._date_cache[style]

    def number_format(self, style: int) -> int:
        if not 0 <= style < len(self._xfs):
            return GENERAL
        return int(self._xfs[style].get("numFmtId", "0") or 0)

    def is_date(self, style: int) -> bool:
        return self._kind(style)[0]

    def shows_time(self, style: int) -> bool:
        return self._kind(style)[1]

    def _format_id(self, code: str) -> int:
        for number, existing in self.formats.items():
            if existing == code:
                return number
        number = max([163, *self.formats]) + 1
        numfmts = self._child("numFmts", after=())
        item = etree.SubElement(numfmts, self._tag("numFmt"))
        item.set("numFmtId", str(number))
        item.set("formatCode", code)
        numfmts.set("count", str(len(numfmts)))
        self.formats[number] = code
        self.changed = True
        return number

    def _derive(self, base: int, what: str, setting: object) -> int:
        key = (base, what, setting)
        if key in self._derived:
            return self._derived[key]
        source = self._xfs[base] if 0 <= base < len(self._xfs) else None
        xf = copy.deepcopy(source) if source is not None else etree.Element(
            self._tag("xf"), numFmtId="0", fontId="0", fillId="0", borderId="0", xfId="0")
        if what == "format":
            number = setting if isinstance(setting, int) else self._format_id(str(setting))
            xf.set("numFmtId", str(number))
            xf.set("applyNumberFormat", "1")
        elif what == "quote":
            xf.set("quotePrefix", "1")
        elif what == "font":
            xf.set("fontId", str(setting))
            xf.set("applyFont", "1")
        self.cell_xfs.append(xf)
        self._xfs.append(xf)
        self.cell_xfs.set("count", str(len(self._xfs)))
        self.changed = True
        self._derived[key] = len(self._xfs) - 1
        return self._derived[key]

    def with_format(self, base: int, fmt: int | str) -> int:
        return self._derive(base, "format", fmt)

    def bold(self) -> int:
        """A header style: the default style in bold."""
        if (0, "font", "bold") in self._derived:
            return self._derived[(0, "font", "bold")]
        fonts = self._child("fonts", after=("numFmts",))
        base_font = int(self._xfs[0].get("fontId", "0")) if self._xfs else 0
        existing = list(fonts.iter(self._tag("font")))
        font = (copy.deepcopy(existing[base_font]) if base_font < len(existing)
                else etree.Element(self._tag("font")))
        if font.find(self._tag("b")) is None:
            font.insert(0, etree.Element(self._tag("b")))
        fonts.append(font)
        fonts.set("count", str(len(existing) + 1))
        style = self._derive(0, "font", len(existing))
        self._derived[(0, "font", "bold")] = style
        return style

    def for_value(self, base: int, value: Value) -> int:
        """The style a cell with style `base` needs so `value` shows and reads as its type."""
        if blank(value) or isinstance(value, bool):
            return base
        if isinstance(value, dt.date) and is_date_value(value):
            if isinstance(value, dt.datetime):
                return base if self.shows_time(base) else self.with_format(base, DATETIME_FORMAT)
            return base if self.is_date(base) else self.with_format(base, DATE_FORMAT)
        if isinstance(value, (Decimal, int)):
            return self.with_format(base, GENERAL) if self.is_date(base) else base
        if isinstance(value, str) and needs_quote(value):
            quoted = 0 <= base < len(self._xfs) and self._xfs[base].get("quotePrefix") == "1"
            return base if quoted else self._derive(base, "quote", True)
        return base

    def to_xml(self) -> bytes:
        return etree.tostring(self.root, xml_declaration=True, encoding="UTF-8",
                              standalone=True)
