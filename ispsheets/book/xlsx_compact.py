"""Drop the shared strings no cell uses any more, when a write has deleted rows.

The archive moves rows out of the workbook, but their texts stay in `xl/sharedStrings.xml`, so
the table grows with years of history and every run reads all of it. A write that deletes rows
keeps only the items some cell of some sheet still references, in their old order and byte for
byte (rich text too), renumbers the references in every sheet and sets `count`/`uniqueCount`.

Planned only, never guessed: anything this module cannot account for (a cell typed `s` whose
value it cannot read, a reference past the table, revision logs that also point into the table,
a table it cannot split) leaves the table and every sheet exactly as they were.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Compact when more than this share of the table's items are used by no cell. Finding the
# references (every sheet read and scanned) is paid by each write that deletes rows, whatever
# the share; compacting adds about a write of the sheets whose references move. At a quarter the
# table stays within 4/3 of what the cells use, and an archive that moves a twelfth of the rows
# each month compacts about every fourth month.
UNUSED_SHARE = 0.25
# Look for unused items only when the write deletes rows as many as this share of the table's
# items: the month's move of an archive does, the few rows a daily run moves do not (the scan
# costs about two seconds at 20,000 clients), and what they leave unused is dropped with the
# next big move.
SCAN_SHARE = 0.01


def worth_scanning(deleted_rows: int, items: int) -> bool:
    """Could a write deleting `deleted_rows` rows be worth scanning a table of `items` for?"""
    return deleted_rows > 0 and deleted_rows >= SCAN_SHARE * items

_SI = re.compile(rb"<(?:\w+:)?si\b(?:[^>]*?/>|[^>]*>.*?</(?:\w+:)?si\s*>)", re.DOTALL)
_SI_OPEN = re.compile(rb"<(?:\w+:)?si[\s>/]")
_SST = re.compile(rb"<(?:\w+:)?sst\b[^>]*>")
_COUNT = re.compile(rb'(\s(count|uniqueCount)\s*=\s*)(?:"[^"]*"|\'[^\']*\')')
# A shared-string cell's type attribute, the rest of its start tag and its value, if any. The
# value cannot be mistaken for text: a `<` in a text is always escaped.
_S_ANY = re.compile(rb"""\st\s*=\s*["']s["']([^>]*)>(?:<(?:\w+:)?v>(\d+)</)?""")
# The same as every writer writes it (`t="s"` after a space, the value right after the tag):
# found five times as fast, used when every `"s"` of the sheet is such a cell's.
_S_PLAIN = re.compile(rb' t="s"[^>]*><(?:\w+:)?v>(\d+)</')
SHEET_FOLDERS = re.compile(r"(?:^|/)(?:worksheets|macrosheets|dialogsheets)/[^/]+\.xml$")
REVISIONS = re.compile(r"(?:^|/)revisions/")  # shared-workbook logs index the table too


@dataclass(frozen=True)
class Compaction:
    """The new table, and each referenced index's new number."""

    table: bytes
    renumber: Mapping[int, int]
    first_moved: int  # the lowest index whose number changes: sheets below it stay as they are

    def moves(self, highest: int) -> bool:
        """Does a sheet whose highest reference is `highest` (-1: none) need renumbering?"""
        return highest >= self.first_moved


def references(xml: bytes) -> list[int] | None:
    """Every shared-string index the sheet's cells reference; None if some `t="s"` cell's
    value cannot be read (then nothing may be renumbered)."""
    plain = xml.count(b' t="s"')
    if b"'s'" not in xml and xml.count(b'"s"') == plain:
        found = _S_PLAIN.findall(xml)
        if len(found) == plain:
            return [int(number) for number in found]
    refs = []
    for attrs, number in _S_ANY.findall(xml):
        if number:
            refs.append(int(number))
        elif not attrs.endswith(b"/"):  # `<c t="s"/>` is an empty cell; anything else is not
            return None
    return refs


def plan(table: bytes, sheets: Iterable[list[int] | None]) -> Compaction | None:
    """The compacted table for the sheets' references (`references` of each), or None when
    it is not worth doing (few unused items) or not safe (see the module's docstring)."""
    used: set[int] = set()
    count = 0
    for found in sheets:
        if found is None:
            return None
        used.update(found)
        count += len(found)
    plain = b"<si " not in table and b"<si/" not in table and b":si" not in table
    size = table.count(b"<si>") if plain else len(_SI_OPEN.findall(table))
    if used and max(used) >= size:
        return None
    if size - len(used) <= UNUSED_SHARE * size:
        return None
    kept = sorted(used)
    body: list[bytes] = []  # the kept items, split one by one (not 1.5 million matches held)
    start = end = number = -1
    for number, item in enumerate(_SI.finditer(table)):
        if number == 0:
            start = item.start()
        if number in used:
            body.append(item.group(0))
        end = item.end()
    if number + 1 != size:
        return None
    renumber = {old: new for new, old in enumerate(kept)}
    first_moved = next((old for old, new in renumber.items() if old != new), size)
    head = _counted(table[:start], count, len(kept))
    return Compaction(head + b"".join(body) + table[end:], renumber, first_moved)


def _counted(head: bytes, count: int, unique: int) -> bytes:
    """The table's head with its `<sst>` tag's count and uniqueCount set."""
    tag = _SST.search(head)
    if tag is None:
        return head
    values = {b"count": count, b"uniqueCount": unique}
    text = tag.group(0)
    seen: set[bytes] = set()

    def replace(m: re.Match[bytes]) -> bytes:
        seen.add(m.group(2))
        return m.group(1) + b'"' + str(values[m.group(2)]).encode() + b'"'

    text = _COUNT.sub(replace, text)
    missing = b"".join(b" " + name + b'="' + str(value).encode() + b'"'
                       for name, value in values.items() if name not in seen)
    if missing:
        end = len(text) - (2 if text.endswith(b"/>") else 1)
        text = text[:end] + missing + text[end:]
    return head[:tag.start()] + text + head[tag.end():]


def renumbered(xml: bytes, compaction: Compaction) -> bytes:
    """The sheet with its shared-string references renumbered."""
    renumber = compaction.renumber

    def new(m: re.Match[bytes]) -> bytes:
        if m.group(2) is None:
            return m.group(0)
        at, end = m.start(2) - m.start(), m.end(2) - m.start()
        whole = m.group(0)
        return whole[:at] + str(renumber[int(m.group(2))]).encode() + whole[end:]

    return _S_ANY.sub(new, xml)
