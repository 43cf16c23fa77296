"""Long report tables spliced into the file as XML read back exactly, in the sample's formats."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import openpyxl
import xlsxwriter
from python_calamine import CalamineWorkbook

from ispsheets.reporting.bulk import BulkRows, splice

ROWS = [
    ("C001", "Ann & <Bob>", dt.date(2026, 12, 1), Decimal("54.99")),
    ("C002", "  spaced  ", dt.date(2027, 2, 28), Decimal("-10.00")),
    ("C003", "bell\x07 and tab\tkept", dt.date(2026, 1, 1), None),
    ("C004", "=HYPERLINK(\"x\")", dt.date(2028, 2, 29), Decimal("1049.995")),
]


def _book(path):
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("First")
    sheet = book.add_worksheet("Long")
    money = book.add_format({"num_format": "#,##0.00"})
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, ["Client", "Name", "Date", "Amount"])
    sheet.write_string(1, 0, "")
    sheet.write_string(1, 1, "")
    sheet.write_datetime(1, 2, dt.datetime(2026, 1, 1), date)
    sheet.write_number(1, 3, 0, money)
    sheet.autofilter(0, 0, len(ROWS), 3)
    book.close()


def test_spliced_rows_read_back_exactly_with_the_sample_rows_formats(tmp_path):
    path = tmp_path / "r.xlsx"
    _book(path)
    splice(path, [BulkRows(1, 1, ROWS)])
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Long").to_python()
    assert rows[0] == ["Client", "Name", "Date", "Amount"]
    assert rows[1:] == [
        ["C001", "Ann & <Bob>", dt.date(2026, 12, 1), 54.99],
        ["C002", "  spaced  ", dt.date(2027, 2, 28), -10.0],
        ["C003", "bell and tab\tkept", dt.date(2026, 1, 1), ""],
        ["C004", "=HYPERLINK(\"x\")", dt.date(2028, 2, 29), 1049.995]]
    sheet = openpyxl.load_workbook(path)["Long"]
    assert sheet["D2"].number_format == "#,##0.00" and sheet["C5"].number_format == "yyyy-mm-dd"
    assert sheet["B5"].data_type == "s"  # text, never a formula
    assert sheet.max_row == 5 and sheet.auto_filter.ref == "A1:D5"


def test_nothing_to_splice_leaves_the_file_alone(tmp_path):
    path = tmp_path / "r.xlsx"
    _book(path)
    before = path.read_bytes()
    splice(path, [BulkRows(1, 1, [])])
    assert path.read_bytes() == before
