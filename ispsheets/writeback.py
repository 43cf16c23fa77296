"""Make the workbook agree with the tool's record: a pure function from state to a change set.

Every run rebuilds the tool's cells from the journal, so whatever a failed or killed write left
out is written by the next run, and an Invoices row the owner deleted comes back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from operator import attrgetter

from ispsheets.book.changes import AppendRow, ChangeSet, FillKey, SetCell, Value
from ispsheets.book.parse import paused_gc
from ispsheets.book.records import ActivityRow, Book, Invoice, InvoiceLine
from ispsheets.problems import Problem, warning

INVOICE_TOOL_CELLS = ("client_id", "issue_date", "period_start", "period_end", "due_date",
                      "subtotal", "tax", "total", "paid", "balance", "status", "sent_at",
                      "reminder_stage", "pay_link")


@dataclass(frozen=True)
class Ledger:
    """The tool's truth for the tool columns: from the journal and the payment allocation."""

    invoices: tuple[Invoice, ...] = ()  # paid, balance, status, sent_at, ... filled in
    charge_invoices: Mapping[str, str] = field(default_factory=dict)  # charge_id → invoice
    client_balances: Mapping[str, Decimal] = field(default_factory=dict)
    payment_cells: Mapping[str, tuple[str, Decimal]] = field(default_factory=dict)
    # payment_id → (applied_to text, unapplied amount)


def invoice_row(invoice: Invoice) -> dict[str, Value]:
    return {"invoice_number": invoice.invoice_number, "client_id": invoice.client_id,
            "issue_date": invoice.issue_date, "period_start": invoice.period_start,
            "period_end": invoice.period_end, "due_date": invoice.due_date,
            "subtotal": invoice.subtotal, "tax": invoice.tax, "total": invoice.total,
            "paid": invoice.paid, "balance": invoice.balance, "status": invoice.status,
            "sent_at": invoice.sent_at, "reminder_stage": invoice.reminder_stage or None,
            "pay_link": invoice.pay_link or None}


def line_row(line: InvoiceLine) -> dict[str, Value]:
    return {"invoice_number": line.invoice_number, "line": line.line,
            "service_id": line.service_id or line.charge_id or None,
            "description": line.description, "period_start": line.period_start,
            "period_end": line.period_end, "quantity": line.quantity,
            "unit_price": line.unit_price, "amount": line.amount, "tax_rate": line.tax_rate,
            "tax": line.tax}


def activity_row(row: ActivityRow) -> dict[str, Value]:
    return {"timestamp": row.timestamp.replace(microsecond=0), "action": row.action,
            "client_id": row.client_id or None, "invoice_number": row.invoice_number or None,
            "detail": row.detail or None}


def _same(shown: object, wanted: Value) -> bool:
    """Does the cell as read already hold the value (blank = None = "")?"""
    if wanted is None or wanted == "":
        return shown is None or shown == ""
    if isinstance(wanted, Decimal):
        return isinstance(shown, Decimal) and shown == wanted
    if isinstance(wanted, dt.datetime):
        return isinstance(shown, dt.datetime) and shown.replace(second=0, microsecond=0) == \
            wanted.replace(second=0, microsecond=0)
    return shown == wanted


def _tool_values(invoice: Invoice) -> tuple[object, ...]:
    """`invoice_row` for the INVOICE_TOOL_CELLS, as one tuple (no dict)."""
    i = invoice
    return (i.client_id, i.issue_date, i.period_start, i.period_end, i.due_date, i.subtotal,
            i.tax, i.total, i.paid, i.balance, i.status, i.sent_at, i.reminder_stage or None,
            i.pay_link or None)


_TOOL_FIELDS = attrgetter(*INVOICE_TOOL_CELLS)  # the fields as they are, in one C call


