"""One worksheet part, patched at the byte level: only the rows that change are rebuilt.

The sheet XML is scanned with regular expressions over `<row>` and `<c>` elements rather than
parsed into a tree, so a 240,000-row sheet is searched and patched in well under a second, and
every byte outside the changed rows (formulas, cached values, validation, conditional
formatting, merged cells, panes) stays as it was.

The fast paths expect what Excel, LibreOffice, openpyxl and xlsxwriter write: every `<row>` and
`<c>` starting with its `r` attribute. Each row the patch touches is checked for that; a sheet
that breaks it raises `NotCanonical`, and is patched again after `normalise=True` has given
every row and cell its `r`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from ispsheets.book import parse
from ispsheets.book.changes import Value
from ispsheets.book.schema import column_index, column_letter
from ispsheets.book.xlsx_cells import (
    cell_xml,
    decode_text,
    escape_text,
    is_date_value,
    number_text,
    raw_number,
    serial,
    text_element,
    value_kind,
)
from ispsheets.book.xlsx_strings import SharedStrings, item_text
from ispsheets.book.xlsx_styles import Styles

_ATTR = re.compile(rb'([\w:.-]+)\s*=\s*(?:"([^"]*)"|\'([^\']*)\')')
_REF = re.compile(rb"\$?([A-Za-z]{1,3})\$?(\d+)")
_HAS_VALUE = re.compile(rb"<(?:\w+:)?v>[^<]|<(?:\w+:)?f[\s>]|<(?:\w+:)?t(?:\s[^>]*)?>[^<]")
_STYLE = re.compile(rb'\bs="(\d+)"')
# A shared string that is one plain run of text with no spaces at its ends: its bytes are its text.
_SIMPLE_ITEM = re.compile(rb"<t>(?:[^\s<&_](?:[^<&_]*[^\s<&_])?)?</t></si>")
_TYPE = re.compile(rb'\bt="(\w+)"')

BaseStyle = Callable[[int, Value], int]  # (column, value) → style for a cell with none
MAX_ROWS, MAX_COLUMNS = 1_048_576, 16_384  # Excel's grid


class SheetError(Exception):
    """The worksheet XML is not laid out the way the format says."""


class GridFull(SheetError):
    """The rows to append do not fit below the sheet's last row in Excel's grid."""

    def __init__(self, last_row: int, adding: int) -> None:
        super().__init__(f"the tab would pass Excel's last row ({MAX_ROWS:,})")
        self.last_row, self.adding = last_row, adding
        self.tab = ""  # set by the caller, which knows the tab's name


class NotCanonical(SheetError):
    """A row or cell without `r` as its first attribute: normalise the sheet and try again."""


def attributes(tag: bytes) -> dict[bytes, bytes]:
    return {m.group(1): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _ATTR.finditer(tag)}


def _attr_xml(attrs: Mapping[bytes, bytes]) -> bytes:
    return b"".join(b" " + k + b'="' + v.replace(b'"', b"&quot;") + b'"'
                    for k, v in attrs.items())


def _style(attrs: bytes) -> int:
    m = _STYLE.search(attrs)
    return int(m.group(1)) if m else 0


@dataclass
class FormulaRemoved:
    """A formula overwritten by a value; a shared formula's master hands its text over."""

    ref: str
    shared_index: bytes | None = None
    shared_ref: bytes = b""
    text: str = ""


@dataclass
class Patch:
    """What a patched sheet did, for the workbook-level parts (tables, calcChain)."""

    formulas_removed: list[FormulaRemoved] = field(default_factory=list)
    last_row_before: int = 0
    last_row_after: int = 0
    appended_columns: set[int] = field(default_factory=set)
    rows_appended: int = 0
    rows_deleted: int = 0


