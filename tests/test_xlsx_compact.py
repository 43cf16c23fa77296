"""A write that deletes rows drops the shared strings no cell uses any more (`xlsx_compact`)."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from ispsheets.book import xlsx_compact
from ispsheets.book.changes import AppendRow, ChangeSet, DeleteRow, SetCell
from ispsheets.book.reader import read_xlsx
from ispsheets.book.xlsx_backend import apply_changes
from ispsheets.book.xlsx_strings import SharedStrings

NOW = dt.datetime(2026, 1, 1)
STRINGS = "xl/sharedStrings.xml"
_SI = re.compile(rb"<si>.*?</si>|<si/>", re.DOTALL)
_REF = re.compile(rb'<c [^>]*?t="s"[^>]*>\s*<v>(\d+)</v>')


def _write(path: Path, changes: ChangeSet):
    return apply_changes(path, changes, backup_dir=path.parent / "b", keep_backups=1,
                         expected_fingerprint=None, now=NOW)


def _member(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as package:
        return package.read(name)


def _sheets(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as package:
        return {n: package.read(n) for n in package.namelist() if n.startswith("xl/worksheets/")
                and n.endswith(".xml")}


def _cells(path: Path) -> dict[str, list[list[object]]]:
    """Every cell of every sheet, as openpyxl reads it (rich text as its runs)."""
    book = openpyxl.load_workbook(path, rich_text=True)
    return {ws.title: [[repr(c.value) for c in row] for row in ws.iter_rows()]
            for ws in book.worksheets}


RICH_PARTS = ("plain ", {"bold": True, "font_color": "red"}, "bold red", " tail")
OLD_RICH_PARTS = ({"italic": True}, "old", " italic note")


@pytest.fixture
def book(tmp_path) -> Path:
    """A workbook xlsxwriter writes (every text a shared string; openpyxl here writes inline
    strings): 20 payments, each with texts of its own and the first and last with rich text,
    and a Notes tab sharing texts with the kept rows."""
    path = tmp_path / "isp.xlsx"
    wb = xlsxwriter.Workbook(path)
    formats: dict[str, object] = {}

    def rich(ws, row: int, col: int, parts: tuple) -> None:
        out = [wb.add_format(p) if isinstance(p, dict) else p for p in parts]
        ws.write_rich_string(row, col, *out)

    pay = wb.add_worksheet("Payments")
    pay.write_row(0, 0, ["payment_id", "date", "client_id", "amount", "method", "reference",
                         "invoice_number", "applied_to"])
    formats["date"] = wb.add_format({"num_format": "yyyy-mm-dd"})
    for i in range(1, 21):
        pay.write_row(i, 0, [f"P{i}"])
        pay.write_datetime(i, 1, dt.datetime(2025, 1, i), formats["date"])
        pay.write_row(i, 2, ["C1", i, "cash", f"ref-{i}", f"INV-{i}"])
        if i in (1, 20):
            rich(pay, i, 7, OLD_RICH_PARTS if i == 1 else RICH_PARTS)
        else:
            pay.write_string(i, 7, f"memo {i}")
    notes = wb.add_worksheet("Notes")
    notes.write_row(0, 0, ["C1"])
    rich(notes, 0, 1, RICH_PARTS)
    notes.write_row(0, 2, ["P20", "only in notes"])
    notes.write_row(1, 0, ["ref-19", "cash", "memo 18"])
    wb.close()
    return path


def _delete_first(path: Path, count: int) -> ChangeSet:
    return ChangeSet(deletes=tuple(DeleteRow("Payments", i + 1, {"payment_id": f"P{i}"})
                                   for i in range(1, count + 1)))


def _expected(before: dict, count: int) -> dict:
    after = dict(before)
    after["Payments"] = before["Payments"][:1] + before["Payments"][1 + count:]
    return after


def test_deleting_rows_drops_the_texts_no_cell_uses(book) -> None:
    before, raw_before = _cells(book), read_xlsx(book).sheets
    old_table = _member(book, STRINGS)
    rich_items = [i for i in _SI.findall(old_table) if b"<r>" in i]
    assert len(rich_items) == 2  # openpyxl wrote both rich texts into the table

    written = _write(book, _delete_first(book, 17))

    assert written.rows_deleted == 17
    assert _cells(book) == _expected(before, 17)
    raw_after = read_xlsx(book).sheets
    assert raw_after["Payments"].rows == raw_before["Payments"].rows[:1] + \
        raw_before["Payments"].rows[18:]
    for name in raw_before:
        if name != "Payments":
            assert raw_after[name].rows == raw_before[name].rows, name
    table = _member(book, STRINGS)
    items = _SI.findall(table)
    refs = [int(v) for xml in _sheets(book).values() for v in _REF.findall(xml)]
    assert set(refs) == set(range(len(items)))  # only used items, and every one in the table
    assert len(items) < len(_SI.findall(old_table)) / 2
    assert f'count="{len(refs)}"'.encode() in table
    assert f'uniqueCount="{len(items)}"'.encode() in table
    assert rich_items[1] in items and rich_items[0] not in items  # byte for byte; old one gone
    assert [i for i in _SI.findall(old_table) if i in items] == items  # old order kept


def test_a_write_that_deletes_nothing_leaves_the_table_alone(book) -> None:
    _write(book, _delete_first(book, 17))
    table = _member(book, STRINGS)
    _write(book, ChangeSet(appends=(AppendRow("Payments", {
        "payment_id": "P99", "date": dt.date(2026, 1, 1), "client_id": "C9",
        "amount": Decimal(5)}),)))
    assert _member(book, STRINGS) == table
    assert read_xlsx(book).sheets["Payments"].rows[-1][0] == "P99"


def test_a_few_unused_texts_are_left_where_they_are(book) -> None:
    table = _member(book, STRINGS)
    before = _cells(book)
    _write(book, _delete_first(book, 2))
    assert _member(book, STRINGS) == table
    assert _cells(book) == _expected(before, 2)


def _repack(path: Path, edit) -> None:
    """Rewrite the package with `edit(name, data) -> data`, plus any members it adds."""
    patched = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(patched, "w") as out:
        names = src.namelist()
        for info in src.infolist():
            out.writestr(info, edit(info.filename, src.read(info), names))
        for name, data in edit(None, b"", names) or ():
            out.writestr(name, data)
    patched.replace(path)


def test_a_shared_string_cell_it_cannot_read_leaves_the_table_alone(book) -> None:
    """A `t="s"` cell with a formula before its value: not the form renumbering knows."""
    table = _member(book, STRINGS)

    def edit(name, data, names):
        if name is None:
            return ()
        if name == max(n for n in names if n.startswith("xl/worksheets/sheet")):  # Notes
            data = re.sub(rb'(<c r="A1"[^>]*t="s"[^>]*>)', rb'\1<f>"C1"</f>', data)
            assert b"<f>" in data
        return data

    _repack(book, edit)
    before = _cells(book)
    _write(book, _delete_first(book, 17))
    assert _member(book, STRINGS) == table
    assert _cells(book) == _expected(before, 17)


def test_a_shared_workbook_revision_log_leaves_the_table_alone(book) -> None:
    """Revision logs index the table too: the table is not this writer's to renumber."""
    log = b'<revisions><rcc rId="1"><nc r="A1" t="s"><v>3</v></nc></rcc></revisions>'
    _repack(book, lambda name, data, names: data if name else [("xl/revisions/r1.xml", log)])
    table = _member(book, STRINGS)
    _write(book, _delete_first(book, 17))
    assert _member(book, STRINGS) == table
    assert [r[0] for r in read_xlsx(book).sheets["Payments"].rows[1:]] == ["P18", "P19", "P20"]


