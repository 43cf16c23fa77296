"""Read every tab of a workbook in one pass, exactly as laid out (row 1 = header row)."""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from posixpath import join, normpath
from xml.etree import ElementTree

from python_calamine import CalamineWorkbook, SheetTypeEnum

from ispsheets.book.parse import paused_gc
from ispsheets.book.schema import ACTIVITY, normalise_header
from ispsheets.book.tab_cache import TabCache, tab_key
from ispsheets.book.xlsx_package import Package, PackageError

Rows = list[list[object]]

# Tabs a run only appends to: their rows are read when asked for, their header at once.
HEADER_ONLY_TABS = (ACTIVITY,)


class RawSheet:
    """One tab's cells as raw values; `rows[0]` is sheet row 1, column A is index 0.

    Blank rows and blank leading columns are kept, so a row's index + 1 is its sheet row.
    A sheet may be read lazily: `rows` are then loaded on first use, and `header` comes from
    the first row of the file when it can be read on its own.
    """

    def __init__(self, name: str, rows: Rows | None = None, *,
                 load: Callable[[], Rows] | None = None,
                 header: list[object] | None = None) -> None:
        if rows is None and load is None:
            raise ValueError("a sheet needs its rows or a way to load them")
        self.name = name
        self._rows = rows
        self._load = load
        self._header = header

    @property
    def rows(self) -> Rows:
        if self._rows is None:
            assert self._load is not None
            self._rows = self._load()
        return self._rows

    @property
    def loaded(self) -> bool:
        return self._rows is not None

    @property
    def header(self) -> list[object]:
        if self._rows is None and self._header is not None:
            return self._header
        return self.rows[0] if self.rows else []

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RawSheet) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"RawSheet(name={self.name!r})"


@dataclass(frozen=True)
class RawBook:
    """All tabs of a workbook, in workbook order."""

    sheets: dict[str, RawSheet] = field(hash=False, compare=False)

    @property
    def names(self) -> list[str]:
        return list(self.sheets)


def tidy(rows: Rows) -> Rows:
    """Calamine's rows as the book keeps them: whole numbers as `int`, trailing blank rows
    dropped."""
    while rows and all(v is None or v == "" for v in rows[-1]):
        rows.pop()
    return [[int(v) if type(v) is float and v.is_integer() else v  # type: ignore[attr-defined]
             for v in row] for row in rows]


def raw_sheet(name: str, rows: Rows) -> RawSheet:
    """A tab from calamine's rows: numbers tidied, trailing blank rows dropped."""
    return RawSheet(name, tidy(rows))


def read_xlsx(path: Path, cache: TabCache | None = None) -> RawBook:
    """Every worksheet through calamine, as typed cells with no guessing: text stays text
    (`00123` stays `00123`), dates are `date`/`datetime`, formulas give their cached value,
    blank and error cells give "".

    The Activity tab (a million rows after a year of a big ISP) is only read when its rows
    are used; a normal run needs its header alone, taken from the file's first row. A big
    workbook's largest sheets are parsed in a second thread (calamine lets go of the GIL).
    With a `cache`, a tab whose bytes are the ones read before comes from it, exactly as
    calamine gave it (`tab_cache`)."""
    with paused_gc():
        return _read_xlsx(path, cache)


_SHEET_NAMES = "\0worksheets"  # the cache entry of the workbook's worksheet names
_STRINGS = "\0strings"  # the cache entry of the shared strings header rows were read from


