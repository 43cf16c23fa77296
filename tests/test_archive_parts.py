"""A year's archive never passes Excel's row limit: when a part's tab would pass
`parts.PART_ROWS`, the move goes on in `<workbook>-YYYY-part2.xlsx`, `-part3`…; every reader
of the archive (restore, `check`, `recover-journal`, the move itself) sees all the parts.

The limit is lowered to a few rows so the small business of tests/test_archive.py spills: its
months of Activity fill two and three parts a year.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from ispsheets.archive import parts
from ispsheets.archive.rows import ARCHIVED_TABS
from ispsheets.book.reader import read_xlsx
from ispsheets.journal import ArchivedRow
from tests.scenario import Business
from tests.test_archive import (
    FIRST,
    SHORT_LAST,
    _copy,
    _everything,
    _rows,
    _rows_by_key,
    _set_months,
    _short_story,
    files_read,
    never_archived,  # noqa: F401 (a fixture)
    short_story,  # noqa: F401 (a fixture)
)

D = Decimal
LIMIT = 10  # a part's tabs stop at sheet row 10: a header and 9 rows


def _cli(folder: Path, *args: str, kill_at: str | None = None,
         limit: int = LIMIT) -> subprocess.CompletedProcess[str]:
    """The real command line, in a process of its own, with the part limit lowered."""
    code = ("import sys, ispsheets.archive.parts as p; "
            f"p.PART_ROWS = {limit}; from ispsheets.cli import main; main()")
    env = {**os.environ, "COLUMNS": "200"}
    if kill_at:
        env["ISPSHEETS_KILL_AT"] = kill_at
    return subprocess.run([sys.executable, "-c", code, *args,
                           "--config", str(folder / "config.yaml")],
                          capture_output=True, text=True, timeout=120, env=env)


def _names(folder: Path) -> list[str]:
    found = [p for p in (folder / "archive").glob("*.xlsx") if parts.part_of("isp", p)]
    return [p.name for p in sorted(found, key=lambda p: parts.part_of("isp", p) or (0, 0))]


def _tabs(path: Path) -> dict[str, list[list[object]]]:
    sheets = read_xlsx(path).sheets
    return {tab: [list(r) for r in sheets[tab].rows] for tab in ARCHIVED_TABS}


def _files(folder: Path) -> dict[str, dict[str, list[list[object]]]]:
    """Every archive file's archived tabs, row by row (what the owner opens)."""
    return {name: _tabs(folder / "archive" / name) for name in _names(folder)}


def _within_limit(folder: Path, limit: int = LIMIT) -> None:
    for name, tabs in _files(folder).items():
        for tab, rows in tabs.items():
            assert len(rows) <= limit, f"{name} {tab}: {len(rows)} rows"


def _lines_with_their_invoice(folder: Path) -> None:
    for name, tabs in _files(folder).items():
        numbers = {r[0] for r in tabs["Invoices"][1:]}
        assert {r[0] for r in tabs["InvoiceLines"][1:]} <= numbers, name


# -- through `ispsheets run` -------------------------------------------------------------------

@pytest.mark.slow
def test_a_run_spills_a_full_year_into_parts_and_nothing_changes(tmp_path, short_story,  # noqa: F811
                                                                 monkeypatch) -> None:
    """The month-by-month moves of the daily run, with parts of 9 rows: every row is in the
    workbook or one part exactly once, every email and figure is the one of a run without
    parts, and no part's tab passes the limit."""
    undisturbed, _ = short_story
    monkeypatch.setattr(parts, "PART_ROWS", LIMIT)
    business = Business.create(tmp_path, _rows())
    _set_months(business, 1)
    _short_story(business, FIRST, SHORT_LAST)
    assert _everything(business) == undisturbed
    names = _names(tmp_path)
    assert names == ["isp-2025.xlsx", "isp-2025-part2.xlsx", "isp-2025-part3.xlsx",
                     "isp-2026.xlsx", "isp-2026-part2.xlsx"]
    _within_limit(tmp_path)
    _lines_with_their_invoice(tmp_path)
    logged = [r["detail"] for r in business.activity() if r["action"] == "archived"]
    assert any(d.endswith(" in archive/isp-2026-part2.xlsx") for d in logged), logged
    assert all(d[0].isdigit() for d in logged), logged  # what moved to each file, counted


# -- through `ispsheets archive` ----------------------------------------------------------------

