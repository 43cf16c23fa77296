"""`xl/sharedStrings.xml`, read lazily: the table is split once, an item decoded when asked for.

The table is never written: new text goes into inline strings, so this part stays byte for byte.
"""

from __future__ import annotations

import re

from ispsheets.book.xlsx_cells import decode_text

_ITEM = re.compile(rb"<(?:\w+:)?si\b[^>]*?(/?)>")
_PHONETIC = re.compile(rb"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", re.DOTALL)
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

    def _split(self) -> list[bytes]:
        if self._items is None:
            xml = self._xml
            if b"<si/>" not in xml and b"<si " not in xml and b":si" not in xml:
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

    @property
    def items(self) -> list[bytes]:
        """The raw bodies of the items, in index order."""
        return self._split()

    def __getitem__(self, index: int) -> str:
        if index not in self._cache:
            items = self._split()
            self._cache[index] = item_text(items[index]) if 0 <= index < len(items) else ""
        return self._cache[index]