class Sheet:
    """A worksheet's XML with pending changes; `render()` gives the new part in pieces."""

    def __init__(self, xml: bytes, strings: SharedStrings, styles: Styles, *,
                 normalise: bool = False) -> None:
        self.strings, self.styles = strings, styles
        root = re.search(rb"<(\w+:)?worksheet\b", xml)
        if root is None:
            raise SheetError("not a worksheet")
        self.p = root.group(1) or b""
        p = re.escape(self.p)
        self._row_open = re.compile(rb"<" + p + rb'row r="(\d+)"([^>]*?)(/?)>')
        self._row_close = b"</" + self.p + b"row>"
        self._cell = re.compile(rb"<" + p + rb'c r="([A-Z]{1,3})(\d+)"([^>]*?)(?:/>|>(.*?)</'
                                + p + rb"c>)", re.DOTALL)
        self._cell_ref = re.compile(rb"(<" + p + rb'c r="[A-Z]{1,3})\d+"')
        self._value = re.compile(rb"<" + p + rb"v>(.*?)</" + p + rb"v>", re.DOTALL)
        self._formula = re.compile(rb"<" + p + rb"f\b([^>]*?)(?:/>|>(.*?)</" + p + rb"f>)",
                                   re.DOTALL)
        self.xml = _normalise(xml, self.p) if normalise else xml
        self._locate()
        self.patch = Patch()
        self.changes: dict[int, dict[int, Value]] = {}  # row → column → value
        self.header_adds: dict[int, str] = {}
        self.new_rows: list[dict[int, Value]] = []
        self.deleted: set[int] = set()  # rows removed; the rows below move up
        self.base_style: BaseStyle = lambda col, value: 0
        self._spans: dict[int, tuple[int, int] | None] = {}
        self._col_styles: list[tuple[int, int, int]] | None = None
        # After `render()`: where each piece it gave starts in `xml` (None: new bytes), or
        # None when the pieces are not laid out over `xml`.
        self.origins: list[int | None] | None = None

    # -- layout ------------------------------------------------------------------------------

    def _locate(self) -> None:
        m = re.search(rb"<" + re.escape(self.p) + rb"sheetData\b[^>]*?(/?)>", self.xml)
        if m is None:
            raise SheetError("no <sheetData>")
        if m.group(1):
            opened = b"<" + self.p + b"sheetData>"
            self.xml = (self.xml[:m.start()] + opened + b"</" + self.p + b"sheetData>"
                        + self.xml[m.end():])
            self.start = m.start() + len(opened)
        else:
            self.start = m.end()
        self.end = self.xml.rfind(b"</" + self.p + b"sheetData>")
        if self.end < self.start:
            raise SheetError("no </sheetData>")

    def _count(self, name: bytes, start: int, end: int) -> int:
        tag = b"<" + self.p + name
        return sum(self.xml.count(tag + end_char, start, end) for end_char in (b" ", b">", b"/"))

    def _check(self, start: int, end: int, rows: int | None, cells: int) -> None:
        """Raise NotCanonical unless [start, end) holds exactly these rows and cells."""
        if (rows is not None and self._count(b"row", start, end) != rows) or \
                self._count(b"c", start, end) != cells:
            raise NotCanonical("rows or cells without their r attribute")

    def check_all(self) -> None:
        """The whole sheet is canonical (a full scan: for rare paths only)."""
        rows = self.xml.count(b"<" + self.p + b'row r="', self.start, self.end)
        cells = self.xml.count(b"<" + self.p + b'c r="', self.start, self.end)
        self._check(self.start, self.end, rows, cells)

    def row_spans(self, numbers: Iterable[int]) -> None:
        """Find these rows, in one forward pass (rows are stored in ascending order)."""
        at = self.start
        for number in sorted(set(numbers) - set(self._spans)):
            found = self.xml.find(b"<" + self.p + b'row r="' + str(number).encode() + b'"',
                                  at, self.end)
            if found < 0:
                self._spans[number] = None
                continue
            self._spans[number] = (found, self._row_end(found))
            at = found

    def row_span(self, number: int) -> tuple[int, int] | None:
        if number not in self._spans:
            self.row_spans([number])
        return self._spans[number]

    def _row_end(self, start: int) -> int:
        m = self._row_open.match(self.xml, start)
        if m is None:
            raise NotCanonical("a row without its r attribute")
        if m.group(3):
            return m.end()
        return self.xml.index(self._row_close, m.end()) + len(self._row_close)

    def row_cells(self, number: int) -> dict[int, tuple[bytes, bytes | None]]:
        """Column → (attributes, body) of the cells of row `number`."""
        span = self.row_span(number)
        if span is None:
            if number == 1:
                first = self.xml.find(b"<" + self.p + b"row", self.start, self.end)
                if first >= 0 and self._row_open.match(self.xml, first) is None:
                    raise NotCanonical("a row without its r attribute")
            return {}
        found = {column_index(m.group(1).decode()): (m.group(3), m.group(4))
                 for m in self._cell.finditer(self.xml, *span)}
        self._check(span[0], span[1], None, len(found))
        return found

    # -- reading -----------------------------------------------------------------------------

    def raw(self, attrs: bytes, body: bytes | None) -> object:
        """A cell's value as pandas' calamine engine gives it (None for blank)."""
        if body is None:
            return None
        m = _TYPE.search(attrs)
        kind = m.group(1) if m else b"n"
        if kind == b"inlineStr":
            return item_text(body)
        v = self._value.search(body)
        if v is None:
            return None
        text = v.group(1)
        if kind == b"s":
            return self.strings[int(text)]
        if kind == b"str":
            return decode_text(text)
        if kind == b"b":
            return text.strip() == b"1"
        if kind == b"e":
            return None
        if kind == b"d":
            return dt.datetime.fromisoformat(text.decode().strip())
        style = _style(attrs)
        try:
            return raw_number(text.decode(), self.styles.is_date(style),
                              self.styles.shows_time(style))
        except ValueError:
            return None

    def header(self) -> dict[int, object]:
        """Row 1: column → raw value."""
        return {col: self.raw(*cell) for col, cell in self.row_cells(1).items()}

    def key_rows(self, col: int, wanted: set[str]) -> dict[str, list[int]]:
        """The rows below the header whose cell in `col` reads as one of the `wanted` keys."""
        p = re.escape(self.p)
        pattern = re.compile(
            rb"<" + p + rb'c r="' + column_letter(col).encode() + rb'(\d+)"([^>]*?)(?:/>|>(?:<'
            + p + rb"v>([^<]*)</" + p + rb"v>|<" + p + rb"is><" + p
            + rb"t(?: xml:space=\"preserve\")?>([^<]*)</" + p + rb"t></" + p + rb"is>)</" + p
            + rb"c>|>(.*?)</" + p + rb"c>)", re.DOTALL)
        plain = {k.encode(): k for k in wanted}
        items_wanted = {b"<t>" + k.encode() + b"</t></si>": k for k in wanted}
        simple = _SIMPLE_ITEM.fullmatch
        item_of = self.strings.item
        found: dict[str, list[int]] = {}
        for number, attrs, value, inline, other in pattern.findall(self.xml, self.start,
                                                                    self.end):
            if value and b't="s"' in attrs:
                index = int(value)
                item = item_of(index)
                key = items_wanted.get(item)
                if key is None:
                    if simple(item):
                        continue
                    key = self.strings[index].strip()
            elif inline and b"&" not in inline and b"_x" not in inline:
                key = plain.get(inline)
                if key is None:
                    key = inline.decode("utf-8").strip()
            elif value or inline or other:
                raw = self.raw(attrs, other or (b"<v>" + value + b"</v>" if value else
                                                b"<is><t>" + inline + b"</t></is>"))
                parsed = parse.parse_key(raw)
                if not isinstance(parsed, str):
                    continue
                key = parsed
            else:
                continue
            if key in wanted and number != b"1":
                found.setdefault(key, []).append(int(number))
        return found

    def last_valued_row(self) -> tuple[int, int]:
        """(number, end offset) of the last row holding any value; (0, start) if none."""
        end = self.end
        opener = b"<" + self.p + b'row r="'
        while True:
            start = self.xml.rfind(opener, self.start, end)
            if start < 0:
                return 0, self.start
            if _HAS_VALUE.search(self.xml, start, end):
                m = self._row_open.match(self.xml, start)
                if m is None:
                    raise NotCanonical("a row without its r attribute")
                return int(m.group(1)), self._row_end(start)
            end = start

    def used_columns(self) -> int:
        """One past the last column holding a value anywhere (scans the whole sheet)."""
        self.check_all()
        p = re.escape(self.p)
        pattern = re.compile(rb"<" + p + rb'c r="([A-Z]{1,3})\d+"[^>]*?>(?=<' + p + rb"[vfi])")
        letters = set(pattern.findall(self.xml, self.start, self.end))
        return max((column_index(x.decode()) + 1 for x in letters), default=0)

    def merged_end(self, row: int) -> int:
        """One past the last column of the merged ranges that cover `row`."""
        end = 0
        pattern = re.compile(rb"<" + re.escape(self.p) + rb'mergeCell\b[^>]*?\bref="([^"]+)"')
        for m in pattern.finditer(self.xml, self.end):
            corners = [_REF.fullmatch(x) for x in m.group(1).split(b":")]
            if len(corners) == 2 and all(corners):
                first, last = corners[0], corners[1]
                assert first is not None and last is not None
                if int(first.group(2)) <= row <= int(last.group(2)):
                    end = max(end, column_index(last.group(1).decode().upper()) + 1)
        return end

    def column_style(self, col: int) -> int:
        if self._col_styles is None:
            self._col_styles = []
            p = re.escape(self.p)
            for m in re.compile(rb"<" + p + rb"col\b([^>]*?)/?>").finditer(self.xml, 0, self.start):
                a = attributes(m.group(1))
                if b"style" in a:
                    self._col_styles.append((int(a.get(b"min", b"1")),
                                             int(a.get(b"max", b"1")), int(a[b"style"])))
        return next((s for lo, hi, s in self._col_styles if lo <= col + 1 <= hi), 0)

    # -- writing -----------------------------------------------------------------------------

    def set(self, row: int, col: int, value: Value) -> None:
        self.changes.setdefault(row, {})[col] = value

    def render(self) -> list[bytes | memoryview]:
        """The patched XML, in pieces (unchanged stretches are views of `self.xml`, at the
        offsets `self.origins` gives)."""
        xml = self.xml
        edits: list[tuple[int, int, bytes]] = []
        self.row_spans(self.changes)
        for number in sorted(self.changes):
            span = self.row_span(number)
            if span is None:
                raise NotCanonical(f"row {number} not found by its r attribute")
            edits.append((*span, self._rebuild_row(span, self.changes[number])))
        last, tail_start = self.last_valued_row()
        self.patch.last_row_before = self.patch.last_row_after = last
        if self.header_adds and last > 0:
            header_row = self.row_span(1)
            if header_row is None:
                self.row_cells(1)  # a first row without r raises NotCanonical
                edits.append((self.start, self.start,
                              self._new_row(1, dict(self.header_adds), header=True)))
            else:
                edits.append((*header_row, self._rebuild_row(header_row, self.header_adds,
                                                             header=True)))
        # Only rows added can fill the grid: setting cells or taking rows out of a tab already
        # past Excel's last row (made by another program) is what brings it back within it.
        if self.new_rows and max(last, 1) + len(self.new_rows) > MAX_ROWS:
            raise GridFull(max(last, 1), len(self.new_rows))
        if max(self.header_adds, default=0) >= MAX_COLUMNS:
            raise SheetError(f"the tab would pass Excel's last column ({MAX_COLUMNS:,})")
        if self.new_rows or (self.header_adds and last == 0):
            edits.append((tail_start, self.end, self._tail(last, tail_start)))
        if self.deleted:
            edits.append(self._without_deleted())
        dimension = self._dimension()
        if dimension:
            edits.append(dimension)
        edits.sort(key=lambda e: e[0])
        view = memoryview(xml)
        pieces: list[bytes | memoryview] = []
        origins: list[int | None] = []
        at = 0
        for start, end, new in edits:
            if start < at:
                raise SheetError("two changes to the same rows")
            pieces += [view[at:start], new]
            origins += [at, None]
            at = end
        pieces.append(view[at:])
        origins.append(at)
        if any(f.shared_index is not None for f in self.patch.formulas_removed):
            self.origins = None
            return [_hand_over_shared(b"".join(pieces), self.patch.formulas_removed, self.p)]
        self.origins = origins
        return pieces

    def _without_deleted(self) -> tuple[int, int, bytes]:
        """The rows from the first deleted one to the end, without the deleted rows and with
        the rows below renumbered. Formulas there would point at the wrong rows afterwards,
        so a formula below a deleted row stops the write (SheetError) and nothing changes."""
        if self.changes or self.new_rows:
            raise SheetError("rows are deleted in a write of their own")
        self.row_spans(self.deleted)
        spans = [span for n in self.deleted if (span := self.row_span(n)) is not None]
        start = min(s for s, _ in spans)
        rows = list(self._row_open.finditer(self.xml, start, self.end))
        self._check(start, self.end, len(rows),
                    self.xml.count(b"<" + self.p + b'c r="', start, self.end))
        out: list[bytes] = []
        shift = 0
        for m in rows:
            number, end = int(m.group(1)), self._row_end(m.start())
            if number in self.deleted:
                shift += 1
                continue
            row = self.xml[m.start():end]
            if shift:
                if b"<" + self.p + b"f" in row:
                    raise SheetError(f"row {number} holds a formula below rows being moved "
                                     "out; move the formula to another tab")
                new = str(number - shift).encode()
                row = (row[:m.start(1) - m.start()] + new + row[m.end(1) - m.start():])
                row = self._cell_ref.sub(lambda c, n=new: c.group(1) + n + b'"', row)
            out.append(row)
        self.patch.rows_deleted = shift
        return start, self.end, b"".join(out)

    def _x(self, text: str) -> bytes:
        """Generated XML in the sheet's namespace prefix."""
        if self.p:
            text = re.sub(r"<(/?)(c|is|t|v)([\s>/])",
                          lambda m: f"<{m[1]}{self.p.decode()}{m[2]}{m[3]}", text)
        return text.encode()

    def _rebuild_row(self, span: tuple[int, int], changes: Mapping[int, Value],
                     header: bool = False, base: BaseStyle | None = None) -> bytes:
        """The row with `changes` written into it."""
        if not header:
            spliced = self._splice_row(span, changes)
            if spliced is not None:
                return spliced
        xml = self.xml
        m = self._row_open.match(xml, span[0])
        if m is None:
            raise NotCanonical("a row without its r attribute")
        number = int(m.group(1))
        body_end = span[1] if m.group(3) else span[1] - len(self._row_close)
        cells: dict[int, bytes] = {}
        found: dict[int, re.Match[bytes]] = {}
        last_end = m.end()
        for c in self._cell.finditer(xml, m.end(), body_end):
            col = column_index(c.group(1).decode())
            found[col], cells[col] = c, c.group(0)
            last_end = c.end()
        self._check(m.end(), body_end, None, len(found))
        rest = xml[last_end:body_end]
        row_attrs = attributes(m.group(2))
        row_style = int(row_attrs.get(b"s", b"0")) if row_attrs.get(b"customFormat") in (
            b"1", b"true") else 0
        for col, value in changes.items():
            ref = f"{column_letter(col)}{number}"
            old = found.get(col)
            if header:
                style = _style(old.group(3)) if old else self._header_style(found)
                new = cell_xml(ref, value, style)
            else:
                if old is not None:
                    style = _style(old.group(3))
                    if old.group(4) and b"<" + self.p + b"f" in old.group(4):
                        self._formula_removed(ref, old.group(4))
                else:
                    style = (row_style or self.column_style(col)
                             or (base or self.base_style)(col, value))
                new = cell_xml(ref, value, self.styles.for_value(style, value))
            if new:
                cells[col] = self._x(new)
            else:
                cells.pop(col, None)
        if b"spans" in row_attrs and cells:
            row_attrs[b"spans"] = f"{min(cells) + 1}:{max(cells) + 1}".encode()
        opened = (b"<" + self.p + b'row r="' + str(number).encode() + b'"'
                  + _attr_xml({k: v for k, v in row_attrs.items() if k != b"r"}) + b">")
        return opened + b"".join(cells[c] for c in sorted(cells)) + rest + self._row_close

    def _splice_row(self, span: tuple[int, int], changes: Mapping[int, Value]) -> bytes | None:
        """The row with each changed cell replaced in place; None if a cell must be inserted
        or removed (then the row is rebuilt whole)."""
        xml, start, end = self.xml, span[0], span[1]
        number = xml[start + len(self.p) + 8:xml.index(b'"', start + len(self.p) + 8)].decode()
        replaced: list[tuple[int, int, bytes]] = []
        for col, value in changes.items():
            ref = f"{column_letter(col)}{number}"
            at = xml.find(b"<" + self.p + b'c r="' + ref.encode() + b'"', start, end)
            old = self._cell.match(xml, at, end) if at >= 0 else None
            if old is None:
                return None
            style = _style(old.group(3))
            new = cell_xml(ref, value, self.styles.for_value(style, value))
            if not new:
                return None
            if old.group(4) and b"<" + self.p + b"f" in old.group(4):
                self._formula_removed(ref, old.group(4))
            replaced.append((old.start(), old.end(), self._x(new)))
        self._check(start, end, None, xml.count(b"<" + self.p + b'c r="', start, end))
        replaced.sort()
        pieces, at = [], start
        for cell_start, cell_end, new_cell in replaced:
            pieces += [xml[at:cell_start], new_cell]
            at = cell_end
        pieces.append(xml[at:end])
        return b"".join(pieces)

    def _header_style(self, cells: Mapping[int, re.Match[bytes]]) -> int:
        """A new header cell looks like the last header cell; bold if that has no style."""
        for col in sorted(cells, reverse=True):
            if cells[col].group(4):
                return _style(cells[col].group(3)) or self.styles.bold()
        return self.styles.bold()

    def _formula_removed(self, ref: str, body: bytes) -> None:
        m = self._formula.search(body)
        removed = FormulaRemoved(ref)
        if m:
            a = attributes(m.group(1))
            if a.get(b"t") == b"shared" and b"ref" in a and m.group(2):
                removed = FormulaRemoved(ref, a.get(b"si"), a[b"ref"], decode_text(m.group(2)))
        self.patch.formulas_removed.append(removed)

    def _tail(self, last: int, tail_start: int) -> bytes:
        """Rows after the last valued row: appended rows merged with empty styled rows there."""
        existing: dict[int, tuple[int, int]] = {}
        for m in self._row_open.finditer(self.xml, tail_start, self.end):
            existing[int(m.group(1))] = (m.start(), self._row_end(m.start()))
        self._check(tail_start, self.end, len(existing),
                    self.xml.count(b"<" + self.p + b'c r="', tail_start, self.end))
        first = max(last, 1) + 1
        rows: dict[int, Mapping[int, Value]] = {first + i: r for i, r in enumerate(self.new_rows)}
        if last == 0 and self.header_adds:
            rows[1] = dict(self.header_adds)
        above = ({col: _style(attrs) for col, (attrs, _) in self.row_cells(last).items()}
                 if last > 1 else {})

        def base(col: int, value: Value) -> int:
            return above.get(col) or self.column_style(col) or self.base_style(col, value)

        out: list[bytes] = []
        fresh: list[tuple[int, Mapping[int, Value]]] = []
        for number in sorted(set(existing) | set(rows)):
            values = rows.get(number)
            if values is not None and number not in existing and number != 1:
                fresh.append((number, values))
                continue
            if fresh:
                out.append(self._new_rows(fresh, base))
                fresh = []
            if values is None:
                out.append(self.xml[slice(*existing[number])])
            elif number in existing:
                out.append(self._rebuild_row(existing[number], values, header=number == 1,
                                             base=base))
            else:
                out.append(self._new_row(number, values, header=True))
        if fresh:
            out.append(self._new_rows(fresh, base))
        self.patch.rows_appended = len(self.new_rows)
        if self.new_rows:
            self.patch.last_row_after = first + len(self.new_rows) - 1
        return b"".join(out)

    def _new_rows(self, rows: list[tuple[int, Mapping[int, Value]]], base: BaseStyle) -> bytes:
        """Appended rows, built fast: one style decision per column and kind of value."""
        styles, p = self.styles, self.p.decode()
        columns: dict[int, tuple[int, str, dict[str, str]]] = {}  # col → (col, letter, styles)
        plans: dict[tuple[int, ...], list[tuple[int, str, dict[str, str]]]] = {}
        used = self.patch.appended_columns

        def style_of(col: int, value: Value, decided: dict[str, str]) -> str:
            kind = value_kind(value)
            s = decided.get(kind)
            if s is None:
                style = styles.for_value(base(col, value), value)
                s = decided[kind] = f' s="{style}"' if style else ""
            return s

        texts: dict[str, str] = {}
        dates: dict[object, str] = {}
        out: list[str] = []
        append = out.append
        for number, values in rows:
            append(f'<{p}row r="{number}">')
            keys = tuple(values)
            plan = plans.get(keys)
            if plan is None:
                for col in keys:
                    if col not in columns:
                        columns[col] = (col, column_letter(col), {})
                plan = plans[keys] = [columns[col] for col in sorted(keys)]
            for col, letter, decided in plan:
                value = values[col]
                kind = type(value)
                if kind is str and value:
                    s = decided.get("quoted" if value[0] in "=+-@" else "text")  # type: ignore[index]
                    if s is None:
                        s = style_of(col, value, decided)
                    text = texts.get(value)  # type: ignore[arg-type]
                    if text is None:
                        text = texts[value] = text_element(value)  # type: ignore[index,arg-type]
                    append(f'<c r="{letter}{number}"{s} t="inlineStr"><is>{text}</is></c>')
                elif kind is Decimal or kind is int:
                    s = decided.get("number")
                    if s is None:
                        s = style_of(col, value, decided)
                    text = str(value)
                    if text[-1] > "9":  # NaN or Infinity: a finite number ends in a digit
                        text = number_text(value)  # type: ignore[arg-type]  # raises
                    append(f'<c r="{letter}{number}"{s}><v>{text}</v></c>')
                elif value is None or kind is str:
                    s = decided.get("blank")
                    if s is None:
                        s = style_of(col, None, decided)
                    if s:
                        append(f'<c r="{letter}{number}"{s}/>')
                    continue
                elif (kind is dt.date or kind is dt.datetime) and (
                        value in dates or is_date_value(value)):
                    s = decided.get("datetime" if kind is dt.datetime else "date")
                    if s is None:
                        s = style_of(col, value, decided)
                    text = dates.get(value)
                    if text is None:
                        text = dates[value] = serial(value)  # type: ignore[arg-type]
                    append(f'<c r="{letter}{number}"{s}><v>{text}</v></c>')
                else:
                    append(cell_xml(f"{letter}{number}", value,
                                    styles.for_value(base(col, value), value)))
                if col not in used:
                    used.add(col)
            append(f"</{p}row>")
        return self._x("".join(out))

    def _new_row(self, number: int, values: Mapping[int, Value], header: bool = False,
                 base: BaseStyle | None = None) -> bytes:
        p = self.p.decode()
        parts = [f'<{p}row r="{number}">']
        for col in sorted(values):
            value = values[col]
            ref = f"{column_letter(col)}{number}"
            if header:
                parts.append(f'<c r="{ref}" s="{self.styles.bold()}" t="inlineStr">'
                             f"<is>{text_element(str(value))}</is></c>")
            else:
                style = (base or self.base_style)(col, value)
                parts.append(cell_xml(ref, value, self.styles.for_value(style, value)))
        parts.append(f"</{p}row>")
        return self._x("".join(parts))

    def _dimension(self) -> tuple[int, int, bytes] | None:
        """The `<dimension ref>` grown to cover what was written."""
        m = re.search(rb"<" + re.escape(self.p) + rb'dimension\b[^>]*?\bref="([^"]*)"',
                      self.xml[:self.start])
        if m is None:
            return None
        rows = max(self.patch.last_row_after, 1 if self.header_adds else 0,
                   max(self.changes, default=0))
        cols = max([*self.header_adds, *map(max, filter(None, self.new_rows)),
                    *(c for r in self.changes.values() for c in r)], default=-1)
        ref = m.group(1).decode()
        corners = [_REF.fullmatch(x.encode()) for x in ref.split(":")]
        if (not rows and cols < 0) or not all(corners):
            return None
        first, last = corners[0], corners[-1]
        assert first is not None and last is not None
        lo_col = min(column_index(first.group(1).decode().upper()), max(cols, 0))
        lo_row = min(int(first.group(2)), max(rows, 1))
        hi_col = max(column_index(last.group(1).decode().upper()), cols)
        hi_row = max(int(last.group(2)), rows)
        new = f"{column_letter(lo_col)}{lo_row}:{column_letter(hi_col)}{hi_row}"
        return None if new == ref else (m.start(1), m.end(1), new.encode())