@pytest.fixture(scope="module")
def spilled(tmp_path_factory, never_archived) -> Business:  # noqa: F811
    """Two moves, with parts of 9 rows: the first moves 2025 (three parts of Activity) and
    January (isp-2026.xlsx and part 2); the second goes on in part 2 (February's invoices,
    payments and first Activity row), then parts 3 and 4."""
    business = _copy(never_archived, tmp_path_factory.mktemp("spilled") / "copy")
    for before in ("2026-02-01", "2026-03-01"):
        moved = _cli(business.folder, "archive", "--before", before, "--date", "2026-03-25")
        assert moved.returncode == 0, moved.stderr + moved.stdout
    return business


def _part2_invoice(folder: Path) -> tuple[str, int]:
    """ONTIME's invoice in isp-2026-part2.xlsx (paid by one payment, archived with it), and
    its sheet row there."""
    tabs = _tabs(folder / "archive" / "isp-2026-part2.xlsx")
    found = [(str(r[0]), n) for n, r in enumerate(tabs["Invoices"], start=1) if r[1] == "ONTIME"]
    assert found, "ONTIME's February invoice did not move to part 2"
    return found[0]


@pytest.mark.slow
def test_a_move_spills_into_parts_two_and_three(spilled, never_archived) -> None:  # noqa: F811
    folder = spilled.folder
    assert _names(folder) == ["isp-2025.xlsx", "isp-2025-part2.xlsx", "isp-2025-part3.xlsx",
                              "isp-2026.xlsx", "isp-2026-part2.xlsx", "isp-2026-part3.xlsx",
                              "isp-2026-part4.xlsx"]
    _within_limit(folder)
    _lines_with_their_invoice(folder)
    for tab, key in (("Invoices", "invoice_number"), ("InvoiceLines", "invoice_number+line"),
                     ("Payments", "payment_id"), ("Charges", "charge_id")):
        assert _rows_by_key(spilled, tab, key, archive=True) == \
            _rows_by_key(never_archived, tab, key, archive=False), tab
    first = _tabs(folder / "archive" / "isp-2026.xlsx")["Activity"]
    assert len(first) == LIMIT  # full: the next rows went on in part 2
    assert {c: x.balance for c, x in spilled.clients().items()} == \
        {c: x.balance for c, x in never_archived.clients().items()}


@pytest.mark.slow
def test_an_invoice_in_part_2_is_restored(tmp_path, spilled, never_archived) -> None:  # noqa: F811
    business = _copy(spilled, tmp_path / "copy")
    folder = business.folder
    number, _ = _part2_invoice(folder)
    restored = _cli(folder, "archive", "--restore", number)
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert "1 InvoiceLines row, 1 Payments row" in restored.stdout, restored.stdout
    assert number in {r["invoice_number"] for r in business.sheet("Invoices")}
    assert [r for r in business.sheet("InvoiceLines") if r["invoice_number"] == number]
    assert [r for r in business.sheet("Payments") if r["applied_to"] == f"{number}:49.99"]
    for name, tabs in _files(folder).items():
        assert number not in [str(r[0]) for r in tabs["Invoices"][1:]], name
        assert number not in [str(r[0]) for r in tabs["InvoiceLines"][1:]], name
    for tab, key in (("Invoices", "invoice_number"), ("InvoiceLines", "invoice_number+line"),
                     ("Payments", "payment_id")):
        _rows_by_key(business, tab, key, archive=True)  # each row once (asserted inside)
    report = business.run(dt.date(2026, 3, 26))
    assert report.exit_code.value <= 1, report.problems
    assert {c: x.balance for c, x in business.clients().items()} == \
        {c: x.balance for c, x in never_archived.clients().items()}


@pytest.mark.slow
def test_a_lost_journal_is_rebuilt_from_every_part(tmp_path, spilled) -> None:
    business = _copy(spilled, tmp_path / "copy")
    folder = business.folder
    balances = {c: x.balance for c, x in business.clients().items()}
    number, _ = _part2_invoice(folder)
    in_parts = sum(len(rows) - 1 for tabs in _files(folder).values() for rows in tabs.values())
    business.config.journal_path.unlink()
    rebuilt = _cli(folder, "recover-journal")
    assert rebuilt.returncode == 0, rebuilt.stderr + rebuilt.stdout
    assert f"{in_parts} rows of archive/ recorded as archived" in rebuilt.stdout
    report = business.run(dt.date(2026, 3, 26))
    assert report.exit_code.value <= 1, report.problems
    assert report.issued == []  # nothing billed again: what the parts billed is known
    assert {c: x.balance for c, x in business.clients().items()} == balances
    assert number not in business.invoices()  # and it stays in the archive
    checked = _cli(folder, "check")
    assert "archive/" not in checked.stdout + checked.stderr  # no edit seen in any part


