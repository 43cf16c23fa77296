"""The report's tables as plain rows: aging, outstanding, revenue pivots, client history.

Pivots run in pandas over integer minor units (cents), which is exact and fast, and come back
as `Decimal`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

import pandas as pd

from ispsheets.money import minor_units
from ispsheets.reporting.inputs import ReportInput, month_start, months_back

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


def revenue_by_package(data: ReportInput, months: int = 12) -> pd.DataFrame:
    """Invoiced amounts (before tax) by month × package over the last months; tax and one-off
    charges in their own columns, so each row adds up to what was invoiced that month."""
    places = minor_units(data.currency)
    periods = months_back(data.as_of, months)
    first = periods[0]
    package_of = {s.service_id: s.package_id for s in data.services}
    names = {p.package_id: p.name for p in data.packages}
    records: list[tuple[dt.date, str, int]] = []
    for invoice in data.live_invoices:
        if invoice.issue_date < first or invoice.issue_date > data.as_of:
            continue
        month = month_start(invoice.issue_date)
        for line in invoice.lines:
            package = package_of.get(line.service_id)
            key = names.get(package, package) if package else "Charges & credits"
            records.append((month, key, _to_minor(line.amount, places)))
        records.append((month, "Tax", _to_minor(invoice.tax, places)))
    keys = sorted({r[1] for r in records} - {"Charges & credits", "Tax"})
    order = keys + [k for k in ("Charges & credits", "Tax") if any(r[1] == k for r in records)]
    return _pivot(records, periods, places, order)


def collected_by_method(data: ReportInput, months: int = 12) -> pd.DataFrame:
    """Payments by month × method over the last months (blank method = "unspecified")."""
    places = minor_units(data.currency)
    periods = months_back(data.as_of, months)
    records = [(month_start(p.date), (p.method or "unspecified").lower(),
                _to_minor(p.amount, places))
               for p in data.counted_payments if p.date >= periods[0]]
    return _pivot(records, periods, places, sorted({r[1] for r in records}))


class HistoryRow(NamedTuple):
    """One line of the Client history tab (a named tuple: there are half a million a year)."""

    client_id: str
    name: str
    date: dt.date
    kind: str  # "invoice" or "payment"
    reference: str
    charged: Decimal
    paid: Decimal
    running_balance: Decimal


def client_history(data: ReportInput) -> list[HistoryRow]:
    """Per client, invoices and payments in date order with a running balance."""
    names = {c.client_id: c.name for c in data.clients}
    events: dict[str, list[tuple[dt.date, int, str, str, Decimal, Decimal]]] = defaultdict(list)
    for i in data.live_invoices:
        if i.issue_date <= data.as_of:
            events[i.client_id].append((i.issue_date, 0, "invoice", i.invoice_number, i.total,
                                        ZERO))
    for p in data.counted_payments:
        label = p.payment_id + (f" ({p.method})" if p.method else "")
        events[p.client_id].append((p.date, 1, "payment", label, ZERO, p.amount))
    rows = []
    for client_id in sorted(events):
        balance = ZERO
        for day, _, kind, reference, charged, paid in sorted(events[client_id]):
            balance += charged - paid
            rows.append(HistoryRow(client_id, names.get(client_id, ""), day, kind, reference,
                                   charged, paid, balance))
    return rows