def _normalise(xml: bytes, p: bytes) -> bytes:
    """Give every row and cell an explicit `r` as its first attribute."""
    pe = re.escape(p)
    row_re = re.compile(rb"<" + pe + rb"row\b([^>]*?)(?:/>|>(.*?)</" + pe + rb"row>)", re.DOTALL)
    cell_re = re.compile(rb"<" + pe + rb"c\b([^>]*?)(?:/>|>(.*?)</" + pe + rb"c>)", re.DOTALL)
    number = 0

    def row(m: re.Match[bytes]) -> bytes:
        nonlocal number
        a = attributes(m.group(1))
        number = int(a.pop(b"r", str(number + 1).encode()))
        col = -1

        def cell(c: re.Match[bytes]) -> bytes:
            nonlocal col
            ca = attributes(c.group(1))
            ref = _REF.fullmatch(ca.pop(b"r", b""))
            col = column_index(ref.group(1).decode().upper()) if ref else col + 1
            opened = (b"<" + p + b'c r="' + f"{column_letter(col)}{number}".encode() + b'"'
                      + _attr_xml(ca))
            if c.group(2) is None:
                return opened + b"/>"
            return opened + b">" + c.group(2) + b"</" + p + b"c>"

        opened = b"<" + p + b'row r="' + str(number).encode() + b'"' + _attr_xml(a)
        if m.group(2) is None:
            return opened + b"/>"
        return opened + b">" + cell_re.sub(cell, m.group(2)) + b"</" + p + b"row>"

    start = re.search(rb"<" + pe + rb"sheetData\b[^>]*?>", xml)
    end = xml.rfind(b"</" + p + b"sheetData>")
    if start is None or end < start.end() or xml[start.end() - 2:start.end()] == b"/>":
        return xml
    return xml[:start.end()] + row_re.sub(row, xml[start.end():end]) + xml[end:]


def _hand_over_shared(xml: bytes, removed: list[FormulaRemoved], p: bytes) -> bytes:
    """Make the next cell of each overwritten shared-formula master the new master."""
    from openpyxl.formula.translate import Translator

    pe = re.escape(p)
    for item in removed:
        if item.shared_index is None:
            continue
        pattern = re.compile(rb"<" + pe + rb'c r="([A-Z]{1,3}\d+)"[^>]*?>\s*<' + pe + rb"f\b("
                             rb'[^>]*?\bsi="' + re.escape(item.shared_index)
                             + rb'"[^>]*?)(?:/>|></' + pe + rb"f>)")
        m = pattern.search(xml)
        if m is None:
            continue
        target = m.group(1).decode()
        text = Translator("=" + item.text, origin=item.ref).translate_formula(target)[1:]
        a = attributes(m.group(2))
        a[b"ref"] = item.shared_ref
        new_f = (b"<" + p + b"f" + _attr_xml(a) + b">" + escape_text(text).encode()
                 + b"</" + p + b"f>")
        xml = xml[:m.start(2) - len(b"<" + p + b"f")] + new_f + xml[m.end():]
    return xml