@pytest.mark.slow
def test_check_names_an_edit_in_part_2(tmp_path, spilled) -> None:
    from ispsheets.book.changes import ChangeSet, SetCell
    from ispsheets.book.xlsx_backend import apply_changes

    folder = _copy(spilled, tmp_path / "copy").folder
    clean = _cli(folder, "check")
    assert "archive/" not in clean.stdout + clean.stderr
    path = folder / "archive" / "isp-2026-part2.xlsx"
    number, row = _part2_invoice(folder)
    apply_changes(path, ChangeSet(sets=(SetCell("Invoices", number, "total", D("1.00")),)),
                  backup_dir=tmp_path / "b", keep_backups=0, expected_fingerprint=None,
                  now=dt.datetime(2026, 3, 25))
    checked = _cli(folder, "check")
    said = " ".join((checked.stdout + checked.stderr).split())
    assert f"archive/isp-2026-part2.xlsx: Invoices!{row}:{row}" in said, said
    assert f"({number}) was changed after it moved to the archive (total)" in said
    assert "the change is ignored" in said


@pytest.mark.slow
def test_check_names_the_rows_of_a_part_the_owner_deleted(tmp_path, spilled) -> None:
    """The other parts of the year read as written: the year is read all the same."""
    folder = _copy(spilled, tmp_path / "copy").folder
    number, _ = _part2_invoice(folder)
    (folder / "archive" / "isp-2026-part2.xlsx").unlink()
    checked = _cli(folder, "check")
    said = " ".join((checked.stdout + checked.stderr).split())
    assert f"Invoices row {number} is no longer there" in said, said


@pytest.mark.slow
def test_a_move_into_parts_it_wrote_last_reads_none_of_them(tmp_path, never_archived,  # noqa: F811
                                                           monkeypatch) -> None:
    """The journal keeps each part's digest and how far its tabs reach: the next move knows
    whether it fits without reading the part."""
    import ispsheets.archive.move as move
    from tests.test_archive import _archive_in_process

    monkeypatch.setattr(parts, "PART_ROWS", LIMIT)
    business = _copy(never_archived, tmp_path / "copy")
    read = files_read(monkeypatch, move, parts)
    day = dt.date(2026, 3, 25)
    for before in ("2026-01-01", "2026-02-01", "2026-03-01"):
        assert _archive_in_process(business, before, day).exit_code.value == 0
    assert read == []
    assert "isp-2026-part3.xlsx" in _names(business.folder)
    _within_limit(business.folder)
    from ispsheets.book.xlsx_backend import fingerprint
    from ispsheets.journal import Journal

    journal = Journal.open(business.config.journal_path)
    try:  # what the journal says of each part is what the part holds
        for name in _names(business.folder):
            path = business.folder / "archive" / name
            assert journal.archive_file_digest(name) == fingerprint(path), name
            assert journal.archive_file_rows(name) == parts.rows_used(read_xlsx(path)), name
    finally:
        journal.close()


@pytest.mark.slow
def test_an_archive_from_before_parts_is_counted_once_and_goes_on(tmp_path, spilled,
                                                                  never_archived,  # noqa: F811
                                                                  monkeypatch) -> None:
    """A journal from before parts knows each file's digest but not its rows: the next move
    counts the year's last file once (reading it), then goes on as if it had always known."""
    import sqlite3

    import ispsheets.archive.move as move
    from tests.test_archive import _archive_in_process

    monkeypatch.setattr(parts, "PART_ROWS", LIMIT)
    business = _copy(never_archived, tmp_path / "copy")
    day = dt.date(2026, 3, 25)
    assert _archive_in_process(business, "2026-02-01", day).exit_code.value == 0
    with sqlite3.connect(business.config.journal_path) as db:
        assert db.execute("DELETE FROM actions WHERE kind = 'archive_rows'").rowcount == 5
    read = files_read(monkeypatch, move)
    assert _archive_in_process(business, "2026-03-01", day).exit_code.value == 0
    assert read == ["isp-2026-part2.xlsx"]
    assert _files(business.folder) == _files(spilled.folder)


