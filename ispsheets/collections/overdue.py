"""What every collections rule asks of an invoice: how late it is and what is still owed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal

from ispsheets.book.records import Invoice
from ispsheets.payments.allocate import natural_key

ZERO = Decimal("0.00")


def days_past_due(invoice: Invoice, today: dt.date) -> int:
    """0 on the due date, negative before it."""
    return (today - invoice.due_date).days


def balance_of(invoice: Invoice) -> Decimal:
    """What is still owed on an invoice with its allocation applied (0 for void, held or
    paid)."""
    if invoice.status in ("void", "held", "paid"):
        return ZERO
    if invoice.balance is not None:
        return invoice.balance
    return invoice.total - invoice.paid


def owes_more_than(invoice: Invoice, minimum: Decimal) -> bool:
    """Open with a balance above both `minimum` and zero."""
    balance = balance_of(invoice)
    return balance > 0 and balance > minimum


def client_balances(invoices: Iterable[Invoice],
                    balances: Mapping[str, Decimal] | None = None) -> Mapping[str, Decimal]:
    """Each client's overall balance: the allocation's when given (it nets credit), else the sum
    of the open invoice balances."""
    if balances is not None:
        return balances
    totals: dict[str, Decimal] = {}
    for invoice in invoices:
        totals[invoice.client_id] = totals.get(invoice.client_id, ZERO) + balance_of(invoice)
    return totals


def oldest_first(invoices: Iterable[Invoice]) -> list[Invoice]:
    return sorted(invoices, key=lambda i: (i.due_date, i.issue_date, natural_key(i.invoice_number)))
