"""The write-back copies the unchanged deflate pieces of a sheet it wrote before (`xlsx_pieces`):
the same cells as a write without that memory, whatever the edits; a stale memory is never used."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import zipfile
import zlib
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ispsheets.book import xlsx_pieces
from ispsheets.book.backend import PIECES, TAB_CACHE
from ispsheets.book.changes import AppendRow, ChangeSet, DeleteRow, SetCell
from ispsheets.book.reader import read_xlsx
from ispsheets.book.template import build_template
from ispsheets.book.xlsx_backend import apply_changes
from ispsheets.book.xlsx_package import Package
from ispsheets.book.xlsx_pieces import crc32_combine
from ispsheets.book.xlsx_workbook import Workbook
from tests.scenario import Business, row

NOW = dt.datetime(2026, 3, 1, 6, 0)
PIECE = 4096  # small pieces, so a small workbook has many


@given(st.binary(max_size=3000), st.binary(max_size=3000), st.integers(0, 2**32 - 1))
def test_crc32_combine_is_the_crc_of_the_concatenation(a: bytes, b: bytes, start: int) -> None:
    first = zlib.crc32(a, start)
    assert crc32_combine(first, zlib.crc32(b), len(b)) == zlib.crc32(a + b, start)


def _write(path: Path, changes: ChangeSet, memory: Path | None):
    return apply_changes(path, changes, backup_dir=path.parent / "backups", keep_backups=0,
                         expected_fingerprint=None, now=NOW, pieces_file=memory)


def _payment(i: int) -> AppendRow:
    return AppendRow("Payments", {"payment_id": f"P{i}", "date": dt.date(2026, 1, 1)
                                  + dt.timedelta(days=i % 300), "client_id": f"C{i % 7}",
                                  "amount": Decimal(i) / 4, "method": "cash & <check>"})


def _activity(i: int) -> AppendRow:
    return AppendRow("Activity", {"timestamp": NOW + dt.timedelta(minutes=i),
                                  "action": "remind", "client_id": f"C{i % 7}",
                                  "detail": f"reminder {i} sent"})


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Pieces of PIECE bytes; the list counts the XML bytes copied compressed."""
    monkeypatch.setattr(xlsx_pieces, "PIECE", PIECE)
    copied: list[int] = []
    original = xlsx_pieces.Pieces.copy

    def copy(self, compressed, xlen, crc):  # type: ignore[no-untyped-def]
        copied.append(xlen)
        return original(self, compressed, xlen, crc)

    monkeypatch.setattr(xlsx_pieces.Pieces, "copy", copy)
    return copied


@pytest.fixture
def twins(tmp_path: Path, small_pieces: list[int]) -> tuple[Path, Path, Path]:
    """The same workbook twice: one written without the memory, one with it (first recorded)."""
    fresh = build_template(tmp_path / "fresh" / "isp.xlsx")
    _write(fresh, ChangeSet(appends=tuple(_payment(i) for i in range(400))
                            + tuple(_activity(i) for i in range(300))), None)
    kept = tmp_path / "kept" / "isp.xlsx"
    kept.parent.mkdir()
    shutil.copy(fresh, kept)
    memory = tmp_path / "kept" / ".ispsheets-cache" / "deflate-pieces"
    first = ChangeSet(sets=(SetCell("Payments", "P1", "applied_to", "INV-1"),),
                      appends=(_activity(1000),))
    _write(fresh, first, None)
    _write(kept, first, memory)
    assert memory.is_file() and not small_pieces  # recorded; nothing to copy yet
    return fresh, kept, memory


def _cells(path: Path) -> dict[str, list[list[object]]]:
    return {name: sheet.rows for name, sheet in read_xlsx(path).sheets.items()}


def _openpyxl_cells(path: Path) -> dict[str, list[tuple[object, ...]]]:
    book = openpyxl.load_workbook(path)
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in book.worksheets}


def _same_books(fresh: Path, kept: Path) -> None:
    with zipfile.ZipFile(kept) as package:
        assert package.testzip() is None
    assert _cells(kept) == _cells(fresh)


# One step: (what, payment numbers, value): cells set by key, rows appended (to Payments, to
# Activity, with a new column), or rows removed.
steps = st.lists(st.tuples(st.sampled_from(["set", "append", "activity", "delete", "column"]),
                           st.lists(st.integers(0, 420), min_size=1, max_size=12),
                           st.one_of(st.text(max_size=30), st.decimals(-1000, 1000, places=2,
                                                                       allow_nan=False))),
                 min_size=1, max_size=5)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=steps)