@pytest.mark.slow
def test_a_part_the_owner_filled_past_the_limit_is_left_as_it_is(tmp_path, never_archived,  # noqa: F811
                                                                 monkeypatch) -> None:
    """The owner types Activity rows into the year's last part until it passes the limit:
    the next move reads it (it changed), sees that tab full, and its Activity goes on in a new
    part; no warning, no failure (no tab of an archive part can stop a move)."""
    from ispsheets.book.changes import AppendRow, ChangeSet
    from ispsheets.book.xlsx_backend import apply_changes
    from tests.test_archive import _archive_in_process

    monkeypatch.setattr(parts, "PART_ROWS", LIMIT)
    business = _copy(never_archived, tmp_path / "copy")
    day = dt.date(2026, 3, 25)
    assert _archive_in_process(business, "2026-02-01", day).exit_code.value == 0
    last = business.folder / "archive" / "isp-2026-part2.xlsx"
    assert "isp-2026-part3.xlsx" not in _names(business.folder)
    typed = tuple(AppendRow("Activity", {"timestamp": dt.datetime(2026, 1, 31, 9, n),
                                         "action": "note", "detail": f"typed by the owner {n}"})
                  for n in range(LIMIT))
    apply_changes(last, ChangeSet(appends=typed), backup_dir=tmp_path / "b", keep_backups=0,
                  expected_fingerprint=None, now=dt.datetime(2026, 3, 25))
    filled = _tabs(last)["Activity"]
    assert len(filled) > LIMIT
    report = _archive_in_process(business, "2026-03-01", day)
    assert report.exit_code.value == 0, report.problems
    assert not report.problems
    assert _tabs(last)["Activity"] == filled  # no row added to the full tab
    assert "isp-2026-part3.xlsx" in _names(business.folder)
    for tab, key in (("Invoices", "invoice_number"), ("InvoiceLines", "invoice_number+line"),
                     ("Payments", "payment_id")):
        assert _rows_by_key(business, tab, key, archive=True) == \
            _rows_by_key(never_archived, tab, key, archive=False), tab


def test_a_part_never_reaches_the_row_warning_of_check() -> None:
    """A full part stays under the 80 % line `check` warns at for a workbook tab (whose fix,
    archiving more, would not help an archive part)."""
    from ispsheets.archive.limits import FULL_SHARE
    from ispsheets.book.xlsx_sheet import MAX_ROWS

    assert 1 < parts.PART_ROWS <= FULL_SHARE * MAX_ROWS


# -- a kill in the middle of a move that spills --------------------------------------------------

@pytest.mark.parametrize(("move", "point"), [
    *((2, p) for p in ("archive-keyed", "archive-appended@1", "archive-appended@2",
                       "archive-appended@3", "archive-removed")),
    (1, "archive-appended@3"),  # 2025's last part, before 2026's first
    (1, "archive-appended@5")])
@pytest.mark.slow
def test_a_spilling_move_killed_anywhere_is_finished_by_the_next(tmp_path, spilled, move, point,
                                                                  never_archived  # noqa: F811
                                                                  ) -> None:
    """`archive-appended@N`: killed after the move's Nth part was appended to, before the
    journal knew (the second move writes three parts of 2026, the first three of 2025 and
    two of 2026). The move run again leaves the same parts, each row once."""
    business = _copy(never_archived, tmp_path / "copy")
    folder = business.folder
    for n, before in enumerate(("2026-02-01", "2026-03-01"), start=1):
        args = ("archive", "--before", before, "--date", "2026-03-25")
        if n == move:
            killed = _cli(folder, *args, kill_at=point)
            assert killed.returncode == 137, killed.stderr  # it really died there
        done = _cli(folder, *args)
        assert done.returncode == 0, done.stderr + done.stdout
    assert _files(folder) == _files(spilled.folder)
    for tab in ("Invoices", "InvoiceLines", "Payments", "Charges"):
        assert business.sheet(tab) == spilled.sheet(tab), tab
    assert [r for r in business.activity() if r["action"] != "archived"] == \
        [r for r in spilled.activity() if r["action"] != "archived"]
    assert {c: x.balance for c, x in business.clients().items()} == \
        {c: x.balance for c, x in never_archived.clients().items()}


# -- the rule itself -----------------------------------------------------------------------------

def _row(tab: str, key: str, invoice: str = "") -> ArchivedRow:
    return ArchivedRow(tab, key, 2026, {"invoice_number": invoice} if invoice else {})


def _split(rows: list[ArchivedRow], used: dict[str, int], limit: int) -> list[list[str]]:
    return [[r.key for r in chunk] for chunk in parts.split_into_parts(rows, used, limit)]


