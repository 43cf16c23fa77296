"""What every report is computed from: the records as of one date, frozen."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from ispsheets.book.records import Client, Invoice, InvoiceLine, Package, Payment, Service

if TYPE_CHECKING:
    from ispsheets.reporting.cards import CardFacts


@dataclass(frozen=True)
class ReportInput:
    """Invoices carry `paid`, `balance` and `status` as of `as_of` (from the allocation)."""

    as_of: dt.date
    currency: str
    clients: tuple[Client, ...] = ()
    packages: tuple[Package, ...] = ()
    services: tuple[Service, ...] = ()
    invoices: tuple[Invoice, ...] = ()  # with lines
    payments: tuple[Payment, ...] = ()
    paid_on: Mapping[str, dt.date] = field(default_factory=dict)  # invoice → day paid in full
    suspensions: tuple[tuple[str, dt.date], ...] = ()  # (client_id, day the tool suspended)
    cards: CardFacts | None = None  # card payments (None: Stripe is off)

    @cached_property
    def live_invoices(self) -> tuple[Invoice, ...]:
        """Invoices that count: every one but the voided and the held (not sent yet)."""
        return tuple(i for i in self.invoices if i.status not in ("void", "held"))

    @cached_property
    def held_invoices(self) -> tuple[Invoice, ...]:
        """Invoices held for the owner's check: issued, not sent, not counted anywhere else."""
        return tuple(i for i in self.invoices if i.status == "held")

    @cached_property
    def open_invoices(self) -> tuple[Invoice, ...]:
        return tuple(i for i in self.live_invoices if (i.balance or 0) > 0)

    @cached_property
    def counted_payments(self) -> tuple[Payment, ...]:
        return tuple(p for p in self.payments if p.date <= self.as_of)


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def previous_month(day: dt.date) -> dt.date:
    first = month_start(day)
    return month_start(first - dt.timedelta(days=1))


def months_back(as_of: dt.date, count: int) -> list[dt.date]:
    """The first days of the last `count` months, oldest first, ending with as_of's month."""
    months = [month_start(as_of)]
    while len(months) < count:
        months.append(previous_month(months[-1]))
    return months[::-1]


def service_month(invoice: Invoice, line: InvoiceLine) -> dt.date:
    """The month a line is booked to: the month its service period starts; a line without a
    period (a one-off charge or credit) is booked to its invoice's issue month."""
    return month_start(line.period_start or invoice.issue_date)
