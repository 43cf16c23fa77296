"""The tool's view of every invoice now: journal invoices with paid, balance, sent and stage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from ispsheets.book.fast_records import copier
from ispsheets.book.parse import paused_gc
from ispsheets.book.records import Invoice, Payment
from ispsheets.journal import Journal
from ispsheets.payments.allocate import Allocation, allocate
from ispsheets.writeback import Ledger

ZERO = Decimal("0.00")


def invoice_message_key(number: str) -> str:
    return f"invoice/{number}"


# Journal action kinds: an invoice held when issued, and released by the owner's `open`.
HELD, RELEASED = "held", "released"


def held_reasons(journal: Journal) -> dict[str, str]:
    """Invoice number → why it was held, for the invoices held and not released (voided ones
    included: their status says void)."""
    released = {a.invoice_number for a in journal.actions(RELEASED, "done")}
    return {a.invoice_number: a.detail for a in journal.actions(HELD, "done")
            if a.invoice_number not in released}


def released_due_dates(journal: Journal) -> dict[str, dt.date]:
    """Invoice number → its due date once released (it is sent on the day it is released)."""
    return {a.invoice_number: dt.date.fromisoformat(a.detail[:10])
            for a in journal.actions(RELEASED, "done")}


def issued_invoices(journal: Journal, include_archived: bool = False) -> list[Invoice]:
    """Every invoice the tool issued and the archive did not take (all, `include_archived`),
    in number order: voided ones with status `void`, held ones `held`, released ones due as
    their release made them."""
    invoices = [record.invoice for record in journal.invoices(include_archived)]
    held, due = held_reasons(journal), released_due_dates(journal)
    if not held and not due:
        return invoices
    result = []
    for invoice in invoices:
        number = invoice.invoice_number
        if invoice.status != "void":
            if number in held:
                invoice = copy_invoice(invoice, status=HELD)
            elif number in due and due[number] > invoice.due_date:
                invoice = copy_invoice(invoice, due_date=due[number])
        result.append(invoice)
    return result


def sent_at(journal: Journal) -> dict[str, dt.datetime]:
    """Invoice number → when its invoice email went out."""
    times: dict[str, dt.datetime] = {}  # a run sends its emails at one `now`: parse each once
    result = {}
    for number, updated_at in journal.sent_invoice_times():
        when = times.get(updated_at)
        if when is None:
            when = times[updated_at] = dt.datetime.fromisoformat(updated_at).replace(
                tzinfo=None, microsecond=0)
        result[number] = when
    return result


def reminder_stages(journal: Journal, order: Sequence[str]) -> dict[str, str]:
    """Invoice number → the furthest reminder stage sent for it (by the configured order)."""
    rank = {name: i for i, name in enumerate(order)}
    stages: dict[str, str] = {}
    for action in journal.actions("reminder", "done", live=True):
        stage = action.key.rsplit("/", 1)[-1]
        current = stages.get(action.invoice_number)
        if current is None or rank.get(stage, -1) > rank.get(current, -1):
            stages[action.invoice_number] = stage
    return stages


copy_invoice = copier(Invoice)  # every run copies its live invoices twice (fast_records)


def with_allocation(invoices: Sequence[Invoice], allocation: Allocation) -> list[Invoice]:
    """Invoices with paid, balance and status as the allocation has them."""
    with paused_gc():
        return _with_allocation(invoices, allocation)


def _with_allocation(invoices: Sequence[Invoice], allocation: Allocation) -> list[Invoice]:
    result = []
    states = allocation.invoices
    for invoice in invoices:
        state = states.get(invoice.invoice_number)
        if state is None:
            result.append(copy_invoice(invoice, paid=ZERO, balance=ZERO
                                       if invoice.status == "void" else invoice.total))
        else:
            result.append(copy_invoice(invoice, paid=state.paid, balance=state.balance,
                                       status=state.status))
    return result


def allocate_all(journal: Journal, payments: Sequence[Payment]) -> tuple[list[Invoice],
                                                                         Allocation]:
    """Every issued invoice, archived ones included, with the allocation of every payment
    applied, from scratch: the reference the archive's checkpoint is tested against
    (`archive.replay.allocate_live`); `payments` must then include the archived ones."""
    invoices = issued_invoices(journal, include_archived=True)
    allocation = allocate(invoices, payments)
    return with_allocation(invoices, allocation), allocation


def build_ledger(journal: Journal, invoices: Sequence[Invoice], allocation: Allocation,
                 stage_order: Sequence[str], pay_links: dict[str, str] | None = None) -> Ledger:
    """What the workbook's tool cells should hold, from the journal and the allocation."""
    with paused_gc():
        return _build_ledger(journal, invoices, allocation, stage_order, pay_links)


def _build_ledger(journal: Journal, invoices: Sequence[Invoice], allocation: Allocation,
                  stage_order: Sequence[str], pay_links: dict[str, str] | None) -> Ledger:
    sent = sent_at(journal)
    stages = reminder_stages(journal, stage_order)
    links = pay_links or {}
    shown = tuple(copy_invoice(i, sent_at=sent.get(i.invoice_number),
                               reminder_stage=stages.get(i.invoice_number, ""),
                               pay_link=links.get(i.invoice_number, i.pay_link))
                  for i in invoices)
    charge_invoices = {b.key: number for b, number in journal.billed("charge")}
    payment_cells = {pid: (state.applied_to_text, state.unapplied)
                     for pid, state in allocation.payments.items()}
    return Ledger(shown, charge_invoices, dict(allocation.client_balances), payment_cells)