def test_a_part_takes_rows_up_to_the_limit_then_the_next_begins() -> None:
    rows = [_row("Activity", f"a{n}") for n in range(7)]
    assert _split(rows, {}, 4) == [["a0", "a1", "a2"], ["a3", "a4", "a5"], ["a6"]]
    assert _split(rows, {"Activity": 3}, 4) == [["a0"], ["a1", "a2", "a3"], ["a4", "a5", "a6"]]
    assert _split(rows, {"Activity": 4}, 4) == [[], ["a0", "a1", "a2"], ["a3", "a4", "a5"],
                                                ["a6"]]
    assert _split(rows[:3], {"Activity": 1}, 4) == [["a0", "a1", "a2"]]


def test_once_a_part_is_full_every_later_row_goes_on_in_the_next() -> None:
    """The parts follow each other: a row of any tab after the one that did not fit goes on
    in the new part, even where the old part's tab had room."""
    rows = [_row("Payments", "p1"), _row("Payments", "p2"), _row("Activity", "a1")]
    assert _split(rows, {"Payments": 3, "Activity": 1}, 4) == [["p1"], ["p2", "a1"]]


def test_an_invoice_and_its_lines_stay_in_one_part() -> None:
    rows = [_row("Invoices", "INV-1"), _row("Invoices", "INV-2"),
            _row("InvoiceLines", "INV-1#1", "INV-1"), _row("InvoiceLines", "INV-1#2", "INV-1"),
            _row("InvoiceLines", "INV-2#1", "INV-2"), _row("InvoiceLines", "INV-2#2", "INV-2")]
    # INV-2's two lines do not fit beside INV-1's in a part of 4 rows: both go on
    assert _split(rows, {}, 4) == [["INV-1", "INV-1#1", "INV-1#2"],
                                   ["INV-2", "INV-2#1", "INV-2#2"]]
    # a line whose invoice moved before goes alone
    assert _split(rows[2:3], {"InvoiceLines": 3}, 4) == [["INV-1#1"]]


def test_a_unit_larger_than_a_part_still_moves() -> None:
    rows = [_row("Invoices", "INV-1"), *(_row("InvoiceLines", f"INV-1#{n}", "INV-1")
                                         for n in range(5))]
    assert _split(rows, {}, 3) == [["INV-1", *(f"INV-1#{n}" for n in range(5))]]
    assert _split(rows, {"Invoices": 2}, 3) == [[], ["INV-1", *(f"INV-1#{n}"
                                                               for n in range(5))]]


def test_part_names() -> None:
    assert parts.part_of("isp", Path("isp-2026.xlsx")) == (2026, 1)
    assert parts.part_of("isp", Path("isp-2026-part2.xlsx")) == (2026, 2)
    assert parts.part_of("isp", Path("isp-2026-part12.xlsx")) == (2026, 12)
    for other in ("isp-2026-part1.xlsx", "isp-2026-part02.xlsx", "isp-2026-2.xlsx",
                  "isp-26.xlsx", "isp-2026.xlsx.bak", "isp-2026-part2.csv",
                  "my-isp-2026.xlsx", ".isp-2026-part2.new.xlsx"):
        assert parts.part_of("isp", Path(other)) is None, other
    assert parts.part_of("my-isp", Path("my-isp-2026-part3.xlsx")) == (2026, 3)


def test_a_years_parts_are_keyed_as_one() -> None:
    """Two identical Activity rows a part boundary separates keep the keys the workbook gave
    them (the second `#2`), so no reader takes the second for the first."""
    from ispsheets.book.reader import RawBook, RawSheet

    header = ["timestamp", "action", "client_id", "invoice_number", "detail"]
    same = [dt.datetime(2026, 1, 10, 6, 15), "receipt_sent", "ONTIME", "", "mailed"]
    other = [dt.datetime(2026, 1, 11, 6, 15), "receipt_sent", "LATE", "", "mailed"]

    def book(*rows: list[object]) -> RawBook:
        return RawBook({"Activity": RawSheet("Activity", [header, *map(list, rows)])})

    books = [(Path("isp-2026.xlsx"), book(other, same)), (Path("isp-2026-part2.xlsx"),
                                                          book(same))]
    found = [(key, path.name) for key, path, _ in parts.year_rows(books, "Activity", "MDY")]
    (other_key, _), (first, _), (second, where) = found
    assert second == first + "#2" and other_key != first
    assert where == "isp-2026-part2.xlsx"