def test_texts_left_unused_by_a_write_that_deletes_nothing_stay(book) -> None:
    table = _member(book, STRINGS)
    _write(book, ChangeSet(sets=tuple(SetCell("Payments", f"P{i}", column, "new")
                                      for i in range(1, 21)
                                      for column in ("reference", "invoice_number", "applied_to"))))
    assert _member(book, STRINGS) == table
    assert read_xlsx(book).sheets["Payments"].rows[5][5:7] == ["new", "new"]


def _table(*texts: str, attrs: str = ' count="9" uniqueCount="6"') -> bytes:
    return (f'<?xml version="1.0"?>\n<sst xmlns="main"{attrs}>'
            + "".join(f"<si><t>{t}</t></si>" for t in texts) + "</sst>").encode()


def test_references_are_found_in_any_attribute_order_and_prefix() -> None:
    sheet = (b'<x:row r="1"><x:c t="s" r="A1"><x:v>5</x:v></x:c><x:c r="B1" s="2" t="s">'
             b'<x:v>2</x:v></x:c><x:c r="C1" t="str"><x:v>7</x:v></x:c>'
             b'<x:c r="D1" s="1"><x:v>3</x:v></x:c></x:row>')
    assert xlsx_compact.references(sheet) == [5, 2]
    odd = (b"<c r='A1' t='s'><v>4</v></c><c r=\"B1\"\tt=\"s\"><v>1</v></c>"
           b'<c r="C1" t="s"/><c r="D1" t="inlineStr"><is><t>t="s"</t></is></c>'
           b'<c r="E1" t="s"><v>3</v></c>')
    assert xlsx_compact.references(odd) == [4, 1, 3]
    assert xlsx_compact.references(odd.replace(b'<c r="C1" t="s"/>', b"")) == [4, 1, 3]
    compaction = xlsx_compact.plan(_table("a", "b", "c", "d", "e", "f", "g", "h"), [[4, 1, 3]])
    assert compaction is not None
    assert xlsx_compact.renumbered(odd, compaction) == odd.replace(b"<v>4", b"<v>2").replace(
        b"<v>1", b"<v>0").replace(b"<v>3", b"<v>1")
    compaction = xlsx_compact.plan(_table("a", "b", "c", "d", "e", "f"), [[5, 2]])
    assert compaction is not None
    assert compaction.table.endswith(b' count="2" uniqueCount="2"><si><t>c</t></si>'
                                     b"<si><t>f</t></si></sst>")
    assert xlsx_compact.renumbered(sheet, compaction) == sheet.replace(
        b"<x:v>5</x:v>", b"<x:v>1</x:v>").replace(b"<x:v>2</x:v>", b"<x:v>0</x:v>")


