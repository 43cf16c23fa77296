"""Long report tables spliced into the file as XML read back exactly, in the sample's formats."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import openpyxl
import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook

from ispsheets.reporting.bulk import BulkRows, splice, write_behind

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


def test_rows_in_many_pieces_are_written_in_their_order(tmp_path):
    """12,001 rows: three pieces of 5,000 made while the pieces before are written."""
    path = tmp_path / "r.xlsx"
    _book(path)
    rows = [(f"C{n:05d}", f"Client {n}", dt.date(2026, 1, 1) + dt.timedelta(days=n % 400),
             Decimal(n) / 100) for n in range(12_001)]
    splice(path, [BulkRows(1, 1, rows)])
    read = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Long").to_python()
    assert [r[0] for r in read[1:]] == [r[0] for r in rows]
    assert read[-1] == ["C12000", "Client 12000", dt.date(2026, 1, 1),
                        120.0]


class _Target:
    def __init__(self, fail_at: int | None = None) -> None:
        self.written: list[bytes] = []
        self.fail_at = fail_at
        self.tries = 0

    def write(self, piece: bytes) -> int:
        self.tries += 1
        if len(self.written) == self.fail_at:
            raise OSError(28, "No space left on device")
        self.written.append(piece)
        return len(piece)


def test_write_behind_writes_every_piece_in_order():
    target = _Target()
    write_behind(target, (b"%d," % n for n in range(100)), depth=2)
    assert b"".join(target.written) == b"".join(b"%d," % n for n in range(100))


def test_a_failed_write_is_raised_and_stops_the_making():
    made = []

    def pieces():
        for n in range(1000):
            made.append(n)
            yield b"x"

    target = _Target(fail_at=3)
    with pytest.raises(OSError, match="No space left"):
        write_behind(target, pieces(), depth=2)
    assert len(made) < 1000  # stopped soon after the failure, not made to the end
    assert target.tries == 4  # and nothing written after it


def test_a_failure_making_the_pieces_is_raised_after_the_writer_stops():
    def pieces():
        yield b"a"
        yield b"b"
        raise ValueError("bad row")

    target = _Target()
    with pytest.raises(ValueError, match="bad row"):
        write_behind(target, pieces())
    assert target.written == [b"a", b"b"]