def test_a_write_with_the_memory_gives_the_same_cells_as_one_without(
        tmp_path_factory: pytest.TempPathFactory, small_pieces: list[int],
        steps: list[tuple[str, list[int], object]]) -> None:
    folder = tmp_path_factory.mktemp("twins")
    fresh, kept, memory = _twins(folder, small_pieces)
    for what, numbers, value in steps:
        if what == "set":
            column = "applied_to" if isinstance(value, str) else "unapplied"
            changes = ChangeSet(sets=tuple(SetCell("Payments", f"P{n}", column, value)
                                           for n in numbers))
        elif what == "append":
            changes = ChangeSet(appends=tuple(_payment(1000 + n) for n in numbers))
        elif what == "activity":
            changes = ChangeSet(appends=tuple(_activity(2000 + n) for n in numbers))
        elif what == "column":  # a column the sheet lacks: its header cell is added
            changes = ChangeSet(appends=tuple(
                AppendRow("Payments", {"payment_id": f"Q{n}", f"extra {numbers[0] % 3}": value})
                for n in numbers))
        else:
            rows = read_xlsx(fresh).sheets["Payments"].rows
            changes = ChangeSet(deletes=tuple(
                DeleteRow("Payments", n + 1, {"payment_id": str(rows[n][0])})
                for n in sorted(set(numbers)) if 0 < n < len(rows)))
        _write(fresh, changes, None)
        _write(kept, changes, memory)
        _same_books(fresh, kept)
    assert _openpyxl_cells(kept) == _openpyxl_cells(fresh)


def _twins(folder: Path, copied: list[int]) -> tuple[Path, Path, Path]:
    fresh = build_template(folder / "fresh" / "isp.xlsx")
    _write(fresh, ChangeSet(appends=tuple(_payment(i) for i in range(400))
                            + tuple(_activity(i) for i in range(300))), None)
    kept = folder / "kept" / "isp.xlsx"
    kept.parent.mkdir()
    shutil.copy(fresh, kept)
    memory = folder / "kept" / "deflate-pieces"
    first = ChangeSet(appends=(_activity(999), _payment(999)))
    _write(fresh, first, None)
    _write(kept, first, memory)
    return fresh, kept, memory


def test_an_appended_row_copies_the_other_pieces(twins: tuple[Path, Path, Path],
                                                 small_pieces: list[int]) -> None:
    fresh, kept, memory = twins
    changes = ChangeSet(appends=(_activity(5000), _payment(5000)))
    _write(fresh, changes, None)
    _write(kept, changes, memory)
    _same_books(fresh, kept)
    with zipfile.ZipFile(kept) as package:
        written = sum(i.file_size for i in package.infolist() if i.filename.startswith(
            "xl/worksheets/"))
    assert sum(small_pieces) > written * 0.6  # most of the sheets copied compressed
    assert _openpyxl_cells(kept) == _openpyxl_cells(fresh)


