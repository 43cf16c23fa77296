"""The shared string table read in stretches gives every item the whole table's split gives."""

from __future__ import annotations

import pytest

from ispsheets.book import xlsx_strings
from ispsheets.book.xlsx_strings import SharedStrings

ITEMS = [b"<t>INV-000001</t>", b'<t xml:space="preserve"> padded </t>', b"<t>a &amp; b</t>",
         b"<r><t>rich</t></r><r><t> text</t></r>", b"<t></t>", b"<t>caf\xc3\xa9</t>",
         b"<t>x</t><rPh><t>phonetic</t></rPh>"] * 40


def _table(items: list[bytes]) -> bytes:
    body = b"".join(b"<si>" + item + b"</si>\n" for item in items)
    return (b'<?xml version="1.0"?>\n<sst xmlns="http://schemas.openxmlformats.org/'
            b'spreadsheetml/2006/main" count="%d">' % len(items) + body + b"</sst>")


@pytest.mark.parametrize("chunk", [1, 50, 333, 1 << 18])
def test_each_item_read_by_stretch_is_the_split_one(monkeypatch: pytest.MonkeyPatch,
                                                    chunk: int) -> None:
    monkeypatch.setattr(xlsx_strings, "_CHUNK", chunk)
    xml = _table(ITEMS)
    whole = SharedStrings(xml).items
    lazy = SharedStrings(xml)
    assert len(whole) == len(ITEMS)
    for index in reversed(range(len(ITEMS))):  # the stretches out of order
        assert lazy.item(index) == whole[index]
        assert lazy[index] == SharedStrings(xml)[index]
    assert lazy.item(len(ITEMS)) == b"" and lazy[len(ITEMS)] == "" and lazy[-1] == ""
    assert lazy[1] == " padded " and lazy[2] == "a & b" and lazy[3] == "rich text"
    assert lazy[6] == "x" and lazy[len(ITEMS) - 1] == "x"


def test_a_header_lookup_splits_only_its_stretch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx_strings, "_CHUNK", 1000)
    strings = SharedStrings(_table(ITEMS))
    assert strings[0] == "INV-000001"
    assert strings._items is None and len(strings._stretches) == 1 < len(strings._starts)


def test_tables_in_other_forms_are_split_whole() -> None:
    xml = (b'<sst xmlns="x"><si><t>one</t></si><si/><si><t>three</t></si>'
           b'<si foo="1"><t>four</t></si></sst>')
    strings = SharedStrings(xml)
    assert [strings[i] for i in range(5)] == ["one", "", "three", "four", ""]
    assert SharedStrings(None)[0] == "" and SharedStrings(b"<sst/>").item(0) == b""
