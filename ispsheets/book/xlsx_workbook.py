"""The workbook-level parts: which sheet is which part, new sheets, tables, calcChain.

Edits to `workbook.xml`, the relationships and `[Content_Types].xml` are splices into the
original text, so everything the owner's program wrote there stays as it was.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from lxml import etree

from ispsheets.book.schema import Tab, column_index, column_letter, normalise_header
from ispsheets.book.xlsx_package import Package, PackageError

REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
WORKSHEET_TYPE = REL_NS + "/worksheet"
STYLES_TYPE = REL_NS + "/styles"
WORKSHEET_CONTENT = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
STYLES_CONTENT = "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
_CALC_ANCHORS = (b"sheets", b"functionGroups", b"externalReferences", b"definedNames")


def parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml, _PARSER)


@dataclass(frozen=True)
class SheetPart:
    name: str
    part: str  # zip member name, e.g. xl/worksheets/sheet1.xml
    is_worksheet: bool


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1]


def resolve(base_part: str, target: str) -> str:
    """A relationship target as a zip member name."""
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(base_part), target))


def rels_part(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", name + ".rels")


def _splice_before_close(xml: bytes, element: bytes, addition: bytes) -> bytes:
    """Insert `addition` before the closing tag of `element` (any namespace prefix)."""
    closes = list(re.finditer(rb"</(?:\w+:)?" + element + rb"\s*>", xml))
    if closes:
        return xml[:closes[-1].start()] + addition + xml[closes[-1].start():]
    empty = re.search(rb"<((?:\w+:)?" + element + rb")\b([^>]*?)/>", xml)
    if empty is None:
        raise PackageError(f"no <{element.decode()}> element")
    return (xml[:empty.start()] + b"<" + empty.group(1) + empty.group(2) + b">" + addition
            + b"</" + empty.group(1) + b">" + xml[empty.end():])


class Workbook:
    """`xl/workbook.xml` with its relationships and the content types, edited in place."""

    def __init__(self, package: Package) -> None:
        self.package = package
        self.part = self._main_part()
        self.xml = package.read(self.part)
        self.rels_name = rels_part(self.part)
        self.rels = package.read(self.rels_name) if package.has(self.rels_name) else (
            b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            b'<Relationships xmlns="' + PKG_REL_NS.encode() + b'"></Relationships>')
        self.types = package.read("[Content_Types].xml")
        self.changed: set[str] = set()
        self.dropped: set[str] = set()
        root = parse(self.xml)
        self.prefix = root.prefix
        self._relations = {r.get("Id"): (r.get("Type", ""), r.get("Target", ""))
                           for r in parse(self.rels)}
        self.sheets: list[SheetPart] = []
        self._sheet_ids: list[int] = []
        for sheet in root.iter(f"{{{root.nsmap.get(root.prefix, MAIN_NS)}}}sheet"):
            rel_type, target = self._relations.get(sheet.get(f"{{{REL_NS}}}id"), ("", ""))
            self.sheets.append(SheetPart(sheet.get("name", ""), resolve(self.part, target),
                                         rel_type.endswith("/worksheet")))
            self._sheet_ids.append(int(sheet.get("sheetId", "0")))

    def _main_part(self) -> str:
        rels = parse(self.package.read("_rels/.rels"))
        for rel in rels:
            if rel.get("Type", "").endswith("/officeDocument"):
                return resolve("", rel.get("Target", ""))
        raise PackageError("no workbook part")

    def related(self, kind: str) -> str | None:
        """The member name of the workbook's part of relationship type `kind`."""
        for rel_type, target in self._relations.values():
            if rel_type.endswith("/" + kind):
                return resolve(self.part, target)
        return None

    def find(self, tab_name: str) -> SheetPart | None:
        """The sheet named like `tab_name` (matched like headers, or as it was created)."""
        wanted = {normalise_header(tab_name), normalise_header(sheet_name(tab_name, []))}
        return next((s for s in self.sheets if normalise_header(s.name) in wanted), None)

    def _new_rel_id(self) -> str:
        taken = set(self._relations)
        number = len(taken) + 1
        while f"rId{number}" in taken:
            number += 1
        return f"rId{number}"

    def _relate(self, rel_type: str, target: str) -> str:
        rel_id = self._new_rel_id()
        self._relations[rel_id] = (rel_type, target)
        self.rels = _splice_before_close(
            self.rels, b"Relationships",
            f'<Relationship Id="{rel_id}" Type="{rel_type}" Target="{target}"/>'.encode())
        self.changed.add(self.rels_name)
        return rel_id

    def _declare(self, part: str, content_type: str) -> None:
        self.types = _splice_before_close(
            self.types, b"Types",
            f'<Override PartName="/{part}" ContentType="{content_type}"/>'.encode())
        self.changed.add("[Content_Types].xml")

    def declare(self, part: str, content_type: str) -> None:
        """Give a new part its content type."""
        self._declare(part, content_type)

    def add_sheet(self, name: str) -> SheetPart:
        """A new, empty worksheet part at the end of the workbook."""
        taken = set(self.package.names) | {s.part for s in self.sheets}
        folder = posixpath.dirname(self.part)
        number = 1
        while posixpath.join(folder, f"worksheets/sheet{number}.xml") in taken:
            number += 1
        part = posixpath.join(folder, f"worksheets/sheet{number}.xml")
        rel_id = self._relate(WORKSHEET_TYPE, f"worksheets/sheet{number}.xml")
        self._declare(part, WORKSHEET_CONTENT)
        name = sheet_name(name, [s.name for s in self.sheets])
        sheet_id = max(self._sheet_ids, default=0) + 1
        self._sheet_ids.append(sheet_id)
        p = f"{self.prefix}:" if self.prefix else ""
        # declared on the element itself: some writers declare it per <sheet>, not on the root
        element = (f"<{p}sheet xmlns:r=\"{REL_NS}\" name={quoteattr(name)} "
                   f"sheetId=\"{sheet_id}\" r:id=\"{rel_id}\"/>")
        self.xml = _splice_before_close(self.xml, b"sheets", element.encode())
        self.changed.add(self.part)
        sheet = SheetPart(name, part, True)
        self.sheets.append(sheet)
        return sheet

    def add_styles(self) -> str:
        part = posixpath.join(posixpath.dirname(self.part), "styles.xml")
        self._relate(STYLES_TYPE, "styles.xml")
        self._declare(part, STYLES_CONTENT)
        return part

    def drop_calc_chain(self) -> None:
        """Remove `calcChain.xml` (Excel rebuilds it) after a formula was overwritten."""
        part = self.related("calcChain")
        if part is None:
            return
        self.rels = re.sub(rb"<(?:\w+:)?Relationship\b[^>]*?/calcChain\"[^>]*?/>", b"",
                           self.rels)
        self.types = re.sub(rb"<(?:\w+:)?Override\b[^>]*?PartName=\"/" + re.escape(part.encode())
                            + rb"\"[^>]*?/>", b"", self.types)
        self._relations = {k: v for k, v in self._relations.items()
                           if not v[0].endswith("/calcChain")}
        self.changed |= {self.rels_name, "[Content_Types].xml"}
        self.dropped.add(part)

    def recalculate_on_load(self) -> None:
        """Ask Excel to recalculate the owner's formulas when it opens the file."""
        m = re.search(rb"<((?:\w+:)?calcPr)\b([^>]*?)(/?)>", self.xml)
        if m:
            attrs = m.group(2)
            if re.search(rb'\bfullCalcOnLoad="(1|true)"', attrs):
                return
            attrs = re.sub(rb'\s*\bfullCalcOnLoad="[^"]*"', b"", attrs)
            self.xml = (self.xml[:m.start()] + b"<" + m.group(1) + attrs
                        + b' fullCalcOnLoad="1"' + m.group(3) + b">" + self.xml[m.end():])
        else:
            p = f"{self.prefix}:".encode() if self.prefix else b""
            at = 0
            for anchor in _CALC_ANCHORS:
                for found in re.finditer(rb"</(?:\w+:)?" + anchor + rb">|<(?:\w+:)?" + anchor
                                         + rb"\b[^>]*/>", self.xml):
                    at = max(at, found.end())
            if not at:
                return
            self.xml = self.xml[:at] + b"<" + p + b'calcPr fullCalcOnLoad="1"/>' + self.xml[at:]
        self.changed.add(self.part)

    def member(self, name: str) -> bytes:
        return {self.part: self.xml, self.rels_name: self.rels,
                "[Content_Types].xml": self.types}[name]