def test_rows_appended_inflate_only_the_first_and_last_pieces(
        twins: tuple[Path, Path, Path], small_pieces: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    fresh, kept, memory = twins
    inflated: list[str] = []
    read = Package.read

    def spy(self: Package, name: str) -> bytes:
        inflated.append(name)
        return read(self, name)

    monkeypatch.setattr(Package, "read", spy)
    changes = ChangeSet(appends=(*(_activity(6000 + i) for i in range(30)), _payment(6000)))
    _write(kept, changes, memory)
    assert not [n for n in inflated if n.startswith("xl/worksheets/sheet")]
    monkeypatch.setattr(Package, "read", read)
    _write(fresh, changes, None)
    _same_books(fresh, kept)
    assert _openpyxl_cells(kept) == _openpyxl_cells(fresh)


def test_a_key_set_in_the_middle_copies_the_pieces_around_it(
        twins: tuple[Path, Path, Path], small_pieces: list[int]) -> None:
    fresh, kept, memory = twins
    changes = ChangeSet(sets=(SetCell("Payments", "P200", "applied_to", "INV-200 10.00"),))
    _write(fresh, changes, None)
    _write(kept, changes, memory)
    _same_books(fresh, kept)
    assert small_pieces  # pieces before and after the row were copied
    rows = read_xlsx(kept).sheets["Payments"].rows
    assert next(r for r in rows if r[0] == "P200")[7] == "INV-200 10.00"


def test_a_workbook_saved_by_another_program_is_deflated_whole(
        twins: tuple[Path, Path, Path], small_pieces: list[int]) -> None:
    fresh, kept, memory = twins
    for path in (fresh, kept):  # Excel (here openpyxl) saves it: new members, same record
        book = openpyxl.load_workbook(path)
        book["Payments"]["E3"] = "edited"
        book.save(path)
    changes = ChangeSet(appends=(_payment(7000),))
    _write(fresh, changes, None)
    _write(kept, changes, memory)
    _same_books(fresh, kept)
    assert not small_pieces


def test_a_record_of_other_bytes_with_the_same_sizes_is_not_trusted(
        twins: tuple[Path, Path, Path], small_pieces: list[int]) -> None:
    """The zip directory's CRC and sizes match, but the compressed bytes are not the ones
    recorded (the digest differs): the record is not used."""
    fresh, kept, memory = twins
    records = xlsx_pieces.Memory(memory).records()
    book = Workbook(Package(kept.read_bytes()))
    found = book.find("Payments")
    assert found is not None
    payments = found.part
    record = records[payments]
    records[payments] = xlsx_pieces.Record(record.crc, record.csize, record.usize,
                                           "0" * 32, record.pieces)
    xlsx_pieces.Memory(memory).save(records)
    changes = ChangeSet(appends=(_payment(7001),))
    _write(fresh, changes, None)
    _write(kept, changes, memory)
    _same_books(fresh, kept)
    assert not small_pieces  # Payments deflated whole
    changes = ChangeSet(appends=(_activity(7001),))
    _write(fresh, changes, None)
    _write(kept, changes, memory)
    _same_books(fresh, kept)
    assert small_pieces  # the other sheet's record still served


@pytest.mark.parametrize("damage", ["bytes", "numbers", "gone"])
def test_a_damaged_memory_is_not_used(twins: tuple[Path, Path, Path], small_pieces: list[int],
                                      damage: str) -> None:
    fresh, kept, memory = twins
    if damage == "bytes":
        data = bytearray(memory.read_bytes())
        data[len(data) // 2] ^= 1
        memory.write_bytes(bytes(data))
    elif damage == "numbers":  # a piece's CRC wrong in a record whose checksum is right
        records = xlsx_pieces.Memory(memory).records()
        for name, r in records.items():
            pieces = list(r.pieces)
            pieces[1] = (pieces[1][0], pieces[1][1], pieces[1][2] ^ 1) if len(pieces) > 1 \
                else pieces[0]
            records[name] = xlsx_pieces.Record(r.crc, r.csize, r.usize, r.digest,
                                               tuple(pieces))
        xlsx_pieces.Memory(memory).save(records)
    else:
        memory.unlink()
    changes = ChangeSet(appends=(_payment(7002), _activity(7002)))
    _write(fresh, changes, None)
    _write(kept, changes, memory)
    _same_books(fresh, kept)
    assert not small_pieces
    changes = ChangeSet(appends=(_payment(7003),))  # recorded again, used again
    _write(fresh, changes, None)
    _write(kept, changes, memory)
    _same_books(fresh, kept)
    assert small_pieces


def test_a_failed_write_leaves_the_memory_as_it_was(twins: tuple[Path, Path, Path]) -> None:
    _fresh, kept, memory = twins
    before = memory.read_bytes()
    (kept.parent / ".~lock.isp.xlsx#").write_text("x")  # open in LibreOffice: nothing written
    with pytest.raises(Exception, match="open in LibreOffice"):
        _write(kept, ChangeSet(appends=(_payment(7004),)), memory)
    assert memory.read_bytes() == before


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_opens_a_workbook_written_with_copied_pieces(
        twins: tuple[Path, Path, Path], small_pieces: list[int], tmp_path: Path) -> None:
    _fresh, kept, memory = twins
    _write(kept, ChangeSet(appends=(_payment(8000),)), memory)
    assert small_pieces
    out = tmp_path / "lo"
    subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp_path}/profile", "--headless",
                    "--convert-to", "xlsx", "--outdir", str(out), str(kept)],
                   check=True, capture_output=True, timeout=180)
    sheet = openpyxl.load_workbook(out / kept.name)["Payments"]
    ids = [sheet.cell(r, 1).value for r in range(2, sheet.max_row + 1)]
    assert ids == [row[0] for row in read_xlsx(kept).sheets["Payments"].rows[1:]]
    assert ids[-1] == "P8000" and len(ids) == 401


def _business_rows() -> dict[str, list[tuple[object, ...]]]:
    return {
        "Packages": [row("Packages", package_id="HOME", name="Home 100", price=Decimal("49.99"),
                         interval="monthly")],
        "Clients": [row("Clients", client_id=f"C{i:03}", name=f"Client {i}",
                        email=f"c{i}@x.example") for i in range(1, 41)],
        "Services": [row("Services", service_id=f"S{i:03}", client_id=f"C{i:03}",
                         package_id="HOME", start_date=dt.date(2026, 10, 1 + i % 20))
                     for i in range(1, 41)],
        "Payments": [row("Payments", payment_id=f"PAY-{i}", date=dt.date(2026, 11, 2),
                         client_id=f"C{i:03}", amount=Decimal("49.99"), method="check")
                     for i in range(1, 15)],
    }


