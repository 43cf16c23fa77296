"""A required tab renamed or deleted, or a required column gone, stops every command before it
does anything (exit 2), with the near name to rename back; tool tabs are still created."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import openpyxl
import pytest

from tests.scenario import Business, row
from tests.test_cli_commands import ispsheets

D = Decimal
NOV_30 = dt.date(2026, 11, 30)
LATE = "2027-01-10"  # INV-00001 (due Dec 15) would be 26 days past due: fee and suspension


def _paid_ahead(folder) -> Business:
    """Two clients billed Nov 30; A paid a year ahead, B owes nothing either (paid at once)."""
    business = Business.create(folder, {
        "Packages": [row("Packages", package_id="HOME", name="Home", price=D("49.99"),
                         interval="monthly")],
        "Clients": [row("Clients", client_id=c, name=f"Client {c}", email=f"{c.lower()}@x.example")
                    for c in ("A", "B")],
        "Services": [row("Services", service_id=f"S-{c}", client_id=c, package_id="HOME",
                         start_date=dt.date(2026, 12, 1)) for c in ("A", "B")],
    })
    business.pay("A", "1000", NOV_30)
    business.pay("B", "49.99", NOV_30)
    assert business.run(NOV_30).exit_code == 0
    return business


def _rename_tab(business: Business, old: str, new: str) -> None:
    book = openpyxl.load_workbook(business.workbook)
    book[old].title = new
    book.save(business.workbook)


def _digest(business: Business) -> str:
    return hashlib.sha256(business.workbook.read_bytes()).hexdigest()


@pytest.mark.slow
def test_payments_renamed_stops_every_run_until_renamed_back_and_nobody_is_fined(tmp_path):
    business = _paid_ahead(tmp_path)
    mails = len(business.mails())
    _rename_tab(business, "Payments", "Payments 2026")
    before = _digest(business)

    checked = ispsheets("check", cwd=tmp_path)
    assert checked.returncode == 2
    assert ("Payments: the Payments tab is missing (did you mean the tab 'Payments 2026'?)"
            in checked.stderr)
    assert "rename the tab 'Payments 2026' back to Payments" in checked.stderr

    result = ispsheets("run", "--date", LATE, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "rename the tab 'Payments 2026' back to Payments" in result.stderr
    assert "Traceback" not in result.stderr
    assert business.run(dt.date(2026, 12, 31)).exit_code == 2  # a billing day: no invoice
    assert _digest(business) == before  # nothing written, nothing invoiced
    assert len(business.mails()) == mails  # nothing sent

    _rename_tab(business, "Payments 2026", "Payments")
    assert business.run(dt.date(2027, 1, 10)).exit_code == 0
    assert business.activity("late_fee_added") == []
    assert business.activity("client_suspended") == []
    assert {c.status for c in business.clients().values()} == {"active"}
    assert not [m for m in business.mails() if m.kind in ("late_fee", "suspend", "reminder")]


@pytest.mark.parametrize("command", ["run", "invoice", "send", "reconcile", "remind", "report",
                                     "status"])
def test_every_command_stops_with_exit_2_when_services_is_deleted(tmp_path, command):
    business = _paid_ahead(tmp_path)
    book = openpyxl.load_workbook(business.workbook)
    del book["Services"]
    book.save(business.workbook)
    before, mails = _digest(business), len(business.mails())
    result = ispsheets(command, "--date", "2026-12-31", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert "the Services tab is missing" in out and "add a tab named Services" in out
    assert "Traceback" not in out
    assert _digest(business) == before and len(business.mails()) == mails
    assert not (tmp_path / "reports" / "ispsheets-report-2026-12-31.xlsx").exists()


def test_a_required_column_renamed_stops_the_run_and_names_the_header_to_rename_back(tmp_path):
    business = _paid_ahead(tmp_path)
    book = openpyxl.load_workbook(business.workbook)
    sheet = book["Payments"]
    header = [c.value for c in sheet[1]]
    column = header.index("amount") + 1
    sheet.cell(1, column).value = "amont"
    book.save(business.workbook)
    before = _digest(business)
    result = ispsheets("run", "--date", LATE, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    letter = openpyxl.utils.get_column_letter(column)
    assert (f"Payments!1:1: missing required column amount; ispsheets does nothing until it is "
            f"there — rename column {letter} ('amont') back to amount") in result.stderr
    assert _digest(business) == before
    assert ispsheets("check", cwd=tmp_path).returncode == 2


@pytest.mark.parametrize("tab", ["Packages", "Clients", "Charges"])
def test_each_required_owner_tab_deleted_is_an_error_that_check_reports(tmp_path, tab):
    business = _paid_ahead(tmp_path)
    book = openpyxl.load_workbook(business.workbook)
    del book[tab]
    book.save(business.workbook)
    report = business.run(dt.date(2026, 12, 31))
    assert report.exit_code == 2
    assert [p.where for p in report.problems] == [tab]
    assert report.issued == [] and report.snapshot is None


def test_a_missing_tool_tab_is_still_created(tmp_path):
    business = _paid_ahead(tmp_path)
    book = openpyxl.load_workbook(business.workbook)
    del book["Activity"]
    book.save(business.workbook)
    report = business.run(dt.date(2026, 12, 31))
    assert report.exit_code == 0, report.problems
    assert business.activity("invoice_issued")
