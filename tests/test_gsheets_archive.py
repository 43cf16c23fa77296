"""The archive on a Google Sheet: settled rows leave the sheet (Sheets' `deleteDimension`) for
`archive/google-sheet-YYYY.xlsx` in the business's folder, and nothing in the numbers changes.

Before, the rows were copied to files beside the business's folder (named after the folder)
and never removed from the sheet: a big ISP's sheet still grew to Google's 10-million-cell
limit.
"""

from __future__ import annotations

import datetime as dt

import pytest

from ispsheets.book import gsheets_backend
from ispsheets.book.backend import open_backend
from ispsheets.book.changes import ChangeSet, DeleteRow
from ispsheets.book.check import check_workbook
from ispsheets.book.reader import read_xlsx
from tests.gsheets_harness import clean_fake
from tests.scenario import Business
from tests.test_archive import FIRST, _command, _days, _rows, _set_months, _typed_before

LAST = dt.date(2026, 6, 30)
KEYS = {"Invoices": "invoice_number", "InvoiceLines": "invoice_number+line",
        "Payments": "payment_id", "Charges": "charge_id"}


def _live(folder, months: int) -> Business:
    business = Business.create(folder, _rows(), backend="gsheets")
    _set_months(business, months)
    for day in _days():
        if day > LAST:
            break
        for client, amount, when in _typed_before(day):
            business.pay(client, amount, when)
        report = business.run(day)
        assert report.exit_code.value <= 1, report.problems
    return business


@pytest.fixture(scope="module")  # seven months on the fake sheet, twice: ~40 s
def pair(tmp_path_factory) -> tuple[Business, Business]:
    clean_fake()
    kept = _live(tmp_path_factory.mktemp("kept"), 0)
    with pytest.MonkeyPatch.context() as patch:  # a move's removals in several requests
        patch.setattr(gsheets_backend, "REMOVALS_PER_REQUEST", 2)
        archived = _live(tmp_path_factory.mktemp("archived"), 2)
    return kept, archived


def _files(business: Business) -> list:
    return sorted((business.folder / "archive").glob("*.xlsx"))


def _keys(business: Business, tab: str, *, archive: bool) -> dict[tuple[str, ...], str]:
    """Each row's key → where it is (the sheet, or an archive file's name)."""
    columns = KEYS[tab].split("+")
    found: dict[tuple[str, ...], str] = {}
    places = [("sheet", business.sheet(tab))]
    if archive:
        for path in _files(business):
            sheet = read_xlsx(path).sheets[tab]
            header = [str(h) for h in sheet.header]
            places.append((path.name, [dict(zip(header, r, strict=False))
                                       for r in sheet.rows[1:]]))
    for place, rows in places:
        for values in rows:
            key = tuple(str(values[c]).removesuffix(".0") for c in columns)
            assert key not in found, f"{key} in {found[key]} and {place}"
            found[key] = place
    return found


@pytest.mark.slow
def test_settled_rows_leave_the_sheet_for_the_business_folder(pair) -> None:
    kept, archived = pair
    assert len(archived.sheet("Invoices")) < len(kept.sheet("Invoices"))
    assert len(archived.sheet("Activity")) < len(kept.sheet("Activity"))
    assert [f.name for f in _files(archived)] == ["google-sheet-2025.xlsx",
                                                  "google-sheet-2026.xlsx"]
    assert not _files(kept)
    assert not (archived.folder.parent / "archive").exists()  # where they went before


@pytest.mark.slow
def test_every_row_is_in_the_sheet_or_its_archive_exactly_once(pair) -> None:
    kept, archived = pair
    for tab in KEYS:
        now = _keys(archived, tab, archive=True)
        assert set(now) == set(_keys(kept, tab, archive=False)), tab
        if tab != "Charges":
            assert "sheet" in now.values() and set(now.values()) != {"sheet"}, tab


