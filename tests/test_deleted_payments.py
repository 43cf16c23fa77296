"""A payment an earlier run applied that vanishes from the Payments tab stops the run (exit 2,
listed) instead of reopening what it paid; the owner puts it back or confirms the deletion."""

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


def _shop(folder) -> Business:
    business = Business.create(folder, {
        "Packages": [row("Packages", package_id="HOME", name="Home", price=D("49.99"),
                         interval="monthly")],
        "Clients": [row("Clients", client_id=c, name=f"Client {c}", email=f"{c.lower()}@x.example")
                    for c in ("A", "B")],
        "Services": [row("Services", service_id=f"S-{c}", client_id=c, package_id="HOME",
                         start_date=dt.date(2026, 12, 1)) for c in ("A", "B")],
    })
    business.run(NOV_30)
    business.pay("A", "49.99", dt.date(2026, 12, 5))
    business.pay("B", "49.99", dt.date(2026, 12, 6))
    assert business.run(dt.date(2026, 12, 6)).exit_code == 0
    assert [r["payment_id"] for r in business.sheet("Payments")] == ["PAY-00001", "PAY-00002"]
    return business


def _delete_row(business: Business, number: int) -> None:
    book = openpyxl.load_workbook(business.workbook)
    book["Payments"].delete_rows(number)
    book.save(business.workbook)


def _digest(business: Business) -> str:
    return hashlib.sha256(business.workbook.read_bytes()).hexdigest()


@pytest.mark.slow
def test_a_deleted_applied_payment_stops_every_run_until_put_back(tmp_path):
    business = _shop(tmp_path)
    saved = openpyxl.load_workbook(business.workbook)["Payments"]
    kept = [c.value for c in saved[2]]
    _delete_row(business, 2)
    before, mails = _digest(business), len(business.mails())
    result = ispsheets("run", "--date", "2027-01-10", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert ("Payments: payment PAY-00001 (2026-12-05, client A, 49.99), applied by an earlier "
            "run, is no longer on the Payments tab" in result.stderr)
    assert "--accept-deleted-payments" in result.stderr
    assert _digest(business) == before and len(business.mails()) == mails
    assert business.activity("late_fee_added") == []
    checked = ispsheets("check", cwd=tmp_path)
    assert "payment PAY-00001" in checked.stderr and checked.returncode == 1

    # the owner puts the row back: the run goes on and A, who paid, is left alone
    book = openpyxl.load_workbook(business.workbook)
    book["Payments"].append(kept)
    book.save(business.workbook)
    assert business.run(dt.date(2027, 1, 10)).exit_code == 0
    assert business.invoices()["INV-00001"].status == "paid"
    assert business.clients()["A"].status == "active"
    assert "A" not in {r["client_id"] for r in business.activity("late_fee_added")}


@pytest.mark.slow
def test_a_deletion_confirmed_once_reopens_the_invoice_and_is_not_asked_again(tmp_path):
    business = _shop(tmp_path)
    _delete_row(business, 2)
    assert ispsheets("status", "--date", "2026-12-07", cwd=tmp_path).returncode == 2
    result = ispsheets("run", "--date", "2026-12-07", "--accept-deleted-payments", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    [logged] = business.activity("payment_deleted")
    assert logged["client_id"] == "A" and logged["detail"].startswith("PAY-00001 (2026-12-05")
    assert business.invoices()["INV-00001"].status == "open"
    assert business.invoices()["INV-00002"].status == "paid"
    assert business.run(dt.date(2026, 12, 8)).exit_code == 0  # not asked again


def test_a_cleared_payment_id_cell_is_not_a_deleted_payment(tmp_path):
    business = _shop(tmp_path)
    book = openpyxl.load_workbook(business.workbook)
    book["Payments"]["A2"].value = None
    book.save(business.workbook)
    report = business.run(dt.date(2026, 12, 7))
    assert report.exit_code == 0, report.problems
    assert business.invoices()["INV-00001"].status == "paid"


def test_an_owner_typed_payment_id_retyped_is_the_same_payment_not_a_deleted_one(tmp_path):
    business = _shop(tmp_path)
    business.pay("A", "20.00", dt.date(2026, 12, 7), payment_id="CHK-1001")
    assert business.run(dt.date(2026, 12, 7)).exit_code == 0
    book = openpyxl.load_workbook(business.workbook)
    book["Payments"]["A4"].value = "CHK-1001-A"  # same date, client and amount
    book.save(business.workbook)
    report = business.run(dt.date(2026, 12, 8))
    assert report.exit_code == 0, report.problems
    assert business.activity("payment_deleted") == []
