"""The write-back plan: the workbook is made to agree with the journal, nothing more."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

from ispsheets.book.changes import AppendRow, SetCell
from ispsheets.book.records import (
    ActivityRow,
    Book,
    Charge,
    Client,
    Invoice,
    InvoiceLine,
    Layout,
    Origin,
    Payment,
)
from ispsheets.ids import assign_missing_ids
from ispsheets.journal import Journal
from ispsheets.writeback import Ledger, invoice_row, plan_writeback

D = Decimal
CHARGES = Layout("Charges", {"charge_id": 0, "client_id": 1, "date": 2, "description": 3,
                             "amount": 4})


def _invoice(number: str = "INV-00001", **changes: object) -> Invoice:
    line = InvoiceLine(number, 1, "S1", "Home 100", dt.date(2026, 12, 1), dt.date(2026, 12, 31),
                       D("1"), D("49.99"), D("49.99"), D("10"), D("5.00"))
    invoice = Invoice(number, "C1", dt.date(2026, 11, 30), dt.date(2026, 12, 1),
                      dt.date(2026, 12, 31), dt.date(2026, 12, 15), D("49.99"), D("5.00"),
                      D("54.99"), D("0.00"), D("54.99"), "open", lines=(line,))
    return replace(invoice, **changes)


def test_new_invoice_is_appended_with_its_lines_and_no_warning():
    changes, problems = plan_writeback(Book(), Ledger(invoices=(_invoice(),)), lines_present=(),
                                       issued_this_run=["INV-00001"])
    assert [a.tab for a in changes.appends] == ["Invoices", "InvoiceLines"]
    assert changes.appends[0].values["total"] == D("54.99")
    assert changes.appends[1].values["amount"] == D("49.99")
    assert problems == []


def test_invoice_row_deleted_by_the_owner_is_restored_and_reported():
    changes, problems = plan_writeback(Book(), Ledger(invoices=(_invoice(),)),
                                       lines_present=["INV-00001"])
    assert [a.tab for a in changes.appends] == ["Invoices"]
    assert len(problems) == 1 and "INV-00001" in problems[0].message
    assert not problems[0].is_error


def test_invoice_row_already_right_writes_nothing():
    shown = _invoice()
    book = Book(invoices=(shown,))
    changes, problems = plan_writeback(book, Ledger(invoices=(_invoice(),)),
                                       lines_present=["INV-00001"])
    assert not changes
    assert problems == []


def test_only_the_cells_that_differ_are_set():
    book = Book(invoices=(_invoice(),))
    paid = _invoice(paid=D("54.99"), balance=D("0.00"), status="paid")
    changes, _ = plan_writeback(book, Ledger(invoices=(paid,)), lines_present=["INV-00001"])
    assert set(changes.sets) == {SetCell("Invoices", "INV-00001", "paid", D("54.99")),
                                 SetCell("Invoices", "INV-00001", "balance", D("0.00")),
                                 SetCell("Invoices", "INV-00001", "status", "paid")}


def test_charge_billed_gets_its_invoice_number_and_client_its_balance():
    charge = Charge("CHG-00001", "C1", dt.date(2026, 11, 12), "Install", D("75.00"))
    client = Client("C1", "Ann", balance=D("10.00"))
    ledger = Ledger(charge_invoices={"CHG-00001": "INV-00001"},
                    client_balances={"C1": D("54.99")})
    changes, _ = plan_writeback(Book(charges=(charge,), clients=(client,)), ledger,
                                lines_present=())
    assert set(changes.sets) == {SetCell("Charges", "CHG-00001", "invoice_number", "INV-00001"),
                                 SetCell("Clients", "C1", "balance", D("54.99"))}


def test_activity_rows_are_appended_in_order():
    rows = [ActivityRow(dt.datetime(2026, 11, 30, 6, 0, 1, 5), "invoice_issued", "C1",
                        "INV-00001", "54.99"),
            ActivityRow(dt.datetime(2026, 11, 30, 6, 0, 2), "invoice_sent", "C1", "INV-00001")]
    changes, _ = plan_writeback(Book(), Ledger(), lines_present=(), activity=rows)
    assert [a.values["action"] for a in changes.appends] == ["invoice_issued", "invoice_sent"]
    assert changes.appends[0].values["timestamp"] == dt.datetime(2026, 11, 30, 6, 0, 1)


def test_blank_ids_are_filled_once_and_the_same_row_gets_the_same_id_next_run():
    journal = Journal.memory()
    rows = (Charge("", "C1", dt.date(2026, 11, 12), "Install", D("75.00"),
                   origin=Origin(CHARGES, 2)),
            Charge("CHG-00001", "C2", dt.date(2026, 11, 12), "Router", D("60.00"),
                   origin=Origin(CHARGES, 3)),
            Charge("", "C1", dt.date(2026, 11, 12), "Install", D("75.00"),
                   origin=Origin(CHARGES, 4)))
    book, fills = assign_missing_ids(Book(charges=rows), journal)
    assert [c.charge_id for c in book.charges] == ["CHG-00002", "CHG-00001", "CHG-00003"]
    assert [(f.row, f.value) for f in fills] == [(2, "CHG-00002"), (4, "CHG-00003")]
    assert fills[0].expect == {"client_id": "C1", "date": "2026-11-12",
                               "description": "Install", "amount": "75.00"}
    again, _ = assign_missing_ids(Book(charges=rows), journal)
    assert [c.charge_id for c in again.charges] == ["CHG-00002", "CHG-00001", "CHG-00003"]


def test_payment_cells_are_written_for_payments_with_ids():
    payment = Payment("PAY-00001", dt.date(2026, 12, 3), "C1", D("54.99"))
    ledger = Ledger(payment_cells={"PAY-00001": ("INV-00001:54.99", D("0.00"))})
    changes, _ = plan_writeback(Book(payments=(payment,)), ledger, lines_present=())
    assert set(changes.sets) == {
        SetCell("Payments", "PAY-00001", "applied_to", "INV-00001:54.99"),
        SetCell("Payments", "PAY-00001", "unapplied", D("0.00"))}


def test_invoice_row_matches_the_contract_columns():
    from ispsheets.book.schema import INVOICES

    assert list(invoice_row(_invoice())) == [c.name for c in INVOICES.columns]
    assert isinstance(AppendRow("Invoices", invoice_row(_invoice())).values["due_date"], dt.date)


def test_a_cell_holding_an_equal_value_of_another_type_is_written_again():
    # 0 typed as a plain number, a datetime where a date belongs, a blank shown as "": only
    # the cells whose value differs in type from the tool's are set (blank = "" = None)
    shown = _invoice(paid=0, due_date=dt.datetime(2026, 12, 15), sent_at=None,
                     reminder_stage="", pay_link="")
    only_paid = _invoice("INV-00002", paid=0)  # the one cell of another type in its row
    book = Book(invoices=(shown, only_paid), clients=(Client("C1", "Ann", balance=0),),
                payments=(Payment("PAY-00001", dt.date(2026, 12, 3), "C1", D("54.99"),
                                  applied_to="INV-00001:54.99", unapplied=0),))
    ledger = Ledger(invoices=(_invoice(pay_link=None), _invoice("INV-00002")),
                    client_balances={"C1": D("0")},
                    payment_cells={"PAY-00001": ("INV-00001:54.99", D("0.00"))})
    changes, _ = plan_writeback(book, ledger, lines_present=["INV-00001", "INV-00002"])
    assert set(changes.sets) == {SetCell("Invoices", "INV-00001", "paid", D("0.00")),
                                 SetCell("Invoices", "INV-00002", "paid", D("0.00")),
                                 SetCell("Invoices", "INV-00001", "due_date",
                                         dt.date(2026, 12, 15)),
                                 SetCell("Clients", "C1", "balance", D("0")),
                                 SetCell("Payments", "PAY-00001", "unapplied", D("0.00"))}
