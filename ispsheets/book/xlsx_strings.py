"""`xl/sharedStrings.xml`, read lazily: only the stretches of the table that hold the items asked
for are split, and an item is decoded when asked for.

A workbook Excel has saved keeps every text in this table (1.5 million items, 50 MB at 20,000
clients); a write looks up its header cells and the keys of the rows it changes, so the table is
indexed by counting items in fixed stretches (`_CHUNK`), and a stretch is split only when one of
its items is wanted. New text goes into inline strings, so a write leaves this part byte for
byte, except a write that deletes rows when most of the table is then unused (`xlsx_compact`).
"""

from __future__ import annotations

import re
from bisect import bisect_right

from ispsheets.book.xlsx_cells import decode_text

_ITEM = re.compile(rb"<(?:\w+:)?si\b[^>]*?(/?)>")
_PHONETIC = re.compile(rb"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", re.DOTALL)
_CHUNK = 1 << 18  # bytes of the table per indexed stretch
_TEXT = re.compile(rb"<(?:\w+:)?t\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?t>)", re.DOTALL)


def item_text(item: bytes) -> str:
    """The text of one `<si>` or `<is>` body: every run's `<t>`, phonetic guides left out."""
    if b"<rPh" in item or b":rPh" in item:
        item = _PHONETIC.sub(b"", item)
    parts = [m.group(1) or b"" for m in _TEXT.finditer(item)]
    return decode_text(b"".join(parts))


class SharedStrings:
    """Index → text of the shared string table."""

    def __init__(self, xml: bytes | None) -> None:
        self._xml = xml or b""
        self._items: list[bytes] | None = None
        self._cache: dict[int, str] = {}
        # Items written `<si>` (what Excel, LibreOffice and xlsxwriter write) are found by
        # their opening tag alone; any other form is split once, whole.
        xml = self._xml
        self._plain = b"<si/>" not in xml and b"<si " not in xml and b":si" not in xml
        self._starts: list[int] = []  # where each stretch begins (at an `<si>`)
        self._firsts: list[int] = []  # the index of each stretch's first item
        self._count = -1  # items in the table; -1: not counted yet
        self._stretches: dict[int, list[bytes]] = {}

    def __len__(self) -> int:
        """Items in the table (counted, not split, when it is written the usual way)."""
        if not self._plain:
            return len(self._split())
        if self._count < 0:
            self._index()
        return self._count

    def _split(self) -> list[bytes]:
        if self._items is None:
            xml = self._xml
            if self._plain:
                self._items = xml.split(b"<si>")[1:]
                if self._items:  # the last item also holds the end of the table
                    last = self._items[-1]
                    self._items[-1] = last[:last.rfind(b"</si>") + 5]
            else:
                marks = list(_ITEM.finditer(xml))
                self._items = [
                    b"" if m.group(1) else xml[m.end():marks[i + 1].start() if i + 1 < len(marks)
                                                else len(xml)]
                    for i, m in enumerate(marks)]
        return self._items

    def _index(self) -> None:
        """Where each stretch of the table starts, and its first item's index (counted, not
        split: 50 MB in a few hundredths of a second)."""
        xml, starts, firsts = self._xml, self._starts, self._firsts
        at, count = xml.find(b"<si>"), 0
        while at >= 0:
            starts.append(at)
            firsts.append(count)
            following = xml.find(b"<si>", at + _CHUNK)
            count += xml.count(b"<si>", at, following if following >= 0 else len(xml))
            at = following
        self._count = count

    def _stretch(self, number: int) -> list[bytes]:
        """The raw items of one stretch, as the whole table's split gives them."""
        found = self._stretches.get(number)
        if found is None:
            starts, xml = self._starts, self._xml
            last = number + 1 == len(starts)
            found = xml[starts[number]:len(xml) if last else starts[number + 1]].split(
                b"<si>")[1:]
            if last and found:  # the last item also holds the end of the table
                found[-1] = found[-1][:found[-1].rfind(b"</si>") + 5]
            self._stretches[number] = found
        return found

    def item(self, index: int) -> bytes:
        """The raw body of item `index` (b"" past the end of the table)."""
        if self._items is not None or not self._plain:
            items = self._split()
            return items[index] if 0 <= index < len(items) else b""
        if self._count < 0:
            self._index()
        if not 0 <= index < self._count:
            return b""
        firsts = self._firsts
        number = bisect_right(firsts, index) - 1
        found = self._stretches.get(number)
        if found is None:
            found = self._stretch(number)
        return found[index - firsts[number]]

    @property
    def items(self) -> list[bytes]:
        """The raw bodies of the items, in index order (splits the whole table)."""
        return self._split()

    def __getitem__(self, index: int) -> str:
        if index not in self._cache:
            item = self.item(index)
            self._cache[index] = item_text(item) if item else ""
        return self._cache[index]
