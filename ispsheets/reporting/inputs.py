"""What every report is computed from: the records as of one date, frozen."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING

from ispsheets.book.records import Client, Invoice, InvoiceLine, Package, Payment, Service
from ispsheets.reporting.archived import ArchivedFigures, LineFigure

if TYPE_CHECKING:
    from ispsheets.reporting.cards import CardFacts


@dataclass(frozen=True)
class ReportInput:
    """Invoices carry `paid`, `balance` and `status` as of `as_of` (from the allocation).

    `archived` holds the figures of invoices and payments moved to the archive, of the months
    shown (`first_shown`); every table counts them with the live records, but an archived one
    that is also given live (a restored invoice) counts once, as the live record."""

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
    archived: ArchivedFigures = field(default_factory=ArchivedFigures)

    @cached_property
    def invoice_numbers(self) -> frozenset[str]:
        """The numbers of the invoices given live (whatever their status)."""
        return frozenset(i.invoice_number for i in self.invoices)

    @cached_property
    def payment_ids(self) -> frozenset[str]:
        return frozenset(p.payment_id for p in self.payments)

    @cached_property
    def live_invoices(self) -> tuple[Invoice, ...]:
        """Invoices that count: every one but the voided and the held (not sent yet), and the
        archived ones of the months shown."""
        live = self.invoice_numbers
        return (*(i for i in self.invoices if i.status not in ("void", "held")),
                *(i for i in self.archived.invoices if i.invoice_number not in live))

    @cached_property
    def held_invoices(self) -> tuple[Invoice, ...]:
        """Invoices held for the owner's check: issued, not sent, not counted anywhere else."""
        return tuple(i for i in self.invoices if i.status == "held")

    @cached_property
    def open_invoices(self) -> tuple[Invoice, ...]:
        return tuple(i for i in self.live_invoices if (i.balance or 0) > 0)

    @cached_property
    def counted_payments(self) -> tuple[Payment, ...]:
        """Payments dated up to as_of, with the archived ones of the months shown."""
        live = self.payment_ids
        return (*(p for p in self.payments if p.date <= self.as_of),
                *(p for p in self.archived.payments
                  if p.date <= self.as_of and p.payment_id not in live))

    @cached_property
    def paid_days(self) -> Mapping[str, dt.date]:
        """Invoice → the day it was paid in full: `paid_on`, and the archived invoices'."""
        live = self.invoice_numbers
        return {**{n: d for n, d in self.archived.paid_on.items() if n not in live},
                **self.paid_on}

    @cached_property
    def columns(self) -> Mapping[str, str]:
        """Service id → its revenue column: its package's name (its package id if no such
        package), CHARGES for one without a package; TAX for the tax. Any other id (a
        charge's "") is CHARGES (`column`)."""
        names = {p.package_id: p.name for p in self.packages}
        columns = {s.service_id: names.get(s.package_id, s.package_id) if s.package_id
                   else CHARGES for s in self.services}
        columns[TAX] = TAX
        return columns

    def column(self, service_id: str) -> str:
        return self.columns.get(service_id, CHARGES)

    @cached_property
    def archived_lines(self) -> Mapping[LineFigure, int]:
        """The archived lines of the months shown (`ArchivedFigures.line_counts`) of invoices
        issued up to as_of, not those of invoices given live, counted by (issue date, month
        booked to, revenue column, amount, tax): the lines of `live_invoices` that are not in
        their records."""
        return {figure: count for figure, count in self.archived.line_counts(self.column).items()
                if figure.issued <= self.as_of}

    @cached_property
    def billed_by_service_month(self) -> Mapping[dt.date, Decimal]:
        """Service month (`service_month`) → the amounts of the lines booked to it with their
        tax, of the invoices counted and issued up to as_of: one pass over every line,
        whatever months are asked."""
        sums: dict[dt.date, Decimal] = {}
        for invoice in self.live_invoices:
            if invoice.issue_date <= self.as_of:
                for line in invoice.lines:
                    month = service_month(invoice, line)
                    sums[month] = sums.get(month, ZERO) + (line.amount + line.tax)
        for figure, count in self.archived_lines.items():
            sums[figure.month] = sums.get(figure.month, ZERO) + (figure.amount + figure.tax) * count
        return sums

    def archived_first(self, payments: bool = False) -> dt.date | None:
        """The first archived invoice's day (or payment's, with `payments`) up to as_of."""
        days = [c.first_invoice for c in self.archived.clients.values()]
        days += [c.first_payment for c in self.archived.clients.values()] if payments else []
        return min((d for d in days if d is not None and d <= self.as_of), default=None)


ZERO = Decimal("0")
CHARGES = "Charges & credits"
TAX = "Tax"
HISTORY_MONTHS = 12  # the months the report shows: revenue tables and Client history


def first_shown(as_of: dt.date) -> dt.date:
    """The first day of the first month the report shows."""
    return months_back(as_of, HISTORY_MONTHS)[0]


@functools.lru_cache(maxsize=1 << 14)
def month_start(day: dt.date) -> dt.date:
    """The first of `day`'s month (asked millions of times a report, of few days)."""
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
