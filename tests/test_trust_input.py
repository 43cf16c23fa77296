"""Implausible input never becomes money: dates outside a plausible window are errors naming
their likely cause, and an invoice far outside what the client normally pays is held."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import openpyxl
import pytest

from ispsheets.book.parse import DateWindow
from tests.scenario import Business, row

D = Decimal
NOV_30 = dt.date(2026, 11, 30)


def _rows(**services: dict[str, object]) -> dict[str, list[tuple[object, ...]]]:
    """One client per service, monthly Home at 49.99 unless the service says otherwise."""
    packages = [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                    interval="monthly"),
                row("Packages", package_id="YEAR", name="Home annual", price=D("499.00"),
                    interval="annual", setup_fee=D("99.00"))]
    clients, rows = [], []
    for client_id, fields in services.items():
        clients.append(row("Clients", client_id=client_id, name=f"Client {client_id}",
                           email=f"{client_id.lower()}@x.example", status="active"))
        rows.append(row("Services", **{"service_id": f"S-{client_id}", "client_id": client_id,
                                       "package_id": "HOME",
                                       "start_date": dt.date(2026, 12, 1), **fields}))
    return {"Packages": packages, "Clients": clients, "Services": rows}


# -- implausible dates -------------------------------------------------------------------


def test_a_15_typed_into_a_date_cell_is_an_error_and_bills_nothing(tmp_path):
    business = Business.create(tmp_path, _rows(OK={}, TYPO={}))
    # the owner types 15 into the date-formatted start_date cell: Excel shows 1900-01-15
    book = openpyxl.load_workbook(business.workbook)
    cell = book["Services"]["D3"]
    cell.value, cell.number_format = 15, "yyyy-mm-dd"
    book.save(business.workbook)
    assert business.sheet("Services")[1]["start_date"] == dt.date(1900, 1, 15)
    report = business.run(NOV_30)
    assert report.exit_code == 1
    assert [i.client_id for i in report.issued] == ["OK"]
    [problem] = [p for p in report.problems if p.where == "Services!D3"]
    assert "a number typed into a date cell?" in problem.message
    assert "shows 15 as 1900-01-15" in problem.message
    assert any(p.where == "Services!3:3" and "row skipped" in p.message
               for p in report.problems)
    assert [m.to for m in business.mails()] == ["ok@x.example"]
    assert set(business.invoices()) == {"INV-00001"}


def test_a_year_typed_as_1026_is_an_error_naming_the_typo(tmp_path):
    business = Business.create(tmp_path, _rows(OK={}, TYPO={"start_date": "12/01/1026"}))
    report = business.run(NOV_30)
    assert report.exit_code == 1
    assert [i.client_id for i in report.issued] == ["OK"]
    [problem] = [p for p in report.problems if p.where == "Services!D3"]
    assert problem.is_error
    assert "'12/01/1026' reads as 1026-12-01" in problem.message
    assert "a typo in the year?" in problem.message
    assert report.billed_total == D("49.99")


def test_every_owner_date_column_is_checked(tmp_path):
    rows = _rows(OK={}, END={"end_date": "12/31/2099"}, MOVED={"billed_through": "11/30/1926"},
                 CHG={}, PAY={})
    rows["Charges"] = [row("Charges", charge_id="CHG-1", client_id="CHG",
                           date=dt.date(1999, 12, 31), description="router", amount=D("80"))]
    rows["Payments"] = [row("Payments", payment_id="PAY-1", client_id="PAY",
                            date="1/5/2207", amount=D("49.99"), method="cash")]
    business = Business.create(tmp_path, rows)
    report = business.run(NOV_30)
    errors = {p.where: p.message for p in report.problems if p.is_error}
    assert "more than 5 years after today (2026-11-30)" in errors["Services!E3"]
    assert "before 2000-01-01" in errors["Services!I4"]
    assert "1999-12-31 is before 2000-01-01" in errors["Charges!C2"]
    assert "2207-01-05" in errors["Payments!B2"]
    assert {f"{tab}!{n}:{n}" for tab, n in (("Services", 3), ("Services", 4), ("Charges", 2),
                                             ("Payments", 2))} <= set(errors)
    # only the services whose rows are fine are billed; the charge is not
    assert sorted(i.client_id for i in report.issued) == ["CHG", "OK", "PAY"]
    assert all(len(i.lines) == 1 for i in report.issued)


def test_the_check_command_names_the_cell_and_the_cause(tmp_path):
    from ispsheets.book.check import read_and_check

    business = Business.create(tmp_path, _rows(TYPO={"start_date": "12/01/1026"}))
    _, problems = read_and_check(business.config, today=NOV_30)
    assert any(p.where == "Services!D2" and "typo in the year" in p.message for p in problems)


@pytest.mark.parametrize(("day", "plausible"), [
    (dt.date(1999, 12, 31), False), (dt.date(2000, 1, 1), True),
    (dt.date(2031, 11, 30), True), (dt.date(2031, 12, 1), False)])
def test_the_window_runs_from_2000_to_five_years_after_the_run(day, plausible):
    window = DateWindow.around(NOV_30)
    assert (window.check(day, day) is None) is plausible