def test_runs_with_the_memory_leave_the_cells_runs_without_it_leave(
        tmp_path: Path, small_pieces: list[int]) -> None:
    """`ispsheets run` day after day: the workbook whose writes copy pieces reads as the one
    whose memory is deleted before every run."""
    business = Business.create(tmp_path / "shop", _business_rows())
    twin = Business.create(tmp_path / "twin", _business_rows())
    memory = business.config.journal_path.parent / TAB_CACHE / PIECES
    day = dt.date(2026, 10, 30)
    while day <= dt.date(2026, 11, 8):
        shutil.rmtree(twin.folder / TAB_CACHE, ignore_errors=True)
        kept, fresh = business.run(day), twin.run(day)
        assert kept.exit_code is fresh.exit_code
        assert _cells(business.workbook) == _cells(twin.workbook), day
        day += dt.timedelta(days=1)
    assert memory.is_file() and small_pieces  # the later days copied pieces
    with zipfile.ZipFile(business.workbook) as package:
        assert package.testzip() is None
    assert _openpyxl_cells(business.workbook) == _openpyxl_cells(twin.workbook)


def _book_with(path: Path, write) -> Path:  # type: ignore[no-untyped-def]
    """A workbook made by another program (xlsxwriter): Payments, 300 rows, then `write`."""
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Payments")
    sheet.write_row(0, 0, ["payment_id", "date", "client_id", "amount", "method"])
    for r in range(1, 301):
        sheet.write_row(r, 0, [f"P{r}", f"2026-01-{1 + r % 28:02d}", f"C{r % 7}", r / 4,
                               "cash"])
    write(book, sheet)
    book.close()
    return path


def _twin_books(tmp_path: Path, write) -> tuple[Path, Path, Path]:  # type: ignore[no-untyped-def]
    fresh = _book_with(tmp_path / "fresh" / "isp.xlsx", write)
    kept = _book_with(tmp_path / "kept" / "isp.xlsx", write)
    memory = tmp_path / "kept" / "deflate-pieces"
    first = ChangeSet(appends=(_payment(900),))  # written by ispsheets: recorded
    _write(fresh, first, None)
    _write(kept, first, memory)
    return fresh, kept, memory


def test_rows_appended_above_styled_empty_rows_in_the_last_piece(
        tmp_path: Path, small_pieces: list[int]) -> None:
    """The last piece holds only rows of formatted blank cells: the last row with a value is
    further up, so the rows are appended after it, as a whole-sheet patch does."""
    def empty_rows(book, sheet):  # type: ignore[no-untyped-def]
        shaded = book.add_format({"bg_color": "#EEEEEE"})
        for r in range(320, 1200):
            sheet.write_blank(r, 0, None, shaded)
            sheet.write_blank(r, 3, None, shaded)

    fresh, kept, memory = _twin_books(tmp_path, empty_rows)
    changes = ChangeSet(appends=(_payment(901), _payment(902)))
    _write(fresh, changes, None)
    _write(kept, changes, memory)
    _same_books(fresh, kept)
    assert _openpyxl_cells(kept) == _openpyxl_cells(fresh)
    assert read_xlsx(kept).sheets["Payments"].rows[-1][0] == "P902"


def test_a_column_added_past_a_value_only_a_middle_row_holds(
        tmp_path: Path, small_pieces: list[int]) -> None:
    """A new column goes right of every column in use, also one the middle rows alone use."""
    def far_note(book, sheet):  # type: ignore[no-untyped-def]
        sheet.write_string(150, 20, "owner's note far right")

    fresh, kept, memory = _twin_books(tmp_path, far_note)
    changes = ChangeSet(appends=(AppendRow("Payments", {"payment_id": "P903",
                                                        "a new column": "x"}),))
    _write(fresh, changes, None)
    _write(kept, changes, memory)
    _same_books(fresh, kept)
    header = read_xlsx(kept).sheets["Payments"].rows[0]
    assert header.index("a new column") > 20


def test_a_record_left_by_a_kill_between_the_swap_and_the_record_is_not_used(
        twins: tuple[Path, Path, Path], small_pieces: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    fresh, kept, memory = twins
    save = xlsx_pieces.Memory.save
    monkeypatch.setattr(xlsx_pieces.Memory, "save", lambda self, records: None)  # killed
    changes = ChangeSet(appends=(_payment(7100), _activity(7100)))
    _write(fresh, changes, None)
    _write(kept, changes, memory)  # the record still describes the file before
    monkeypatch.setattr(xlsx_pieces.Memory, "save", save)
    small_pieces.clear()
    changes = ChangeSet(appends=(_payment(7101), _activity(7101)))
    _write(fresh, changes, None)
    _write(kept, changes, memory)
    _same_books(fresh, kept)
    assert not small_pieces
