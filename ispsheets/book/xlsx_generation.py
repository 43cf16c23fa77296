"""The write generation stamped into the workbook's own document properties.

Every write the tool makes to the workbook has a number (its journal `writes.gen`), kept as the
custom document property `ispsheets_write` (`docProps/custom.xml`; in Excel: File > Info >
Properties > Advanced > Custom). Excel and LibreOffice keep custom properties when they save, so
a workbook that shows an older number than the journal's last write is an older copy (a backup
put back), and one that shows a newer number than the journal knows has an older journal.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import Path

from lxml import etree

from ispsheets.book.xlsx_package import PackageError

PROPERTY = "ispsheets_write"
CUSTOM_PART = "docProps/custom.xml"
CUSTOM_TYPE = ("http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
               "custom-properties")
CUSTOM_CONTENT = "application/vnd.openxmlformats-officedocument.custom-properties+xml"
_NS = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"
_VT = "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"
_FMTID = "{D5CDD505-2E9C-101B-9397-08002B2CF9AE}"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)
_EMPTY = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
          b'<Properties xmlns="' + _NS.encode() + b'" xmlns:vt="' + _VT.encode() + b'"/>')


def custom_part(package_rels: bytes | None) -> str | None:
    """The member the package's relationships name for custom properties, if any."""
    if not package_rels:
        return None
    for rel in etree.fromstring(package_rels, _PARSER):
        if rel.get("Type", "") == CUSTOM_TYPE:
            return posixpath.normpath(rel.get("Target", "").lstrip("/"))
    return None


def generation_in(custom_xml: bytes) -> int | None:
    """The `ispsheets_write` number in a custom-properties part; None if it has none."""
    try:
        root = etree.fromstring(custom_xml, _PARSER)
    except etree.XMLSyntaxError:
        return None
    for prop in root:
        if prop.get("name") == PROPERTY:
            text = "".join(prop.itertext()).strip()
            return int(text) if text.isdigit() else None
    return None


def read_generation(path: Path) -> int | None:
    """The generation stamped into the workbook at `path`; None for a workbook the tool never
    stamped (or any file that cannot be read as a zip package: reading reports that)."""
    try:
        with zipfile.ZipFile(path) as package:
            names = set(package.namelist())
            rels = package.read("_rels/.rels") if "_rels/.rels" in names else None
            part = custom_part(rels)
            if part is None or part not in names:
                return None
            return generation_in(package.read(part))
    except (OSError, zipfile.BadZipFile, etree.XMLSyntaxError, KeyError):
        return None


def stamped(custom_xml: bytes | None, generation: int) -> bytes:
    """The custom-properties part with `ispsheets_write` set to `generation` (the owner's own
    properties kept)."""
    root = etree.fromstring(custom_xml or _EMPTY, _PARSER)
    prop = next((p for p in root if p.get("name") == PROPERTY), None)
    if prop is None:
        pids = [int(p.get("pid", "1")) for p in root if p.get("pid", "").isdigit()]
        prop = etree.SubElement(root, f"{{{_NS}}}property", fmtid=_FMTID,
                                pid=str(max(pids, default=1) + 1), name=PROPERTY)
    for child in list(prop):
        prop.remove(child)
    etree.SubElement(prop, f"{{{_VT}}}i4").text = str(generation)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def related(package_rels: bytes) -> bytes:
    """The package relationships with one to the custom-properties part added."""
    taken = set(re.findall(rb'\bId="([^"]*)"', package_rels))
    number = len(taken) + 1
    while f"rId{number}".encode() in taken:
        number += 1
    element = (f'<Relationship Id="rId{number}" Type="{CUSTOM_TYPE}" '
               f'Target="{CUSTOM_PART}"/>').encode()
    closes = list(re.finditer(rb"</(?:\w+:)?Relationships\s*>", package_rels))
    if not closes:
        raise PackageError("_rels/.rels has no <Relationships> element")
    at = closes[-1].start()
    return package_rels[:at] + element + package_rels[at:]