def _surely_same(shown: Invoice, wanted: Invoice) -> bool:
    """True when every tool cell of the row already holds, value and type, what is wanted:
    then `_same` holds for each (the usual row, checked in one comparison). False means
    only: compare cell by cell."""
    current, target = _TOOL_FIELDS(shown), _TOOL_FIELDS(wanted)
    if current == target and list(map(type, current)) == list(map(type, target)):
        return True  # the fields themselves agree, so their cells (`_tool_values`) do
    current, target = _tool_values(shown), _tool_values(wanted)
    return current == target and tuple(map(type, current)) == tuple(map(type, target))


def _plainly_same(shown: object, wanted: Value) -> bool:
    """Value and type equal: `_same` then holds (the usual cell, without its branches)."""
    return type(shown) is type(wanted) and shown == wanted


def plan_writeback(book: Book, ledger: Ledger, *, lines_present: Iterable[str],
                   fills: Sequence[FillKey] = (), activity: Sequence[ActivityRow] = (),
                   issued_this_run: Iterable[str] = (),
                   archived: Mapping[str, Collection[str]] | None = None
                   ) -> tuple[ChangeSet, list[Problem]]:
    """The change set that makes every tool cell right, and warnings for restored rows.
    Rows moved to the archive (`archived`: keys by tab) are neither written nor put back."""
    with paused_gc():
        return _plan_writeback(book, ledger, lines_present, fills, activity, issued_this_run,
                               archived or {})


def _plan_writeback(book: Book, ledger: Ledger, lines_present: Iterable[str],
                    fills: Sequence[FillKey], activity: Sequence[ActivityRow],
                    issued_this_run: Iterable[str], archived: Mapping[str, Collection[str]]
                    ) -> tuple[ChangeSet, list[Problem]]:
    problems: list[Problem] = []
    sets: list[SetCell] = []
    appends: list[AppendRow] = []
    new = set(issued_this_run)
    present_lines = set(lines_present)
    shown = {}
    for row in book.invoices:
        shown.setdefault(row.invoice_number, row)

    gone = {tab: archived.get(tab, ()) for tab in ("Invoices", "Charges", "Payments")}
    for invoice in ledger.invoices:
        number = invoice.invoice_number
        if number in gone["Invoices"]:
            continue
        row = shown.get(number)
        if row is None:
            appends.append(AppendRow("Invoices", invoice_row(invoice)))
            if number not in new:
                problems.append(warning(
                    "Invoices", f"the row of {number} was missing and has been written again",
                    "invoices are never deleted: set status to void to cancel one"))
        elif not _surely_same(row, invoice):
            current, wanted = invoice_row(row), invoice_row(invoice)
            sets.extend(SetCell("Invoices", number, column, wanted[column])
                        for column in INVOICE_TOOL_CELLS
                        if not _same(current[column], wanted[column]))
        if number not in present_lines:
            appends.extend(AppendRow("InvoiceLines", line_row(line)) for line in invoice.lines)

    for charge in book.charges:
        billed_on = ledger.charge_invoices.get(charge.charge_id)
        if charge.charge_id in gone["Charges"]:
            continue
        if charge.charge_id and billed_on and charge.invoice_number != billed_on:
            sets.append(SetCell("Charges", charge.charge_id, "invoice_number", billed_on))

    for client in book.clients:
        balance = ledger.client_balances.get(client.client_id, Decimal("0.00"))
        if not _plainly_same(client.balance, balance) and not _same(client.balance, balance):
            sets.append(SetCell("Clients", client.client_id, "balance", balance))

    for payment in book.payments:
        cells = ledger.payment_cells.get(payment.payment_id)
        if not payment.payment_id or cells is None or payment.payment_id in gone["Payments"]:
            continue
        applied_to, unapplied = cells
        if not _plainly_same(payment.applied_to, applied_to) and \
                not _same(payment.applied_to, applied_to):
            sets.append(SetCell("Payments", payment.payment_id, "applied_to", applied_to or None))
        if not _plainly_same(payment.unapplied, unapplied) and \
                not _same(payment.unapplied, unapplied):
            sets.append(SetCell("Payments", payment.payment_id, "unapplied", unapplied))

    appends.extend(AppendRow("Activity", activity_row(row)) for row in activity)
    return ChangeSet(tuple(fills), tuple(sets), tuple(appends)), problems
