"""Writing the workbook never loses it: locked, changed, failing or killed, the old file stays."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from ispsheets.book import xlsx_backend
from ispsheets.book.changes import (
    AppendRow,
    ChangeSet,
    DeleteRow,
    SetCell,
    WorkbookWriteError,
)
from ispsheets.book.xlsx_backend import apply_changes, fingerprint
from tests.test_xlsx_backend import NOW, apply, owner_book, rows

D = Decimal
CHANGE = ChangeSet(sets=(SetCell("Clients", "C1", "balance", D("12.30")),),
                   appends=(AppendRow("Activity", {"action": "invoice_issued"}),))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".ispsheets-tmp"))


@pytest.mark.parametrize("lock", ["~$book.xlsx", ".~lock.book.xlsx#"])
def test_workbook_open_in_excel_or_libreoffice_is_not_written(tmp_path: Path, lock: str):
    book = owner_book(tmp_path / "book.xlsx")
    before = book.read_bytes()
    (tmp_path / lock).write_bytes(b"owner")
    with pytest.raises(WorkbookWriteError) as error:
        apply(book, CHANGE)
    assert error.value.where == "book.xlsx"
    assert error.value.message.startswith("is open in")
    assert error.value.fix.startswith("close it; the next run writes everything")
    assert book.read_bytes() == before
    assert leftovers(tmp_path) == [] and not (tmp_path / "backups").exists()


def test_workbook_saved_after_the_tool_read_it_is_not_written(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    read_at = fingerprint(book)
    apply(book, ChangeSet(sets=(SetCell("Clients", "C3", "balance", D("1")),)))  # "the owner"
    saved = book.read_bytes()
    with pytest.raises(WorkbookWriteError) as error:
        apply(book, CHANGE, expected_fingerprint=read_at)
    assert "changed after ispsheets read it" in error.value.message
    assert book.read_bytes() == saved and leftovers(tmp_path) == []


def test_fingerprint_is_the_same_for_the_same_bytes_and_differs_after_a_write(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    first = fingerprint(book)
    assert fingerprint(book) == first
    apply(book, CHANGE)
    assert fingerprint(book) != first


def test_failed_replace_leaves_the_old_file_no_temp_file_and_no_backup(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    book = owner_book(tmp_path / "book.xlsx")
    before = book.read_bytes()
    real_replace = os.replace

    def disk_full(src: str, dst: str) -> None:
        if Path(dst) == book:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(WorkbookWriteError) as error:
        apply(book, CHANGE)
    assert "No space left on device" in error.value.message
    assert book.read_bytes() == before
    assert leftovers(tmp_path) == [] and list((tmp_path / "backups").iterdir()) == []


def test_zip_writer_failing_half_way_leaves_the_old_file_and_no_temp_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    book = owner_book(tmp_path / "book.xlsx")
    before = book.read_bytes()
    real = xlsx_backend.write_package

    def half_then_fail(out, *args, **kwargs):  # type: ignore[no-untyped-def]
        class Breaks:
            written = 0

            def write(self, data: bytes) -> int:
                if self.written > 2000:
                    raise OSError(5, "Input/output error")
                self.written += len(data)
                return out.write(data)

        real(Breaks(), *args, **kwargs)

    monkeypatch.setattr(xlsx_backend, "write_package", half_then_fail)
    with pytest.raises(WorkbookWriteError):
        apply(book, CHANGE)
    assert book.read_bytes() == before and leftovers(tmp_path) == []


def test_a_bad_value_raises_before_anything_is_written(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    before = book.read_bytes()
    with pytest.raises(ValueError):
        apply(book, ChangeSet(sets=(SetCell("Clients", "C1", "balance", D("NaN")),)))
    assert book.read_bytes() == before and leftovers(tmp_path) == []


KILLED_WRITER = textwrap.dedent("""
    import datetime as dt, sys, time
    from decimal import Decimal
    from pathlib import Path
    from ispsheets.book import xlsx_backend
    from ispsheets.book.changes import AppendRow, ChangeSet

    book, ready = Path(sys.argv[1]), Path(sys.argv[2])
    real = xlsx_backend.write_package

    def stalls_half_way(out, *args, **kwargs):
        class Stalls:
            written = 0
            def write(self, data):
                self.written += out.write(data)
                if self.written > 200_000 and not ready.exists():
                    out.flush()
                    ready.touch()
                    time.sleep(60)
        real(Stalls(), *args, **kwargs)

    xlsx_backend.write_package = stalls_half_way
    rows = tuple(AppendRow("Activity", {"timestamp": dt.datetime(2026, 2, 1, 9, 0, i % 60),
                                        "action": "invoice_issued", "client_id": f"C{i}",
                                        "detail": f"total {Decimal(i) / 100}"})
                 for i in range(30_000))
    xlsx_backend.apply_changes(book, ChangeSet(appends=rows), backup_dir=book.parent / "b",
                               keep_backups=2, expected_fingerprint=None,
                               now=dt.datetime(2026, 2, 1, 10))
