"""`DeleteRow`: the archive's removal of rows from a tab, in the byte-level patcher."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from ispsheets.book.changes import AppendRow, ChangeSet, DeleteRow, WorkbookWriteError
from ispsheets.book.reader import read_xlsx
from ispsheets.book.template import build_template
from ispsheets.book.xlsx_backend import apply_changes

NOW = dt.datetime(2026, 1, 1)


def _write(path: Path, changes: ChangeSet):
    return apply_changes(path, changes, backup_dir=path.parent / "b", keep_backups=0,
                         expected_fingerprint=None, now=NOW)


@pytest.fixture
def book(tmp_path) -> Path:
    path = build_template(tmp_path / "isp.xlsx")
    _write(path, ChangeSet(appends=tuple(
        AppendRow("Payments", {"payment_id": f"P{i}", "date": dt.date(2026, 1, i),
                               "client_id": "C1", "amount": Decimal(i)}) for i in range(1, 6))))
    return path


def test_deleted_rows_go_and_the_rows_below_move_up(book) -> None:
    written = _write(book, ChangeSet(deletes=(DeleteRow("Payments", 3, {"payment_id": "P2"}),
                                              DeleteRow("Payments", 5, {"payment_id": "P4"}))))
    assert written.rows_deleted == 2
    rows = read_xlsx(book).sheets["Payments"].rows
    assert [r[0] for r in rows[1:]] == ["P1", "P3", "P5"]
    sheet = openpyxl.load_workbook(book)["Payments"]  # a file other programs open
    assert [sheet.cell(r, 1).value for r in range(2, 5)] == ["P1", "P3", "P5"]
    assert sheet.cell(4, 2).value.date() == dt.date(2026, 1, 5)


def test_a_row_that_no_longer_shows_its_key_stays(book) -> None:
    written = _write(book, ChangeSet(deletes=(DeleteRow("Payments", 3, {"payment_id": "P9"}),)))
    assert written.rows_deleted == 0
    assert len(read_xlsx(book).sheets["Payments"].rows) == 6


def test_a_formula_below_a_deleted_row_stops_the_write(book) -> None:
    wb = openpyxl.load_workbook(book)
    wb["Payments"]["K6"] = "=D6*2"
    wb.save(book)
    before = book.read_bytes()
    with pytest.raises(WorkbookWriteError, match="formula"):
        _write(book, ChangeSet(deletes=(DeleteRow("Payments", 3, {"payment_id": "P2"}),)))
    assert book.read_bytes() == before


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_opens_a_workbook_rows_were_deleted_from(book, tmp_path) -> None:
    _write(book, ChangeSet(deletes=(DeleteRow("Payments", 2, {"payment_id": "P1"}),)))
    _write(book, ChangeSet(appends=(AppendRow("Payments", {"payment_id": "P6"}),)))
    out = tmp_path / "lo"
    subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp_path}/profile", "--headless",
                    "--convert-to", "xlsx", "--outdir", str(out), str(book)],
                   check=True, capture_output=True, timeout=180)
    sheet = openpyxl.load_workbook(out / book.name)["Payments"]
    assert [sheet.cell(r, 1).value for r in range(2, 7)] == ["P2", "P3", "P4", "P5", "P6"]


def test_an_activity_row_whose_time_reads_back_a_microsecond_off_is_removed(tmp_path) -> None:
    """06:00:06 stored as a fraction of a day reads back as 06:00:06.000001 in the patcher;
    the row is still the one read (every archived Activity row of 2025-11-30 06:00:06 stayed
    in the workbook before, and every later run tried to remove it again)."""
    stamps = [dt.datetime(2025, 11, 30, 6, 0, s) for s in range(0, 60)]
    path = build_template(tmp_path / "isp.xlsx", demo_rows={"Activity": [
        (t, "invoice_sent", "C1", None, "x") for t in stamps]})  # as xlsxwriter writes them
    read = read_xlsx(path).sheets["Activity"].rows[1:]
    deletes = tuple(DeleteRow("Activity", n, {"timestamp": row[0].isoformat(),
                                              "action": "invoice_sent"})
                    for n, row in enumerate(read, start=2))
    written = _write(path, ChangeSet(deletes=deletes))
    assert written.rows_deleted == 60
    assert len(read_xlsx(path).sheets["Activity"].rows) == 1