def test_only_sheets_referencing_a_moved_item_are_renumbered() -> None:
    compaction = xlsx_compact.plan(_table("a", "b", "c", "d", "e", "f"), [[0, 2], [0]])
    assert compaction is not None and dict(compaction.renumber) == {0: 0, 2: 1}
    assert compaction.moves(2) and compaction.moves(3)
    assert not compaction.moves(0) and not compaction.moves(-1)


def test_a_table_mostly_in_use_or_a_reference_past_it_is_left_alone() -> None:
    table = _table("a", "b", "c", "d", "e", "f")
    eight = _table("a", "b", "c", "d", "e", "f", "g", "h")
    assert xlsx_compact.plan(eight, [[0, 1, 2, 3, 4, 7]]) is None  # a quarter unused: left
    assert xlsx_compact.plan(eight, [[0, 1, 2, 3, 7]]) is not None
    assert xlsx_compact.plan(table, [[0], [6]]) is None  # index 6: the table has 6 items
    assert xlsx_compact.plan(table, [[0], None]) is None  # a sheet it could not read
    assert xlsx_compact.references(b'<c r="A1" t="s"><f>x</f><v>1</v></c>') is None
    counted = xlsx_compact.plan(_table("a", "b", "c", attrs=""), [[2]])
    assert counted is not None and b'<sst xmlns="main" count="1" uniqueCount="1">' in \
        counted.table


_INLINE = re.compile(rb'<c ([^>]*?)t="inlineStr"([^>]*)><is>(<t(?: [^>]*)?>[^<]*</t>)</is></c>')


def as_saved_by_excel(path: Path) -> int:
    """Move every plain inline text of the workbook into its shared string table, as Excel
    does when the owner saves it; the number of items."""
    old = _member(path, STRINGS)
    table = {item[4:-5]: n for n, item in enumerate(_SI.findall(old))}  # `<t>…</t>` → index

    def shared(m: re.Match[bytes]) -> bytes:
        number = table.setdefault(m.group(3), len(table))
        return b"<c " + m.group(1) + b't="s"' + m.group(2) + b"><v>%d</v></c>" % number

    sheets = {name: _INLINE.sub(shared, xml) for name, xml in _sheets(path).items()}
    head = old[:old.index(b"<si>")]
    items = b"".join(b"<si>" + t + b"</si>" for t in table)

    def edit(name, data, names):
        if name is None:
            return ()
        if name == STRINGS:
            return head + items + b"</sst>"
        return sheets.get(name, data)

    _repack(path, edit)
    return len(table)


def used_items(path: Path) -> tuple[int, set[int]]:
    """The table's items, and the ones the cells of all sheets reference."""
    items = _SI.findall(_member(path, STRINGS))
    refs = {int(v) for xml in _sheets(path).values() for v in _REF.findall(xml)}
    return len(items), refs


def test_a_write_deleting_few_rows_of_a_big_table_does_not_look(book, monkeypatch) -> None:
    table = _member(book, STRINGS)
    items = len(_SI.findall(table))
    assert len(SharedStrings(table)) == items
    assert xlsx_compact.worth_scanning(17, items) and not xlsx_compact.worth_scanning(0, items)
    monkeypatch.setattr(xlsx_compact, "SCAN_SHARE", 18 / items)  # 17 rows: under the share
    before = _cells(book)
    _write(book, _delete_first(book, 17))
    assert _member(book, STRINGS) == table  # the same 17 rows compact the table above
    assert _cells(book) == _expected(before, 17)
