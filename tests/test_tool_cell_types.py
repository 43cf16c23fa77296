"""Every cell the tool writes has its column's type: an owner's =SUM() and date filters see it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import openpyxl
import pytest

from ispsheets.book.cell_types import typed_row
from ispsheets.book.schema import TABS, Kind, find_tab
from tests.scenario import Business, row

D = Decimal
NUMERIC = (Kind.MONEY, Kind.NUMBER, Kind.PERCENT, Kind.INT)
DATES = (Kind.DATE, Kind.DATETIME)


def _late_then_paid(folder) -> Business:
    """One client: invoice, reminders, a late fee, a suspension, then paid: a reconnection fee.
    (Runs on the days the ladder acts; running daily does the same.)"""
    business = Business.create(folder, {
        "Packages": [row("Packages", package_id="HOME", name="Home", price=D("49.99"),
                         interval="monthly")],
        "Clients": [row("Clients", client_id="A", name="Ann", email="a@x.example")],
        "Services": [row("Services", service_id="S1", client_id="A", package_id="HOME",
                         start_date=dt.date(2026, 12, 1))],
    })
    for day in (dt.date(2026, 11, 30), dt.date(2026, 12, 15), dt.date(2026, 12, 29),
                dt.date(2026, 12, 31), dt.date(2027, 1, 5)):  # bill, due, fee, bill, suspend
        business.run(day)
    business.pay("A", "200", dt.date(2027, 1, 7))
    report = business.run(dt.date(2027, 1, 7))
    assert report.exit_code == 0, report.problems
    return business


@pytest.fixture(scope="module")
def late_then_paid(tmp_path_factory) -> Business:
    return _late_then_paid(tmp_path_factory.mktemp("late"))


def test_late_fee_and_reconnection_fee_rows_are_numbers_and_real_dates(late_then_paid):
    business = late_then_paid
    sheet = openpyxl.load_workbook(business.workbook)["Charges"]
    header = [c.value for c in sheet[1]]
    rows = {r[header.index("description")].value: r for r in sheet.iter_rows(min_row=2)}
    fee, reconnection = rows["Late fee for INV-00001"], rows["Reconnection fee"]
    for cells, amount, day in ((fee, 5, dt.datetime(2026, 12, 29)),
                               (reconnection, 10, dt.datetime(2027, 1, 7))):
        assert cells[header.index("amount")].data_type == "n"
        assert cells[header.index("amount")].value == amount
        assert cells[header.index("date")].is_date
        assert cells[header.index("date")].value == day
    assert business.activity("client_reconnected")  # the scenario reached the reconnection


def test_every_cell_in_a_numeric_or_date_column_of_every_tab_is_typed(late_then_paid):
    business = late_then_paid
    book = openpyxl.load_workbook(business.workbook)
    checked = 0
    for tab in TABS:
        sheet = book[find_tab(book.sheetnames, tab)]
        header = [c.value for c in sheet[1]]
        for column in tab.columns:
            if column.kind not in NUMERIC + DATES or column.name not in header:
                continue
            index = header.index(column.name) + 1
            for cell in next(sheet.iter_cols(min_col=index, max_col=index, min_row=2)):
                if cell.value is None:
                    continue
                where = f"{sheet.title}!{cell.coordinate}"
                if column.kind in DATES:
                    assert cell.is_date, (where, cell.value)
                else:
                    assert cell.data_type == "n", (where, cell.value)
                checked += 1
    assert checked > 60


def test_journal_text_is_typed_by_the_schema_and_junk_stays_text():
    typed = typed_row("Charges", {"amount": "5.00", "date": "2026-12-29", "description": "5",
                                  "charge_id": "00123", "taxable": "no"})
    assert typed == {"amount": D("5.00"), "date": dt.date(2026, 12, 29), "description": "5",
                     "charge_id": "00123", "taxable": "no"}
    assert typed_row("Activity", {"timestamp": "2026-12-29T06:15:00"}) == {
        "timestamp": dt.datetime(2026, 12, 29, 6, 15)}
    assert typed_row("Charges", {"amount": "five", "date": "soon"}) == {
        "amount": "five", "date": "soon"}
    assert typed_row("Charges", {"amount": "NaN"}) == {"amount": "NaN"}


def test_a_fee_appended_to_an_owner_made_charges_tab_without_formats_gets_a_date_format(
        tmp_path):
    business = Business.create(tmp_path, {
        "Packages": [row("Packages", package_id="HOME", name="Home", price=D("49.99"),
                         interval="monthly")],
        "Clients": [row("Clients", client_id="A", name="Ann", email="a@x.example")],
        "Services": [row("Services", service_id="S1", client_id="A", package_id="HOME",
                         start_date=dt.date(2026, 12, 1))],
    })
    book = openpyxl.load_workbook(business.workbook)
    index = book.sheetnames.index("Charges")
    del book["Charges"]
    plain = book.create_sheet("Charges", index)
    plain.append(["charge_id", "client_id", "date", "description", "amount", "taxable",
                  "invoice_number"])
    book.save(business.workbook)
    business.run(dt.date(2026, 11, 30))
    business.run(dt.date(2026, 12, 29))
    sheet = openpyxl.load_workbook(business.workbook)["Charges"]
    date, amount = sheet["C2"], sheet["E2"]
    assert sheet["D2"].value == "Late fee for INV-00001"
    assert date.is_date and date.value == dt.datetime(2026, 12, 29)
    assert amount.data_type == "n" and amount.value == 5