def sheet_name(wanted: str, taken: list[str]) -> str:
    """A tab name Excel accepts: 1-31 characters, none of []:*?/\\, not taken (any case)."""
    name = re.sub(r"[\[\]:*?/\\]", "", wanted).strip("' ")[:31] or "Sheet"
    used = {t.lower() for t in taken}
    number = 1
    candidate = name
    while candidate.lower() in used:
        number += 1
        candidate = f"{name[:31 - len(str(number)) - 1]} {number}"
    return candidate


def new_sheet_xml(tab: Tab | None, names: list[str]) -> bytes:
    """An empty worksheet with the schema's column widths and a frozen header row."""
    widths = {c.name: c.width for c in tab.columns} if tab else {}
    cols = "".join(f'<col min="{i + 1}" max="{i + 1}" width="{widths.get(n, 14)}" '
                   f'customWidth="1"/>' for i, n in enumerate(names))
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><dimension ref="A1"/>'
            f'<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
            f'activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft" '
            f'activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
            f'<sheetFormatPr defaultRowHeight="15"/>{f"<cols>{cols}</cols>" if cols else ""}'
            f'<sheetData/><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" '
            f'header="0.3" footer="0.3"/></worksheet>').encode()


def _box(ref: str) -> tuple[int, int, int, int] | None:
    m = re.fullmatch(r"\$?([A-Z]{1,3})\$?(\d+):\$?([A-Z]{1,3})\$?(\d+)", ref)
    if m is None:
        return None
    return column_index(m[1]), int(m[2]), column_index(m[3]), int(m[4])


def grow_tables(package: Package, sheet_part: str, last_before: int, last_after: int,
                columns: set[int]) -> dict[str, bytes]:
    """Tables on the sheet that end at the old last row, extended over the appended rows."""
    rels_name = rels_part(sheet_part)
    if last_after <= last_before or not package.has(rels_name):
        return {}
    grown: dict[str, bytes] = {}
    for rel in parse(package.read(rels_name)):
        if not rel.get("Type", "").endswith("/table") or rel.get("TargetMode") == "External":
            continue
        part = resolve(sheet_part, rel.get("Target", ""))
        if not package.has(part):
            continue
        xml = package.read(part)
        root = parse(xml)
        box = _box(root.get("ref", ""))
        if box is None or int(root.get("totalsRowCount", "0") or 0):
            continue
        left, top, right, bottom = box
        if not (top <= last_before <= bottom < last_after):
            continue
        if not any(left <= c <= right for c in columns):
            continue
        old = root.get("ref", "")
        new = f"{column_letter(left)}{top}:{column_letter(right)}{last_after}"
        grown[part] = re.sub(rb'(\bref=")' + re.escape(old.encode()) + rb'"',
                             rb"\g<1>" + new.encode() + b'"', xml)
    return grown
