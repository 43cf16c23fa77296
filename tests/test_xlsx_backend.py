"""The `.xlsx` write-back, on real workbooks: the owner's work survives, tool cells are right."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from lxml import etree
from python_calamine import CalamineWorkbook

from ispsheets.book.changes import AppendRow, ChangeSet, FillKey, SetCell
from ispsheets.book.reader import read_xlsx
from ispsheets.book.xlsx_backend import apply_changes, fingerprint

D = Decimal
NOW = dt.datetime(2026, 2, 1, 10, 0, 0)


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def sheet_xml(path: Path, tab: str) -> str:
    """The XML of the worksheet part holding `tab`."""
    wb = openpyxl.load_workbook(path, read_only=True)
    index = wb.sheetnames.index(tab)
    wb.close()
    with zipfile.ZipFile(path) as z:
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
        book = z.read("xl/workbook.xml").decode()
        rid = re.findall(r'<sheet [^>]*r:id="(\w+)"', book)[index]
        target = re.search(rf'Id="{rid}"[^>]*Target="([^"]+)"|Target="([^"]+)"[^>]*Id="{rid}"',
                           rels)
        assert target
        return z.read("xl/" + (target[1] or target[2]).lstrip("/").removeprefix("xl/")).decode()


def apply(path: Path, changes: ChangeSet, **kw: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {"backup_dir": path.parent / "backups", "keep_backups": 3,
                                  "expected_fingerprint": fingerprint(path), "now": NOW}
    options.update(kw)
    return apply_changes(path, changes, **options)  # type: ignore[arg-type]


def rows(path: Path, tab: str) -> list[list[object]]:
    return read_xlsx(path).sheets[tab].rows


def owner_book(path: Path) -> Path:
    """A workbook as an owner keeps it: sorted rows, an own column, colours, a formula with its
    cached value, validation, conditional formatting, a merged note, a comment, a name, a table."""
    wb = xlsxwriter.Workbook(str(path))
    header = wb.add_format({"bold": True, "bg_color": "#FFFF00"})
    money = wb.add_format({"num_format": "$#,##0.00", "font_color": "#0000FF"})
    day = wb.add_format({"num_format": "dd/mm/yyyy"})
    red = wb.add_format({"font_color": "#9C0006", "bg_color": "#FFC7CE"})
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, ["Client ID", "Name", "email", "status", "balance", "Owed x2", "My notes"],
                 header)
    clients = [("C3", "Cid", "c@x.com", 30), ("C1", "Ann", "a@x.com", 10),
               ("00123", "Zed", "z@x.com", 5), (123, "Num", "n@x.com", 0)]
    for r, (key, name, email, balance) in enumerate(clients, start=1):
        ws.write(r, 0, key)
        ws.write_row(r, 1, [name, email, "active"])
        ws.write_number(r, 4, balance, money)
        ws.write_formula(r, 5, f"=E{r + 1}*2", money, balance * 2)
    ws.write_string(1, 6, "pays late")
    ws.set_column("A:A", 11)
    ws.set_column("B:B", 25)
    ws.freeze_panes(1, 0)
    ws.data_validation("D2:D500", {"validate": "list",
                                   "source": ["active", "suspended", "cancelled"]})
    ws.conditional_format("E2:E500", {"type": "cell", "criteria": ">", "value": 100,
                                      "format": red})
    ws.merge_range("I1:J1", "merged note", header)
    ws.write_comment("A2", "biggest client")
    wb.define_name("FirstBalance", "=Clients!$E$2")
    inv = wb.add_worksheet("Invoices")
    inv.write_row(0, 0, ["invoice_number", "client_id", "issue_date", "total", "status"])
    inv.write_row(1, 0, ["INV-00001", "C1"])
    inv.write_datetime(1, 2, dt.datetime(2026, 1, 1), day)
    inv.write_number(1, 3, 54.11, money)
    inv.write_string(1, 4, "open")
    pay = wb.add_worksheet("Payments")
    pay.add_table("A1:E3", {"columns": [{"header": h} for h in
                                        ("payment_id", "date", "client_id", "amount", "method")],
                            "data": [["PAY-1", "2026-01-02", "C1", 10, "cash"],
                                     ["PAY-2", "2026-01-03", "C3", 20, "check"]]})
    ch = wb.add_worksheet("Charges")
    ch.write_row(0, 0, ["charge_id", "client_id", "date", "description", "amount",
                        "invoice_number"])
    ch.write_row(1, 0, ["", "C1"])
    ch.write_datetime(1, 2, dt.datetime(2026, 1, 5), day)
    ch.write_string(1, 3, "Router")
    ch.write_number(1, 4, 25, money)
    ch.write_row(2, 0, ["CHG-00001", "C3", "2026-01-06", "Cable", 5])
    wb.close()
    return path


def test_round_trip_keeps_the_owners_work_and_writes_tool_cells(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    before = members(book)
    changes = ChangeSet(
        fills=(FillKey("Charges", 2, "charge_id", "CHG-00002",
                       {"client_id": "C1", "date": "2026-01-05", "description": "Router",
                        "amount": "25"}),),
        sets=(SetCell("Clients", "C1", "balance", D("12.30")),
              SetCell("Clients", "C3", "stripe_customer_id", "cus_9"),
              SetCell("Charges", "CHG-00002", "invoice_number", "INV-00002"),
              SetCell("Invoices", "INV-00001", "status", "paid")),
        appends=(AppendRow("Invoices", {"invoice_number": "INV-00002", "client_id": "C1",
                                        "issue_date": dt.date(2026, 2, 1), "total": D("49.99"),
                                        "sent_at": dt.datetime(2026, 2, 1, 9, 30)}),
                 AppendRow("Payments", {"payment_id": "PAY-3", "client_id": "C1",
                                        "amount": D("12.30"), "method": "card"}),
                 AppendRow("Activity", {"timestamp": dt.datetime(2026, 2, 1, 9, 30, 5),
                                        "action": "invoice_issued", "client_id": "C1",
                                        "invoice_number": "INV-00002"})))
    result = apply(book, changes)

    assert (result.cells_set, result.keys_filled, result.rows_appended) == (4, 1, 3)
    assert result.missing_keys == () and result.unmatched_fills == ()
    # calamine (the tool's reader): cached formula values and the tool cells, typed
    clients = rows(book, "Clients")
    assert [r[0] for r in clients] == ["Client ID", "C3", "C1", "00123", 123]  # order kept
    assert clients[2][4] == 12.3 and clients[2][5] == 20  # new balance; old cached value
    assert clients[0][-1] == "stripe_customer_id" and clients[1][-1] == "cus_9"
    invoices = rows(book, "Invoices")
    assert invoices[1][4] == "paid"
    assert invoices[2][:4] == ["INV-00002", "C1", dt.date(2026, 2, 1), 49.99]
    assert dt.datetime(2026, 2, 1, 9, 30) in invoices[2]
    assert rows(book, "Charges")[1][0] == "CHG-00002"
    assert rows(book, "Charges")[1][5] == "INV-00002"
    assert rows(book, "Activity")[1][:2] == [dt.datetime(2026, 2, 1, 9, 30, 5), "invoice_issued"]
    # the raw XML: the formula with its cached value, the money exactly as Decimal text
    xml = sheet_xml(book, "Clients")
    assert "<f>E3*2</f><v>20</v>" in xml and "<v>12.30</v>" in xml
    # openpyxl: formats, widths, panes, validation, conditional formats, merges, names, comments
    wb = openpyxl.load_workbook(book)
    ws = wb["Clients"]
    assert ws["F3"].value == "=E3*2"
    assert ws["A1"].fill.fgColor.rgb == "FFFFFF00" and ws["A1"].font.b
    assert ws["E3"].number_format == "$#,##0.00" and ws["E3"].font.color.rgb == "FF0000FF"
    assert ws.column_dimensions["B"].width == 25.7109375
    assert ws.freeze_panes == "A2"
    assert [str(v.sqref) for v in ws.data_validations.dataValidation] == ["D2:D500"]
    assert [str(r.sqref) for r in ws.conditional_formatting] == ["E2:E500"]
    assert [str(m) for m in ws.merged_cells.ranges] == ["I1:J1"]
    assert ws["A2"].comment.text.startswith("biggest client")
    assert wb.defined_names["FirstBalance"].attr_text == "Clients!$E$2"
    assert wb["Payments"].tables["Table1"].ref == "A1:E4"  # the table grew over the new row
    assert wb["Invoices"]["C3"].number_format == "dd/mm/yyyy"  # style of the cell above
    assert wb["Invoices"]["D3"].number_format == "$#,##0.00"
    # everything not written is byte for byte the owner's
    after = members(book)
    changed = {n for n in before if after.get(n) != before[n]}
    assert changed <= {"[Content_Types].xml", "xl/_rels/workbook.xml.rels", "xl/workbook.xml",
                       "xl/styles.xml", "xl/tables/table1.xml", "xl/worksheets/sheet1.xml",
                       "xl/worksheets/sheet2.xml", "xl/worksheets/sheet3.xml",
                       "xl/worksheets/sheet4.xml"}
    assert after["xl/sharedStrings.xml"] == before["xl/sharedStrings.xml"]
    assert after["xl/comments1.xml"] == before["xl/comments1.xml"]
    for name, data in after.items():  # every part is well-formed XML
        if name.endswith((".xml", ".rels")):
            etree.fromstring(data)


def test_untouched_members_are_byte_identical_on_a_quiet_day(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    before = members(book)
    apply(book, ChangeSet(sets=(SetCell("Clients", "C3", "balance", D("31.50")),)))
    after = members(book)
    assert set(after) == set(before)
    assert [n for n in before if after[n] != before[n]] == ["xl/worksheets/sheet1.xml"]
    clients = sheet_xml(book, "Clients")
    assert clients.replace("<v>31.50</v>", "<v>30</v>") == before[
        "xl/worksheets/sheet1.xml"].decode()


def test_hyperlink_formula_from_a_client_is_stored_as_text(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    evil = '=HYPERLINK("http://evil.example","Click")'
    apply(book, ChangeSet(
        sets=(SetCell("Clients", "C1", "stripe_customer_id", "+1-555"),),
        appends=(AppendRow("Activity", {"action": "row_skipped", "detail": evil}),
                 AppendRow("Activity", {"action": "row_skipped", "detail": "@SUM(A1)"}))))
    activity = rows(book, "Activity")
    assert [r[4] for r in activity[1:]] == [evil, "@SUM(A1)"]
    xml = sheet_xml(book, "Activity")
    assert "<f>" not in xml and 't="inlineStr"' in xml
    wb = openpyxl.load_workbook(book)
    cell = wb["Activity"]["E2"]
    assert cell.data_type == "s" and cell.quotePrefix  # Excel keeps it text when retyped
    assert wb["Clients"]["K3"].value == "+1-555"  # past the merged I1:J1


def test_key_00123_is_found_and_stays_text_and_123_typed_as_a_number_is_key_123(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    result = apply(book, ChangeSet(sets=(SetCell("Clients", "00123", "balance", D("7.25")),
                                         SetCell("Clients", "123", "balance", D("1.10")),
                                         SetCell("Clients", "0123", "balance", D("9")))))
    assert [s.key for s in result.missing_keys] == ["0123"]
    clients = rows(book, "Clients")
    assert clients[3][0] == "00123" and clients[3][4] == 7.25
    assert clients[4][0] == 123 and clients[4][4] == 1.1


def test_key_written_inline_by_an_earlier_run_is_found(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    apply(book, ChangeSet(appends=(AppendRow("Invoices", {"invoice_number": "INV-00007",
                                                          "total": D("5.00")}),)))
    assert 'inlineStr"><is><t>INV-00007</t>' in sheet_xml(book, "Invoices")
    result = apply(book, ChangeSet(sets=(SetCell("Invoices", "INV-00007", "status", "void"),)))
    assert result.cells_set == 1
    assert rows(book, "Invoices")[2][4] == "void"


def test_a_key_on_several_rows_sets_every_one_of_them(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    apply(book, ChangeSet(appends=(AppendRow("Invoices", {"invoice_number": "INV-00001"}),)))
    result = apply(book, ChangeSet(sets=(SetCell("Invoices", "INV-00001", "total", D("1")),)))
    assert result.cells_set == 2
    assert [r[3] for r in rows(book, "Invoices")[1:]] == [1, 1]


def test_missing_tool_tab_is_created_with_a_bold_frozen_header_and_every_column(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    apply(book, ChangeSet(appends=(AppendRow("Invoice Lines", {
        "invoice_number": "INV-00002", "line": 1, "amount": D("49.99"),
        "period_start": dt.date(2026, 2, 1)}),)))
    wb = openpyxl.load_workbook(book)
    assert wb.sheetnames[-1] == "InvoiceLines"
    ws = wb["InvoiceLines"]
    assert [c.value for c in ws[1]] == ["invoice_number", "line", "service_id", "description",
                                        "period_start", "period_end", "quantity", "unit_price",
                                        "amount", "tax_rate", "tax"]
    assert all(c.font.b for c in ws[1])
    assert ws.freeze_panes == "A2" and ws.column_dimensions["D"].width == 40
    assert ws["I2"].number_format == "#,##0.00" and ws["E2"].number_format == "yyyy-mm-dd"
    assert rows(book, "InvoiceLines")[1][:2] == ["INV-00002", 1]
    assert rows(book, "InvoiceLines")[1][4] == dt.date(2026, 2, 1)


def test_missing_column_is_added_at_the_end_of_row_1_in_the_owners_header_style(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    apply(book, ChangeSet(sets=(SetCell("Invoices", "INV-00001", "pay_link", "https://p/1"),)))
    wb = openpyxl.load_workbook(book)
    ws = wb["Invoices"]
    header = [c.value for c in ws[1]]
    # a tool tab gets all its columns; the owner's five stay where they were
    assert header[:5] == ["invoice_number", "client_id", "issue_date", "total", "status"]
    assert sorted(header[5:]) == sorted(["period_start", "period_end", "due_date", "subtotal",
                                         "tax", "paid", "balance", "sent_at", "reminder_stage",
                                         "pay_link"])
    assert ws.cell(2, header.index("pay_link") + 1).value == "https://p/1"
    assert ws.dimensions == "A1:O2"
    clients = sheet_xml(book, "Clients")
    assert "stripe_customer_id" not in clients  # owner tab: only columns written are added


def test_owner_column_after_the_header_is_not_taken_for_a_new_column(tmp_path: Path):
    book = tmp_path / "book.xlsx"
    wb = xlsxwriter.Workbook(str(book))
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, ["client_id", "balance"])
    ws.write_row(1, 0, ["C1", 5, None, "note without a header"])
    wb.close()
    apply(book, ChangeSet(sets=(SetCell("Clients", "C1", "stripe_customer_id", "cus_1"),)))
    assert rows(book, "Clients") == [["client_id", "balance", "", "", "stripe_customer_id"],
                                     ["C1", 5, "", "note without a header", "cus_1"]]


def test_fill_writes_the_key_only_into_the_row_that_still_shows_what_was_read(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    read = {"client_id": "C1", "date": "2026-01-05", "description": "Router", "amount": "25.00"}
    moved = {**read, "description": "Modem"}  # the owner edited the row after the tool read it
    result = apply(book, ChangeSet(fills=(FillKey("Charges", 2, "charge_id", "CHG-00009", moved),
                                          FillKey("Charges", 3, "charge_id", "CHG-00010", read),
                                          FillKey("Charges", 9, "charge_id", "CHG-00011", read))))
    assert result.keys_filled == 0 and len(result.unmatched_fills) == 3
    assert [r[0] for r in rows(book, "Charges")] == ["charge_id", "", "CHG-00001"]
    result = apply(book, ChangeSet(fills=(FillKey("Charges", 2, "charge_id", "CHG-00009", read),)))
    assert result.keys_filled == 1
    assert rows(book, "Charges")[1][0] == "CHG-00009"
    again = apply(book, ChangeSet(fills=(FillKey("Charges", 2, "charge_id", "CHG-00009", read),)))
    assert again.keys_filled == 1 and again.unmatched_fills == ()  # already there: done


def test_fill_matches_a_date_typed_as_day_month_year_text(tmp_path: Path):
    book = tmp_path / "book.xlsx"
    wb = xlsxwriter.Workbook(str(book))
    ws = wb.add_worksheet("Payments")
    ws.write_row(0, 0, ["payment_id", "date", "client_id", "amount", "method", "reference"])
    ws.write_row(1, 0, ["", "05/01/2026", "C1", "$1,049.50", "cash", ""])
    wb.close()
    expect = {"client_id": "C1", "date": "2026-01-05", "amount": "1049.5", "method": "cash",
              "reference": ""}
    result = apply(book, ChangeSet(fills=(FillKey("Payments", 2, "payment_id", "PAY-1",
                                                  expect),)))
    assert result.keys_filled == 1 and rows(book, "Payments")[1][0] == "PAY-1"


def test_none_clears_the_cell_and_keeps_its_style(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    apply(book, ChangeSet(sets=(SetCell("Clients", "C3", "balance", None),)))
    assert rows(book, "Clients")[1][4] == ""
    assert openpyxl.load_workbook(book)["Clients"]["E2"].number_format == "$#,##0.00"


def test_values_are_typed_dates_as_serials_and_money_exact(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    apply(book, ChangeSet(appends=(AppendRow("Activity", {
        "timestamp": dt.datetime(2026, 2, 1, 23, 59, 59), "action": "x",
        "client_id": D("0.10"), "invoice_number": 7, "detail": dt.date(1899, 1, 1)}),)))
    xml = sheet_xml(book, "Activity")
    assert "<v>46054.99998842592</v>" in xml and "<v>0.10</v>" in xml and "<v>7</v>" in xml
    assert rows(book, "Activity")[1] == [dt.datetime(2026, 2, 1, 23, 59, 59), "x", 0.1, 7,
                                         "1899-01-01"]  # before Excel's calendar: as text
    assert openpyxl.load_workbook(book)["Activity"]["A2"].number_format == "yyyy-mm-dd hh:mm"


def test_overwriting_a_formula_removes_it_and_drops_the_calc_chain(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    with_calc_chain(book, "F2")
    apply(book, ChangeSet(sets=(SetCell("Clients", "C3", "Owed x2", D("1")),)))
    parts = members(book)
    assert "xl/calcChain.xml" not in parts
    assert b"calcChain" not in parts["[Content_Types].xml"]
    assert b"calcChain" not in parts["xl/_rels/workbook.xml.rels"]
    assert b'fullCalcOnLoad="1"' in parts["xl/workbook.xml"]
    ws = openpyxl.load_workbook(book)["Clients"]
    assert ws["F2"].value == 1 and ws["F3"].value == "=E3*2"


def with_calc_chain(path: Path, cell: str) -> None:
    """Add the calcChain part Excel writes for workbooks with formulas."""
    parts = members(path)
    parts["xl/calcChain.xml"] = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<calcChain xmlns="http://'
        b'schemas.openxmlformats.org/spreadsheetml/2006/main"><c r="' + cell.encode()
        + b'" i="1"/></calcChain>')
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>", b'<Override PartName="/xl/calcChain.xml" ContentType="application/vnd.'
        b'openxmlformats-officedocument.spreadsheetml.calcChain+xml"/></Types>')
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>", b'<Relationship Id="rId99" Type="http://schemas.openxmlformats.org/'
        b'officeDocument/2006/relationships/calcChain" Target="calcChain.xml"/></Relationships>')
    write_members(path, parts)


def write_members(path: Path, parts: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def test_overwriting_the_master_of_a_shared_formula_hands_it_to_the_next_cell(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    parts = members(book)
    xml = parts["xl/worksheets/sheet1.xml"].decode()
    xml = xml.replace("<f>E2*2</f>", '<f t="shared" ref="F2:F5" si="0">E2*2</f>')
    for r in (3, 4, 5):
        xml = xml.replace(f"<f>E{r}*2</f>", '<f t="shared" si="0"/>')
    parts["xl/worksheets/sheet1.xml"] = xml.encode()
    write_members(book, parts)
    apply(book, ChangeSet(sets=(SetCell("Clients", "C3", "Owed x2", D("0")),)))
    ws = openpyxl.load_workbook(book)["Clients"]
    assert [ws[f"F{r}"].value for r in range(2, 6)] == [0, "=E3*2", "=E4*2", "=E5*2"]
    assert [r[5] for r in rows(book, "Clients")[1:]] == [0, 20, 10, 0]  # cached values kept


def test_rows_append_after_the_last_value_into_rows_the_owner_formatted_ahead(tmp_path: Path):
    book = tmp_path / "book.xlsx"
    wb = xlsxwriter.Workbook(str(book))
    ws = wb.add_worksheet("Activity")
    shade = wb.add_format({"bg_color": "#DDEEFF"})
    ws.write_row(0, 0, ["timestamp", "action", "client_id", "invoice_number", "detail"])
    ws.write_row(1, 0, [None, "invoice_issued"])
    for r in range(2, 6):
        ws.write_blank(r, 1, None, shade)
    wb.close()
    apply(book, ChangeSet(appends=tuple(AppendRow("Activity", {"action": f"a{i}"})
                                        for i in range(6))))
    ws = openpyxl.load_workbook(book)["Activity"]
    assert [ws.cell(r, 2).value for r in range(1, 10)] == [
        "action", "invoice_issued", "a0", "a1", "a2", "a3", "a4", "a5", None]
    assert ws["B3"].fill.fgColor.rgb == "FFDDEEFF"  # the owner's formatting of that row
    xml = sheet_xml(book, "Activity")
    assert '<dimension ref="A1:E8"/>' in xml
    numbers = re.findall(r'<row r="(\d+)"', xml)
    assert numbers == [str(n) for n in range(1, 9)]


def test_dimension_grows_to_cover_new_rows_and_columns(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    apply(book, ChangeSet(appends=(AppendRow("Clients", {"client_id": "C9",
                                                         "stripe_customer_id": "cus"}),)))
    assert '<dimension ref="A1:K6"/>' in sheet_xml(book, "Clients")


def test_sheet_with_a_namespace_prefix_and_no_cell_references_is_patched(tmp_path: Path):
    book = tmp_path / "book.xlsx"
    wb = xlsxwriter.Workbook(str(book))
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, ["client_id", "balance"])
    ws.write_row(1, 0, ["C1", 5])
    ws.write_row(2, 0, ["C2", 6])
    wb.close()
    parts = members(book)
    xml = parts["xl/worksheets/sheet1.xml"].decode()
    xml = re.sub(r' r="[A-Z]+\d+"', "", xml)  # cells without references (allowed)
    xml = re.sub(r"<(/?)(worksheet|dimension|sheetViews|sheetView|sheetFormatPr|sheetData|row|"
                 r"c|v|pageMargins)\b", r"<\1x:\2", xml)
    xml = xml.replace('xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"',
                      'xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"')
    parts["xl/worksheets/sheet1.xml"] = xml.encode()
    write_members(book, parts)
    apply(book, ChangeSet(sets=(SetCell("Clients", "C2", "balance", D("7.5")),),
                          appends=(AppendRow("Clients", {"client_id": "C3", "balance": D("8")}),)))
    assert rows(book, "Clients") == [["client_id", "balance"], ["C1", 5], ["C2", 7.5],
                                     ["C3", 8]]
    ws = openpyxl.load_workbook(book)["Clients"]
    assert [[c.value for c in r] for r in ws.iter_rows()][2:] == [["C2", 7.5], ["C3", 8]]


def test_unknown_tab_and_column_names_are_matched_like_headers(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    result = apply(book, ChangeSet(sets=(SetCell("clients", "C1", "Balance", D("2")),
                                         SetCell("CLIENTS", "C1", "my-notes", "hello"))))
    assert result.cells_set == 2
    assert rows(book, "Clients")[2][4:7] == [2, 20, "hello"]


def test_empty_change_set_writes_nothing(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    before = book.read_bytes()
    assert apply(book, ChangeSet()).backup == ""
    assert book.read_bytes() == before and not (tmp_path / "backups").exists()


def test_result_opens_in_calamine_with_every_sheet(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    apply(book, ChangeSet(appends=(AppendRow("Activity", {"action": "x"}),)))
    names = CalamineWorkbook.from_path(str(book)).sheet_names
    assert names == ["Clients", "Invoices", "Payments", "Charges", "Activity"]


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_opens_the_written_workbook(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    apply(book, ChangeSet(sets=(SetCell("Clients", "C1", "balance", D("12.30")),),
                          appends=(AppendRow("Invoices", {"invoice_number": "INV-00002",
                                                          "issue_date": dt.date(2026, 2, 1),
                                                          "total": D("49.99")}),
                                   AppendRow("Activity", {"action": "=1+1"}))))
    out = tmp_path / "out"
    subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp_path}/profile", "--headless",
                    "--convert-to", "xlsx", "--outdir", str(out), str(book)],
                   check=True, capture_output=True, timeout=180)
    wb = openpyxl.load_workbook(out / "book.xlsx")
    assert wb.sheetnames == ["Clients", "Invoices", "Payments", "Charges", "Activity"]
    assert wb["Clients"]["E3"].value == 12.3 and wb["Clients"]["F3"].value == "=E3*2"
    assert [c.value for c in wb["Invoices"][3]][:4] == ["INV-00002", None,
                                                         dt.datetime(2026, 2, 1), 49.99]
    assert wb["Activity"]["B2"].value == "=1+1" and wb["Activity"]["B2"].data_type == "s"


def test_workbook_saved_by_openpyxl_gets_a_new_tab_it_can_read(tmp_path: Path):
    book = tmp_path / "book.xlsx"
    wb = openpyxl.load_workbook(owner_book(tmp_path / "owner.xlsx"))
    wb.save(book)  # openpyxl declares the r: namespace on each <sheet>, not on the root
    apply(book, ChangeSet(appends=(AppendRow("Activity", {"action": "invoice_issued"}),)))
    assert openpyxl.load_workbook(book)["Activity"]["B2"].value == "invoice_issued"
    assert rows(book, "Activity")[1][1] == "invoice_issued"


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_workbook_saved_by_libreoffice_is_patched(tmp_path: Path):
    owner_book(tmp_path / "book.xlsx")
    subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp_path}/profile", "--headless",
                    "--convert-to", "xlsx", "--outdir", str(tmp_path / "lo"),
                    str(tmp_path / "book.xlsx")], check=True, capture_output=True, timeout=180)
    book = tmp_path / "lo" / "book.xlsx"
    result = apply(book, ChangeSet(sets=(SetCell("Clients", "00123", "balance", D("7.5")),),
                                   appends=(AppendRow("Payments", {"payment_id": "PAY-3"}),
                                            AppendRow("Activity", {"action": "x"}))))
    assert result.cells_set == 1 and result.rows_appended == 2
    assert rows(book, "Clients")[3][4:6] == [7.5, 10]  # new value; the owner's cached result
    wb = openpyxl.load_workbook(book)
    assert wb["Payments"].tables["Table1"].ref == "A1:E4"
    assert wb["Activity"]["B2"].value == "x"


def test_change_set_that_finds_nothing_to_change_leaves_the_file_alone(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    before = book.read_bytes()
    result = apply(book, ChangeSet(sets=(SetCell("Clients", "C404", "balance", D("1")),)))
    assert [s.key for s in result.missing_keys] == ["C404"] and result.backup == ""
    assert book.read_bytes() == before


def test_a_new_tab_gets_a_name_excel_accepts(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    apply(book, ChangeSet(appends=(AppendRow("Notes/2026: [draft]", {"note": "hi"}),)))
    assert openpyxl.load_workbook(book).sheetnames[-1] == "Notes2026 draft"
    apply(book, ChangeSet(appends=(AppendRow("Notes/2026: [draft]", {"note": "again"}),)))
    assert rows(book, "Notes2026 draft") == [["note"], ["hi"], ["again"]]