""")


def test_write_killed_half_way_leaves_the_old_file_readable(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    before = book.read_bytes()
    ready = tmp_path / "half-written"
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(book), str(ready)])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ready.exists(), "the writer never got half way"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert book.read_bytes() == before
    assert CalamineWorkbook.from_path(str(book)).sheet_names[0] == "Clients"
    assert len(leftovers(tmp_path)) == 1  # SIGKILL leaves the half-written temp file ...
    apply(book, CHANGE)  # ... which the next run removes
    assert leftovers(tmp_path) == [] and rows(book, "Clients")[2][4] == 12.3


def test_backups_keep_the_newest_3_named_by_time(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    versions = []
    for minute in range(5):
        versions.append(book.read_bytes())
        result = apply(book, ChangeSet(sets=(SetCell("Clients", "C1", "balance", D(minute)),)),
                       now=dt.datetime(2026, 2, 1, 10, minute, 30))
        assert result.backup == str(tmp_path / "backups" / f"book-20260201-10{minute:02d}30.xlsx")
    kept = sorted(p.name for p in (tmp_path / "backups").iterdir())
    assert kept == ["book-20260201-100230.xlsx", "book-20260201-100330.xlsx",
                    "book-20260201-100430.xlsx"]
    assert (tmp_path / "backups" / kept[-1]).read_bytes() == versions[-1]


def test_two_writes_in_the_same_second_keep_both_backups(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    first = apply(book, CHANGE).backup
    second = apply(book, CHANGE).backup
    assert Path(first).name == "book-20260201-100000.xlsx"
    assert Path(second).name == "book-20260201-100000-2.xlsx"


def test_keep_backups_0_writes_no_backup(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    assert apply(book, CHANGE, keep_backups=0).backup == ""
    assert not (tmp_path / "backups").exists()


def test_backup_folder_that_cannot_be_made_stops_the_write(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    before = book.read_bytes()
    (tmp_path / "backups").write_text("a file where the folder should be")
    with pytest.raises(WorkbookWriteError) as error:
        apply(book, CHANGE)
    assert "could not be backed up" in error.value.message
    assert book.read_bytes() == before and leftovers(tmp_path) == []


def test_read_only_workbook_is_not_written(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    before = book.read_bytes()
    book.chmod(0o444)
    with pytest.raises(WorkbookWriteError) as error:
        apply(book, CHANGE)
    assert error.value.message == "is read-only"
    assert book.read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any folder")
def test_folder_that_is_not_writable_stops_the_write(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(WorkbookWriteError) as error:
            apply(book, CHANGE, keep_backups=0)
    finally:
        tmp_path.chmod(0o755)
    assert "no new file can be made in" in error.value.message
    assert "(Permission denied)" in error.value.message
    assert error.value.fix.startswith("let the user that runs ispsheets write there")


def test_new_file_keeps_the_old_files_permissions(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    book.chmod(0o640)
    apply(book, CHANGE)
    assert book.stat().st_mode & 0o777 == 0o640


def test_a_file_that_is_not_a_workbook_gives_a_write_error(tmp_path: Path):
    book = tmp_path / "book.xlsx"
    book.write_bytes(b"not a zip at all")
    with pytest.raises(WorkbookWriteError) as error:
        apply_changes(book, CHANGE, backup_dir=tmp_path / "b", keep_backups=1,
                      expected_fingerprint=None, now=NOW)
    assert "could not be updated" in error.value.message
    assert book.read_bytes() == b"not a zip at all"


def test_workbook_reached_through_a_symlink_is_replaced_and_the_link_kept(tmp_path: Path):
    real = owner_book(tmp_path / "real.xlsx")
    link = tmp_path / "book.xlsx"
    link.symlink_to(real)
    result = apply(link, CHANGE)
    assert link.is_symlink() and link.resolve() == real
    assert rows(real, "Clients")[2][4] == 12.3
    assert Path(result.backup).name == "book-20260201-100000.xlsx"


def test_backup_temp_file_left_by_a_killed_run_is_removed(tmp_path: Path):
    book = owner_book(tmp_path / "book.xlsx")
    (tmp_path / "backups").mkdir()
    stale = tmp_path / "backups" / ".book-20260201-090000.xlsx.abc123.ispsheets-tmp"
    stale.write_bytes(b"half a backup")
    apply(book, CHANGE)
    assert not stale.exists()


def test_a_full_activity_tab_says_which_tab_and_how_to_make_room(tmp_path: Path):
    import openpyxl

    from ispsheets.book.xlsx_sheet import MAX_ROWS

    book = owner_book(tmp_path / "book.xlsx")
    wb = openpyxl.load_workbook(book)
    sheet = wb["Activity"] if "Activity" in wb.sheetnames else wb.create_sheet("Activity")
    sheet["A1"], sheet["B1"] = "timestamp", "action"
    sheet.cell(row=MAX_ROWS - 1, column=2, value="invoice_sent")
    wb.save(book)
    before = book.read_bytes()
    appends = tuple(AppendRow("Activity", {"action": "invoice_issued"}) for _ in range(3))
    with pytest.raises(WorkbookWriteError) as error:
        apply(book, ChangeSet(appends=appends))
    assert error.value.where == "book.xlsx: Activity"
    assert error.value.message == ("the Activity tab is full: Excel stops at row 1,048,576, "
                                   "the tab reaches row 1,048,575 and this run adds 3 rows")
    assert error.value.fix.startswith("lower workbook.archive_after_months")
    assert book.read_bytes() == before and leftovers(tmp_path) == []
    apply(book, ChangeSet(appends=appends[:1]))  # one more row still fits


def test_a_tab_past_excels_last_row_can_still_be_set_and_shrunk_but_not_grown(tmp_path: Path):
    """A tab another program filled past row 1,048,576: the tool's cells are still written,
    and the archive's move (rows taken out) is what brings it back; only rows added fail."""
    import openpyxl

    from ispsheets.book.xlsx_sheet import MAX_ROWS

    book = owner_book(tmp_path / "book.xlsx")
    wb = openpyxl.load_workbook(book)
    sheet = wb["Activity"] if "Activity" in wb.sheetnames else wb.create_sheet("Activity")
    sheet["A1"], sheet["B1"] = "timestamp", "action"
    sheet["A2"], sheet["B2"] = "2026-01-01", "invoice_sent"
    sheet.cell(row=MAX_ROWS, column=2, value="invoice_paid")
    wb.save(book)
    _move_last_row(book, MAX_ROWS, MAX_ROWS + 3)  # as a program that ignores the grid writes
    with pytest.raises(WorkbookWriteError) as error:
        apply(book, ChangeSet(appends=(AppendRow("Activity", {"action": "x"}),)))
    assert "the tab reaches row 1,048,579 and this run adds 1 rows" in error.value.message
    apply(book, ChangeSet(sets=CHANGE.sets))  # another tab's cells: written
    apply(book, ChangeSet(deletes=(DeleteRow("Activity", 2, {}),)))
    left = CalamineWorkbook.from_path(str(book)).get_sheet_by_name("Activity").to_python()
    assert len(left) == MAX_ROWS + 2 and left[1][1] == ""  # row 2 out, the rest moved up
    assert left[-1][1] == "invoice_paid"


def _move_last_row(book: Path, old: int, new: int) -> None:
    """Renumber row `old` of every sheet to `new`, in the file's XML (openpyxl refuses it)."""
    import zipfile

    with zipfile.ZipFile(book) as z:
        members = [(info, z.read(info)) for info in z.infolist()]
    with zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in members:
            if info.filename.startswith("xl/worksheets/"):  # r="B…", ref="A1:B…"
                data = data.replace(f'{old}"'.encode(), f'{new}"'.encode())
            z.writestr(info, data)
