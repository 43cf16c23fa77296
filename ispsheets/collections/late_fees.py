"""Late fees: once per invoice, when it is `late_fee_after_days` past due with a balance left.

The fee becomes a Charges row (`taxable` = no) billed on the client's next invoice, so the owner
can waive it by deleting the row before it is billed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from ispsheets.book.records import Client, Invoice
from ispsheets.collections.overdue import (
    balance_of,
    client_balances,
    days_past_due,
    oldest_first,
    owes_more_than,
)
from ispsheets.config import Collections
from ispsheets.money import HUNDRED, round_money


def late_fee_key(invoice_number: str) -> str:
    return f"late_fee/{invoice_number}"


@dataclass(frozen=True)
class LateFee:
    """A late fee to add as a Charges row (not taxable), keyed once per invoice."""

    client_id: str
    invoice_number: str
    amount: Decimal
    description: str
    date: dt.date
    key: str
    taxable: bool = False


def late_fee_amount(balance: Decimal, config: Collections, currency: str = "USD") -> Decimal:
    """`late_fee` plus `late_fee_percent` of the overdue balance, rounded half-up once."""
    return round_money(config.late_fee + balance * config.late_fee_percent / HUNDRED, currency)


def plan_late_fees(invoices: Sequence[Invoice], clients: Sequence[Client], today: dt.date,
                   config: Collections, done: frozenset[str], *,
                   balances: Mapping[str, Decimal] | None = None,
                   currency: str = "USD") -> list[LateFee]:
    """The late fees to add today, oldest invoice first.

    An invoice gets one when it is at least `late_fee_after_days` past due, its balance is above
    `reminder_min_balance` and zero, its client's overall balance (`balances`, the allocation's
    `client_balances`) is above zero, and `late_fee/INV-…` is not in `done`.
    """
    known = {c.client_id for c in clients}
    overall = client_balances(invoices, balances)
    fees = []
    late = (i for i in invoices if days_past_due(i, today) >= config.late_fee_after_days
            and owes_more_than(i, config.reminder_min_balance))
    for invoice in oldest_first(late):
        key = late_fee_key(invoice.invoice_number)
        if (key in done or invoice.client_id not in known
                or overall.get(invoice.client_id, Decimal("0")) <= 0
                or days_past_due(invoice, today) < config.late_fee_after_days
                or not owes_more_than(invoice, config.reminder_min_balance)):
            continue
        amount = late_fee_amount(balance_of(invoice), config, currency)
        if amount > 0:
            fees.append(LateFee(invoice.client_id, invoice.invoice_number, amount,
                                f"Late fee for {invoice.invoice_number}", today, key))
    return fees
