"""The report's tables as plain rows: aging, outstanding, revenue pivots, client history.

Pivots run in pandas over integer minor units (cents), which is exact and fast, and come back
as `Decimal`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

import pandas as pd

from ispsheets.money import minor_units
from ispsheets.reporting.inputs import (
    CHARGES,
    TAX,
    ReportInput,
    first_shown,
    month_start,
    months_back,
    service_month,
)

ZERO = Decimal("0")
BUCKETS = ("Current", "1-30", "31-60", "61-90", "90+")


def bucket(days_past_due: int) -> str:
    """Current (not yet due, or due today), 1-30, 31-60, 61-90, 90+ days past the due date."""
    if days_past_due <= 0:
        return "Current"
    if days_past_due <= 30:
        return "1-30"
    if days_past_due <= 60:
        return "31-60"
    if days_past_due <= 90:
        return "61-90"
    return "90+"


@dataclass(frozen=True)
class AgingRow:
    client_id: str
    name: str
    buckets: dict[str, Decimal]
    total: Decimal
    oldest_invoice: str
    oldest_due: dt.date
    status: str
    last_payment: dt.date | None


def aging(data: ReportInput) -> list[AgingRow]:
    """One row per client with an open balance, by due date, largest total first."""
    clients = {c.client_id: c for c in data.clients}
    last_paid: dict[str, dt.date] = {}
    for p in data.counted_payments:
        if p.amount > 0:
            last_paid[p.client_id] = max(p.date, last_paid.get(p.client_id, p.date))
    for client_id, figures in data.archived.clients.items():  # paid before the months shown
        day = figures.last_payment
        if day is not None and day <= data.as_of:
            last_paid[client_id] = max(day, last_paid.get(client_id, day))
    per_client: dict[str, list] = defaultdict(list)
    for invoice in data.open_invoices:
        per_client[invoice.client_id].append(invoice)
    rows = []
    for client_id, invoices in per_client.items():
        amounts = dict.fromkeys(BUCKETS, ZERO)
        for i in invoices:
            amounts[bucket((data.as_of - i.due_date).days)] += i.balance or ZERO
        oldest = min(invoices, key=lambda i: (i.due_date, i.invoice_number))
        client = clients.get(client_id)
        rows.append(AgingRow(client_id, client.name if client else "", amounts,
                             sum(amounts.values(), ZERO), oldest.invoice_number, oldest.due_date,
                             client.status if client else "", last_paid.get(client_id)))
    return sorted(rows, key=lambda r: (-r.total, r.client_id))


@dataclass(frozen=True)
class OutstandingRow:
    invoice_number: str
    client_id: str
    name: str
    issue_date: dt.date
    due_date: dt.date
    total: Decimal
    paid: Decimal
    balance: Decimal
    days_overdue: int
    reminder_stage: str


def outstanding(data: ReportInput) -> list[OutstandingRow]:
    """Every open invoice, most overdue first."""
    names = {c.client_id: c.name for c in data.clients}
    rows = [OutstandingRow(i.invoice_number, i.client_id, names.get(i.client_id, ""),
                           i.issue_date, i.due_date, i.total, i.paid, i.balance or ZERO,
                           max(0, (data.as_of - i.due_date).days), i.reminder_stage)
            for i in data.open_invoices]
    return sorted(rows, key=lambda r: (-r.days_overdue, r.invoice_number))


def _to_minor(amount: Decimal, places: int) -> int:
    return int(amount.scaleb(places))


def _summed(counts: Mapping[tuple[dt.date, str, Decimal], int], places: int,
            key_of: Callable[[str], str] = str) -> list[tuple[dt.date, str, int]]:
    """(month, key, minor units) per month and key of the (month, what, amount) counts: each
    amount's minor units once (`_to_minor`) times how often it occurs. A year of 20,000
    clients has a million amounts, and few distinct ones."""
    sums: dict[tuple[dt.date, str], int] = defaultdict(int)
    minor: dict[Decimal, int] = {}
    keys: dict[str, str] = {}
    for (month, what, amount), count in counts.items():
        if (cents := minor.get(amount)) is None:
            cents = minor[amount] = _to_minor(amount, places)
        if (key := keys.get(what)) is None:
            key = keys[what] = key_of(what)
        sums[month, key] += cents * count
    return [(month, key, total) for (month, key), total in sums.items()]


def _pivot(records: list[tuple[dt.date, str, int]], months: list[dt.date], places: int,
           columns_order: list[str]) -> pd.DataFrame:
    """Rows months, columns the given keys, totals both ways; cells Decimal."""
    frame = pd.DataFrame(records, columns=["month", "key", "minor"])
    table = frame.pivot_table(index="month", columns="key", values="minor", aggfunc="sum",
                              fill_value=0) if records else pd.DataFrame()
    table = table.reindex(index=months, columns=columns_order, fill_value=0).fillna(0)
    table["Total"] = table.sum(axis=1)
    table.loc["Total"] = table.sum(axis=0)
    return table.map(lambda v: Decimal(int(v)).scaleb(-places))


def first_month(data: ReportInput, payments: bool = False) -> dt.date | None:
    """The month of the business's first invoice (or payment, with `payments`) up to as_of;
    None before any."""
    days = [i.issue_date for i in data.live_invoices if i.issue_date <= data.as_of]
    days += [p.date for p in data.counted_payments] if payments else []
    days += filter(None, [data.archived_first(payments)])  # before the months shown
    return month_start(min(days)) if days else None


def report_months(data: ReportInput, months: int = 12, first: dt.date | None = None,
                  last: dt.date | None = None) -> list[dt.date]:
    """The months a revenue table shows: at most `months` ending with `last` (as_of's month by
    default), none before `first` (by default the business's first invoice)."""
    periods = months_back(max(last or data.as_of, data.as_of), months)
    first = first or first_month(data)
    return [m for m in periods if first is None or m >= first] or periods[-1:]


def _by_package(data: ReportInput, lines: Counter[tuple[dt.date, str, Decimal]],
                periods: list[dt.date]) -> pd.DataFrame:
    """Pivot (month, column, amount) counts (`ReportInput.columns`): packages by name first,
    then charges and tax; lines outside `periods` are left out."""
    shown = set(periods)
    places = minor_units(data.currency)
    records = _summed({k: n for k, n in lines.items() if k[0] in shown}, places)
    keys = sorted({r[1] for r in records} - {CHARGES, TAX})
    order = keys + [k for k in (CHARGES, TAX) if any(r[1] == k for r in records)]
    return _pivot(records, periods, places, order)


def revenue_by_package(data: ReportInput, months: int = 12) -> pd.DataFrame:
    """Invoiced amounts (before tax) by the month the invoice was ISSUED × package; tax and
    one-off charges in their own columns, so each row adds up to what was invoiced that month."""
    column = data.column

    def lines() -> Iterator[tuple[dt.date, str, Decimal]]:
        for invoice in data.live_invoices:
            if invoice.issue_date > data.as_of:
                continue
            month = month_start(invoice.issue_date)
            for line in invoice.lines:
                yield month, column(line.service_id), line.amount
            yield month, TAX, invoice.tax

    counts = Counter(lines())
    for figure, count in data.archived_lines.items():
        counts[month_start(figure.issued), figure.group, figure.amount] += count
    return _by_package(data, counts, report_months(data, months))


def revenue_by_service_month(data: ReportInput, months: int = 12) -> pd.DataFrame:
    """What was billed FOR each month of service (what a bookkeeper books), × package, from the
    invoices issued up to as_of: each line in the month its service period starts, whatever day
    the invoice was issued (December's invoices issued on November 30 count in December); tax
    with its line, in the Tax column. A month billed in advance shows as a row after as_of."""
    column = data.column

    def lines() -> Iterator[tuple[dt.date, str, Decimal]]:
        for invoice in data.live_invoices:
            if invoice.issue_date > data.as_of:
                continue
            for line in invoice.lines:
                month = service_month(invoice, line)
                yield month, column(line.service_id), line.amount
                yield month, TAX, line.tax

    counts = Counter(lines())
    for figure, count in data.archived_lines.items():
        counts[figure.month, figure.group, figure.amount] += count
        counts[figure.month, TAX, figure.tax] += count
    booked = {m for m, _, _ in counts}
    first = min([*booked, *filter(None, [first_month(data)])], default=None)
    return _by_package(data, counts, report_months(data, months, first,
                                                   max(booked, default=None)))


def collected_by_method(data: ReportInput, months: int = 12) -> pd.DataFrame:
    """Payments by month × method over the last months (blank method = "unspecified")."""
    places = minor_units(data.currency)
    periods = report_months(data, months, first_month(data, payments=True))
    counts = Counter((month_start(p.date), p.method, p.amount)
                     for p in data.counted_payments if p.date >= periods[0])
    records = _summed(counts, places, lambda method: (method or "unspecified").lower())
    return _pivot(records, periods, places, sorted({r[1] for r in records}))


class HistoryRow(NamedTuple):
    """One line of the Client history tab (a named tuple: there are half a million a year)."""

    client_id: str
    name: str
    date: dt.date
    kind: str  # "brought forward", "invoice" or "payment"
    reference: str
    charged: Decimal
    paid: Decimal
    running_balance: Decimal


BROUGHT_FORWARD = "brought forward"


def brought_forward(data: ReportInput, start: dt.date) -> dict[str, tuple[Decimal, Decimal]]:
    """client → (charged, paid) before `start`: the live records dated before it, and the
    archived ones from each client's running totals less those dated from `start` on (read
    with the months shown) and less those also given live (counted as live)."""
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for i in data.invoices:
        if i.status not in ("void", "held") and i.issue_date < start:
            totals[i.client_id][0] += i.total
    for p in data.payments:
        if p.date < start:
            totals[p.client_id][1] += p.amount
    archived = data.archived
    for client_id, figures in archived.clients.items():
        totals[client_id][0] += figures.charged
        totals[client_id][1] += figures.paid
    live_invoices, live_payments = data.invoice_numbers, data.payment_ids
    for i in archived.invoices:
        if i.issue_date >= start:
            totals[i.client_id][0] -= i.total
    for p in archived.payments:
        if p.date >= start:
            totals[p.client_id][1] -= p.amount
    for i in archived.invoices:  # read for its due date or service month, issued before
        if i.issue_date < start and i.invoice_number in live_invoices:
            totals[i.client_id][0] -= i.total
    for e in archived.earlier:
        live = live_invoices if e.kind == "invoice" else live_payments
        if e.day < start and e.key in live:
            totals[e.client_id][e.kind != "invoice"] -= e.amount
    return {c: (charged, paid) for c, (charged, paid) in totals.items() if charged or paid}


def client_history(data: ReportInput) -> list[HistoryRow]:
    """Per client, the invoices and payments of the months shown in date order with a running
    balance, after a "brought forward" line with what was charged and paid before them."""
    names = {c.client_id: c.name for c in data.clients}
    start = first_shown(data.as_of)
    events: dict[str, list[tuple[dt.date, int, str, str, Decimal, Decimal]]] = defaultdict(list)
    for i in data.live_invoices:
        if start <= i.issue_date <= data.as_of:
            events[i.client_id].append((i.issue_date, 0, "invoice", i.invoice_number, i.total,
                                        ZERO))
    for p in data.counted_payments:
        if p.date >= start:
            label = p.payment_id + (f" ({p.method})" if p.method else "")
            events[p.client_id].append((p.date, 1, "payment", label, ZERO, p.amount))
    before = brought_forward(data, start)
    rows = []
    for client_id in sorted(events.keys() | before.keys()):
        if client_id not in events and before[client_id][0] == before[client_id][1]:
            continue  # nothing in the months shown, nothing owed or in credit: story over
        balance = ZERO
        name = names.get(client_id, "")
        if client_id in before:
            charged, paid = before[client_id]
            balance = charged - paid
            rows.append(HistoryRow(client_id, name, start, BROUGHT_FORWARD,
                                   f"before {start:%B %Y}", charged, paid, balance))
        for day, _, kind, reference, charged, paid in sorted(events[client_id]):
            balance += charged - paid
            rows.append(HistoryRow(client_id, name, day, kind, reference, charged, paid,
                                   balance))
    return rows