def _read_xlsx(path: Path, cache: TabCache | None = None) -> RawBook:
    opened: list[CalamineWorkbook] = []

    def workbook() -> CalamineWorkbook:  # opened when a tab has to be parsed
        if not opened:
            opened.append(CalamineWorkbook.from_path(str(path)))
        return opened[0]

    def load(name: str) -> Rows:
        return tidy(workbook().get_sheet_by_name(name).to_python(skip_empty_area=False))

    keys = _tab_keys(path) if cache is not None else {}
    names = cache.rows(_SHEET_NAMES, keys[_SHEET_NAMES]) \
        if cache is not None and _SHEET_NAMES in keys else None
    if names is None:
        names = [m.name for m in workbook().sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
        if cache is not None and _SHEET_NAMES in keys:
            cache.keep(_SHEET_NAMES, keys[_SHEET_NAMES], names)  # type: ignore[arg-type]

    known = cache.rows(_STRINGS, keys[_STRINGS]) if cache is not None and _STRINGS in keys \
        else None
    parts = _Headers(path, dict(known) if known is not None else None)  # type: ignore[arg-type]
    headers = {name: parts.first_row(name) for name in names
               if any(normalise_header(name) == normalise_header(t.name)
                      for t in HEADER_ONLY_TABS)}
    if cache is not None and _STRINGS in keys and parts.learned:
        cache.keep(_STRINGS, keys[_STRINGS], [list(item) for item in parts.strings.items()])
    eager = [name for name in names if headers.get(name) is None]
    read: dict[str, Rows] = {}
    if cache is not None:
        for name in eager:
            rows = cache.rows(name, keys[name]) if name in keys else None
            if rows is not None:
                read[name] = rows
    missing = [name for name in eager if name not in read]
    aside = _to_read_aside(missing, parts.sizes()) if missing else []
    with ThreadPoolExecutor(max_workers=1) as pool:
        beside = pool.submit(_read_sheets, path, aside) if aside else None
        for name in missing:
            if name not in aside:
                read[name] = load(name)
        if beside is not None:
            read.update(beside.result())
    if cache is not None:
        for name in missing:
            if name in keys and cache.worth_keeping(name, keys[name]):
                cache.keep(name, keys[name], read[name])
    sheets = {}
    for name in names:
        header = headers.get(name)
        if header is None:
            sheets[name] = RawSheet(name, read[name])
        else:
            sheets[name] = RawSheet(name, load=partial(load, name), header=header)
    return RawBook(sheets)


def _tab_keys(path: Path) -> dict[str, bytes]:
    """Sheet name → its cache key (`tab_cache.tab_key`), and the key of the worksheet names;
    {} for a package read in an unusual way (nothing is cached then)."""
    try:
        package = Package(path.read_bytes())
        parts, strings = _Headers._parts(package)
        shared = ["xl/workbook.xml", "xl/_rels/workbook.xml.rels"]
        shared += [p for p in (strings, _Headers._styles(package)) if p and package.has(p)]

        def member(name: str) -> tuple[str, int, int, int, memoryview]:
            info = package.infos[name]
            return name, info.compress_type, info.file_size, info.CRC, package.raw(name)

        common = [member(name) for name in shared]
        keys = {name: tab_key(name, [member(part), *common]) for name, part in parts.items()
                if package.has(part)}
        keys[_SHEET_NAMES] = tab_key(_SHEET_NAMES, common[:2])
        if strings and package.has(strings):
            keys[_STRINGS] = tab_key(_STRINGS, [member(strings)])
        return keys
    except (KeyError, ValueError, PackageError, ElementTree.ParseError, OSError):
        return {}


ASIDE_MIN_BYTES = 8 << 20  # a sheet part smaller than this is not worth a second thread


def _to_read_aside(names: list[str], sizes: dict[str, int]) -> list[str]:
    """Sheets to parse in a second thread: about half of the work, by XML size, when the
    workbook is big and a second core is free."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    known = sorted((n for n in names if n in sizes), key=lambda n: -sizes[n])
    if cores < 2 or not known or sizes[known[0]] < ASIDE_MIN_BYTES:
        return []
    here, aside, aside_bytes, here_bytes = [], [], 0, 0
    for name in known:
        if aside_bytes <= here_bytes:
            aside.append(name)
            aside_bytes += sizes[name]
        else:
            here.append(name)
            here_bytes += sizes[name]
    return aside


def _read_sheets(path: Path, names: list[str]) -> dict[str, Rows]:
    """Sheets parsed through a workbook of their own (one per thread)."""
    book = CalamineWorkbook.from_path(str(path))
    return {name: tidy(book.get_sheet_by_name(name).to_python(skip_empty_area=False))
            for name in names}


# -- the first row of a sheet, without reading the sheet ----------------------------------------

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_FIRST_ROW = re.compile(rb"<row\b[^>]*?(?:/>|>.*?</row>)", re.DOTALL)
_ROW_NUMBER = re.compile(rb'\br="(\d+)"')
_CELL_REF = re.compile(r"^([A-Z]{1,3})1$")
_ITEM = re.compile(rb"<si\b")
_ITEM_START = re.compile(rb"<si[\s/>]")  # four bytes: never counted twice across chunks
_MAX_HEAD = 4 << 20  # bytes of a sheet part read looking for its first row


class _Unusual(Exception):
    """The first row is not plain text in the usual layout: read the sheet with calamine."""


class _Headers:
    """Row 1 of a sheet, read from the .xlsx parts directly (the sheet's first few kilobytes
    and the shared strings it names). Only text cells in the usual layout are read this way;
    anything else (numbers, dates, prefixed XML, escapes) returns None and calamine reads the
    whole sheet, so the values are always the ones calamine gives.

    `strings` are shared string items read before from this very table (index → text); the
    items found here are added to it."""

    def __init__(self, path: Path, strings: dict[int, str] | None = None) -> None:
        self.path = path
        self.strings = dict(strings or {})
        self.learned = False  # items were added to `strings`

    def sizes(self) -> dict[str, int]:
        """Sheet name → the size of its XML (what parsing it costs); {} if unreadable."""
        try:
            with zipfile.ZipFile(self.path) as zf:
                parts, _ = self._parts(zf)
                return {name: zf.getinfo(part).file_size for name, part in parts.items()}
        except (KeyError, ValueError, zipfile.BadZipFile, ElementTree.ParseError, OSError):
            return {}

    def first_row(self, sheet: str) -> list[object] | None:
        try:
            with zipfile.ZipFile(self.path) as zf:
                parts, strings = self._parts(zf)
                cells = self._cells(zf, parts[sheet])
                return self._resolve(zf, strings, cells)
        except (_Unusual, KeyError, ValueError, zipfile.BadZipFile, ElementTree.ParseError,
                OSError):
            return None

    @staticmethod
    def _styles(zf: zipfile.ZipFile | Package) -> str | None:
        """The styles part (which number formats are dates), if any."""
        rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
        for rel in rels:
            if rel.get("Type", "").endswith("/styles"):
                target = rel.get("Target", "")
                return target[1:] if target.startswith("/") else normpath(join("xl", target))
        return None

    @staticmethod
    def _parts(zf: zipfile.ZipFile | Package) -> tuple[dict[str, str], str | None]:
        """Sheet name → its part, and the shared strings part."""
        workbook = ElementTree.fromstring(zf.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
        targets, strings = {}, None
        for rel in rels:
            target = rel.get("Target", "")
            target = target[1:] if target.startswith("/") else normpath(join("xl", target))
            targets[rel.get("Id")] = target
            if rel.get("Type", "").endswith("/sharedStrings"):
                strings = target
        parts = {s.get("name", ""): targets[s.get(f"{_REL}id")]
                 for s in workbook.iter(f"{_MAIN}sheet")}
        return parts, strings

    @staticmethod
    def _cells(zf: zipfile.ZipFile, part: str) -> list[tuple[int, str, str]]:
        """(column, type, text) of each cell of row 1."""
        data = b""
        with zf.open(part) as stream:
            while True:
                chunk = stream.read(65536)
                data += chunk
                start = data.find(b"<sheetData")
                if start >= 0 and (b"</row>" in data[start:] or b"</sheetData>" in data
                                   or b"<sheetData/>" in data):
                    break
                if not chunk or len(data) > _MAX_HEAD:
                    raise _Unusual
        body = data[start:]
        match = _FIRST_ROW.search(body)
        if b"<sheetData/>" in body[:20] or match is None:
            if b"<row" in body:
                raise _Unusual
            return []  # no rows at all
        row = match.group(0)
        start_tag = row[:row.find(b">") + 1]
        number = _ROW_NUMBER.search(start_tag)
        if number is not None and number.group(1) != b"1":
            return []  # row 1 is blank
        if b"\r" in row or b"&#13;" in row or b"&#xD;" in row.upper():
            raise _Unusual
        # The row's own attributes may use prefixes (Excel's x14ac:dyDescent): drop them.
        inner = b"" if start_tag.endswith(b"/>") else row[len(start_tag):-len(b"</row>")]
        element = ElementTree.fromstring(b"<row>" + inner + b"</row>")
        cells: list[tuple[int, str, str]] = []
        for cell in element:
            if cell.tag != "c":
                raise _Unusual
            ref = cell.get("r")
            if ref is None:
                column = cells[-1][0] + 1 if cells else 0
            else:
                letters = _CELL_REF.match(ref)
                if letters is None:
                    raise _Unusual
                column = _column_index(letters.group(1))
            kind = cell.get("t", "n")
            value = cell.find("v")
            if kind == "s" and value is not None:
                cells.append((column, "s", value.text or ""))
            elif kind == "str":
                cells.append((column, "str", value.text or "" if value is not None else ""))
            elif kind == "inlineStr":
                cells.append((column, "str", _text(cell.find("is"))))
            elif value is None and cell.find("f") is None and cell.find("is") is None:
                cells.append((column, "blank", ""))
            else:
                raise _Unusual  # a number, date, boolean or error: calamine knows best
        return cells

    def _resolve(self, zf: zipfile.ZipFile, strings: str | None,
                 cells: list[tuple[int, str, str]]) -> list[object]:
        wanted = {int(text) for _, kind, text in cells if kind == "s"}
        found = {index: self.strings[index] for index in wanted if index in self.strings}
        if len(found) < len(wanted):
            if strings is None:
                raise _Unusual
            last = max(wanted)
            data = _leading_items(zf, strings, last)
            for index, match in enumerate(_ITEM.finditer(data)):
                if index in wanted:
                    end = data.find(b"</si>", match.start())
                    item = data[match.start():end + 5 if end >= 0 else len(data)]
                    if item.startswith(b"<si/>"):
                        item = b"<si/>"
                    if b"\r" in item or b"&#13;" in item:
                        raise _Unusual
                    found[index] = _text(ElementTree.fromstring(item))
                if index >= last:
                    break
            if len(found) < len(wanted):
                raise _Unusual
            self.strings.update(found)
            self.learned = True
        header: list[object] = []
        for column, kind, text in cells:
            header.extend([""] * (column - len(header)))
            if column < len(header):
                raise _Unusual  # cells out of order
            value = found[int(text)] if kind == "s" else text
            if "_x" in value:
                raise _Unusual  # an _xHHHH_ escape
            header.append(value)
        return header


def _leading_items(zf: zipfile.ZipFile, part: str, last: int) -> bytes:
    """The shared strings part up to and including item `last` (the whole part if shorter):
    a header's strings are usually among the first, and the table can be tens of megabytes."""
    data = bytearray()
    found = 0
    with zf.open(part) as stream:
        while chunk := stream.read(65536):
            start = max(0, len(data) - 3)  # a `<si` split across two chunks
            data += chunk
            found += sum(1 for _ in _ITEM_START.finditer(data, start))
            if found > last + 1:  # item `last + 1` has begun, so item `last` is complete
                break
    return bytes(data)


def _text(element: ElementTree.Element | None) -> str:
    """The text of a string item: its `t` runs, without phonetic (`rPh`) runs."""
    if element is None:
        return ""
    if element.tag not in ("si", "is") or any(
            child.tag not in ("t", "r", "rPh", "phoneticPr") for child in element):
        raise _Unusual
    parts = []
    for child in element:
        if child.tag == "t":
            parts.append(child.text or "")
        elif child.tag == "r":
            parts.extend(t.text or "" for t in child.iter("t"))
    return "".join(parts)


def _column_index(letters: str) -> int:
    index = 0
    for ch in letters:
        index = index * 26 + (ord(ch) - 64)
    return index - 1
