"""The ledger's invoices: the journal's, with what the allocation says of each."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ispsheets.book.records import Invoice, Payment
from ispsheets.ledger import with_allocation
from ispsheets.payments.allocate import allocate

D = Decimal
DAY = dt.date(2026, 11, 30)


def invoice(number: str, total: str, status: str = "open") -> Invoice:
    return Invoice(number, "C1", DAY, None, None, DAY + dt.timedelta(days=15), D(total), D("0"),
                   D(total), status=status)


def test_paid_partial_open_and_void_invoices_show_what_the_allocation_says():
    invoices = [invoice("INV-1", "30.00"), invoice("INV-2", "50.00"), invoice("INV-3", "20.00"),
                invoice("INV-4", "9.99", status="void")]
    allocation = allocate(invoices, [Payment("P1", DAY, "C1", D("45.00"))])
    shown = with_allocation(invoices, allocation)
    assert [(i.invoice_number, i.paid, i.balance, i.status) for i in shown] == [
        ("INV-1", D("30.00"), D("0.00"), "paid"), ("INV-2", D("15.00"), D("35.00"), "partial"),
        ("INV-3", D("0"), D("20.00"), "open"), ("INV-4", D("0"), D("0"), "void")]
    assert [i.total for i in shown] == [i.total for i in invoices]  # the rest as it was


def test_an_invoice_the_allocation_does_not_know_owes_its_total_unless_void():
    invoices = [invoice("INV-1", "30.00"), invoice("INV-2", "12.00", status="void")]
    shown = with_allocation(invoices, allocate([], []))
    assert [(i.paid, i.balance, i.status) for i in shown] == [
        (D("0"), D("30.00"), "open"), (D("0"), D("0"), "void")]