@pytest.mark.slow
def test_balances_statuses_emails_and_the_report_are_the_same(pair) -> None:
    kept, archived = pair
    assert archived.clients() == kept.clients()
    assert archived.clients()["STOPS"].status == "suspended"
    assert [(m.key, m.to, m.subject, m.text, m.day) for m in archived.mails()] == \
        [(m.key, m.to, m.subject, m.text, m.day) for m in kept.mails()]

    def last_report(business: Business) -> dict:
        path = sorted((business.folder / "reports").glob("*.xlsx"))[-1]
        return {name: sheet.rows for name, sheet in read_xlsx(path).sheets.items()}
    assert last_report(archived) == last_report(kept)


@pytest.mark.slow
def test_a_row_sorted_away_before_the_removal_is_left_where_it_is(pair, tmp_path) -> None:
    """The removal locates each row by the number the archive read it at and removes it only
    if it still shows what was copied: after the owner sorts, another invoice sits there."""
    _, archived = pair
    backend = open_backend(archived.config)
    raw = backend.read()
    header = [str(h) for h in raw.sheets["Invoices"].header]
    rows = raw.sheets["Invoices"].rows
    number = header.index("invoice_number")
    first, last = str(rows[1][number]), str(rows[-1][number])
    assert first != last
    clean_fake().sort(archived.sheet_key, "Invoices", column=number, reverse=True)

    written = backend.write(ChangeSet(deletes=(
        DeleteRow("Invoices", 2, {"invoice_number": first}),)), dt.datetime(2026, 7, 1, 6))

    assert written.rows_deleted == 0
    shown = [r["invoice_number"] for r in archived.sheet("Invoices")]
    assert first in shown and last in shown and len(shown) == len(rows) - 1

    at_two = shown[0]  # what row 2 shows now: removed when asked for by its own key
    written = backend.write(ChangeSet(deletes=(
        DeleteRow("Invoices", 2, {"invoice_number": at_two}),)), dt.datetime(2026, 7, 1, 6))
    assert written.rows_deleted == 1
    assert at_two not in [r["invoice_number"] for r in archived.sheet("Invoices")]


@pytest.mark.parametrize("warned", [False, True])
def test_check_and_the_run_warn_before_a_sheet_is_full(tmp_path, warned) -> None:
    """Past 80 % of Google's 10,000,000 cells (the grids' blank cells count too)."""
    business = Business.create(tmp_path, _rows(), backend="gsheets")
    fake = clean_fake()
    grids = {t.title: t for t in fake.books[business.sheet_key].sheets}
    activity = grids["Activity"]
    others = sum(t.rows * t.columns for name, t in grids.items() if name != "Activity")
    rows = (8_000_000 - others) // activity.columns
    activity.rows = rows + warned  # just under (or at) 8,000,000 cells in all, or just over
    total = sum(t.rows * t.columns for t in grids.values())
    assert (total > 8_000_000) is warned and 8_000_000 - total < activity.columns

    problems = [str(p) for p in check_workbook(business.config, FIRST).problems]
    report = business.run(FIRST)

    said = [p for p in problems if "a Google Sheet can hold" in p]
    assert len(said) == warned
    ran = [str(p) for p in report.problems if "a Google Sheet can hold" in str(p)]
    assert len(ran) == warned  # (the run counts the small tab it adds to stamp its writes)
    if warned:
        assert f"holds {total:,} cells" in said[0]
        assert "archive_after_months" in said[0]


@pytest.mark.slow
def test_an_archived_invoice_comes_back_into_the_sheet(pair) -> None:
    kept, archived = pair
    path = archived.folder / "archive" / "google-sheet-2025.xlsx"
    number = str(read_xlsx(path).sheets["Invoices"].rows[1][0])
    assert number not in {r["invoice_number"] for r in archived.sheet("Invoices")}

    restored = _command(archived.folder, "archive", "--restore", number)

    assert restored.returncode == 0, restored.stderr
    assert number in {r["invoice_number"] for r in archived.sheet("Invoices")}
    assert [r for r in archived.sheet("InvoiceLines") if r["invoice_number"] == number]
    assert number not in [str(r[0]) for r in read_xlsx(path).sheets["Invoices"].rows]
    assert archived.clients() == kept.clients()
