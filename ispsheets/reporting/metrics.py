"""Collection metrics of the Summary tab; each formula is in its function's docstring."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from ispsheets.money import round_money
from ispsheets.reporting.inputs import ReportInput, month_start, previous_month

ZERO = Decimal("0")
WINDOW_DAYS = 90


@dataclass(frozen=True)
class Metric:
    """One line of the Summary: a value, and the seed's target where there is one."""

    name: str
    value: Decimal | int | None
    kind: str  # "money", "percent", "days", "count"
    target: str = ""  # e.g. "< 30", "> 95"
    formula: str = ""

    @property
    def on_target(self) -> bool | None:
        if not self.target or self.value is None:
            return None
        op, number = self.target.split()
        return self.value < Decimal(number) if op == "<" else self.value > Decimal(number)


def _pct(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"))


def mrr(data: ReportInput) -> Decimal:
    """Monthly recurring revenue: active services' price × quantity × (1 − discount), ÷ months
    in their interval; services of cancelled clients and ended services excluded; before tax."""
    packages = {p.package_id: p for p in data.packages}
    cancelled = {c.client_id for c in data.clients if c.status == "cancelled"}
    total = ZERO
    for s in data.services:
        package = packages.get(s.package_id)
        if package is None or s.client_id in cancelled or s.start_date > data.as_of:
            continue
        if s.end_date is not None and s.end_date < data.as_of:
            continue
        price = s.price if s.price is not None else package.price
        total += price * s.quantity * (100 - s.discount_pct) / 100 / package.months
    return round_money(total, data.currency)


def invoiced_in(data: ReportInput, month: dt.date) -> Decimal:
    """Sum of the totals of invoices issued in that month (voided excluded)."""
    return sum((i.total for i in data.live_invoices if month_start(i.issue_date) == month), ZERO)


def billed_for_service_in(data: ReportInput, month: dt.date) -> Decimal:
    """Sum of invoice lines (with their tax) whose service period starts in that month, whatever
    day their invoice was issued (voided excluded); a one-off charge counts in its invoice's
    month. December's invoices issued on November 30 count here in December."""
    return data.billed_by_service_month.get(month, ZERO)


def collected_in(data: ReportInput, month: dt.date) -> Decimal:
    """Sum of payments dated in that month (refunds and bounced checks subtract)."""
    return sum((p.amount for p in data.counted_payments if month_start(p.date) == month), ZERO)


def outstanding(data: ReportInput) -> Decimal:
    """Sum of open invoice balances."""
    return sum((i.balance or ZERO for i in data.open_invoices), ZERO)


def overdue(data: ReportInput) -> Decimal:
    """Sum of open balances of invoices whose due date has passed."""
    return sum((i.balance or ZERO for i in data.open_invoices if i.due_date < data.as_of), ZERO)


def dso(data: ReportInput) -> Decimal | None:
    """Days sales outstanding: outstanding ÷ invoiced in the last 90 days × 90."""
    start = data.as_of - dt.timedelta(days=WINDOW_DAYS)
    billed = sum((i.total for i in data.live_invoices if start < i.issue_date <= data.as_of),
                 ZERO)
    if billed <= 0:
        return None
    return (outstanding(data) / billed * WINDOW_DAYS).quantize(Decimal("0.1"))


def _due_in_window(data: ReportInput) -> list:
    start = data.as_of - dt.timedelta(days=WINDOW_DAYS)
    return [i for i in data.live_invoices if start < i.due_date <= data.as_of and i.total > 0]


def collection_rate(data: ReportInput) -> Decimal | None:
    """% of invoices due in the last 90 days that were paid in full by their due date."""
    due = _due_in_window(data)
    on_time = [i for i in due if (paid := data.paid_days.get(i.invoice_number)) is not None
               and paid <= i.due_date]
    return _pct(len(on_time), len(due))


def late_payment_rate(data: ReportInput) -> Decimal | None:
    """% of invoices due in the last 90 days paid in full, that were paid after their due date."""
    paid = [(i, data.paid_days[i.invoice_number]) for i in _due_in_window(data)
            if i.invoice_number in data.paid_days]
    return _pct(sum(1 for i, day in paid if day > i.due_date), len(paid))


def autopay_rate(data: ReportInput) -> Decimal | None:
    """% of active clients with autopay = yes (with Stripe on: and a usable card on file)."""
    if data.cards is not None:
        from ispsheets.reporting.cards import usable_autopay_rate

        return usable_autopay_rate(data, data.cards)
    active = [c for c in data.clients if c.status == "active"]
    return _pct(sum(1 for c in active if c.autopay), len(active))


def suspended_clients(data: ReportInput) -> int:
    return sum(1 for c in data.clients if c.status == "suspended")


def billing_churn(data: ReportInput) -> int:
    """Services that ended within 30 days after their client was suspended (last 90 days)."""
    start = data.as_of - dt.timedelta(days=WINDOW_DAYS)
    count = 0
    for s in data.services:
        if s.end_date is None or not start < s.end_date <= data.as_of:
            continue
        if any(client == s.client_id and day <= s.end_date <= day + dt.timedelta(days=30)
               for client, day in data.suspensions):
            count += 1
    return count


def held(data: ReportInput) -> Decimal:
    """Totals of the invoices held for your check (Invoices.status held): not sent and not
    counted in any figure above; set their status to open to send them, or void."""
    return sum((i.total for i in data.held_invoices), ZERO)


def explain(function: object) -> str:
    """A function's docstring as one line of text for a cell (no docstring indentation)."""
    return " ".join((getattr(function, "__doc__", None) or "").split())


def summary(data: ReportInput) -> list[Metric]:
    this_month = month_start(data.as_of)
    last_month = previous_month(data.as_of)
    return [
        Metric("Monthly recurring revenue (MRR)", mrr(data), "money", "", explain(mrr)),
        Metric(f"Invoiced {this_month:%B %Y} (by issue date)", invoiced_in(data, this_month),
               "money", formula=explain(invoiced_in)),
        Metric(f"Invoiced {last_month:%B %Y} (by issue date)", invoiced_in(data, last_month),
               "money", formula=explain(invoiced_in)),
        Metric(f"Billed for {this_month:%B %Y} (by service month)",
               billed_for_service_in(data, this_month), "money",
               formula=explain(billed_for_service_in)),
        Metric(f"Billed for {last_month:%B %Y} (by service month)",
               billed_for_service_in(data, last_month), "money",
               formula=explain(billed_for_service_in)),
        Metric(f"Collected {this_month:%B %Y}", collected_in(data, this_month), "money",
               formula=explain(collected_in)),
        Metric(f"Collected {last_month:%B %Y}", collected_in(data, last_month), "money",
               formula=explain(collected_in)),
        Metric("Outstanding", outstanding(data), "money", formula=explain(outstanding)),
        Metric("Overdue", overdue(data), "money", formula=explain(overdue)),
        Metric("DSO (days)", dso(data), "days", "< 30", explain(dso)),
        Metric("Collection rate", collection_rate(data), "percent", "> 95",
               explain(collection_rate)),
        Metric("Late payments", late_payment_rate(data), "percent", "< 10",
               explain(late_payment_rate)),
        Metric("Autopay enrollment", autopay_rate(data), "percent", "> 30",
               explain(autopay_rate)),
        Metric("Clients suspended", suspended_clients(data), "count",
               formula="Clients whose status is suspended."),
        Metric("Churn due to billing (90 days)", billing_churn(data), "count",
               formula=explain(billing_churn)),
        Metric(f"Held invoices ({len(data.held_invoices)})", held(data), "money",
               formula=explain(held)),
        *card_metrics(data, this_month),
    ]


def card_metrics(data: ReportInput, month: dt.date) -> list[Metric]:
    """Collected by method, and with Stripe on: autopay success, fees and net."""
    from ispsheets.reporting import cards

    rows = [Metric(f"Collected {month:%B %Y} by {method}", amount, "money",
                   formula=explain(cards.collected_by_method))
            for method, amount in cards.collected_by_method(data, month).items()]
    if data.cards is None:
        return rows
    fees = cards.fees_in(data.cards, month)
    return [*rows,
            Metric(f"Stripe fees {month:%B %Y}", fees, "money",
                   formula=explain(cards.fees_in)),
            Metric(f"Collected {month:%B %Y}, net of Stripe fees",
                   collected_in(data, month) - fees, "money",
                   formula="Collected in the month less Stripe's fees on its card payments."),
            Metric("Autopay success rate", cards.autopay_success_rate(data.cards), "percent",
                   formula=explain(cards.autopay_success_rate)),
            Metric("Autopay charged on the first try", cards.first_try_rate(data.cards),
                   "percent", formula=explain(cards.first_try_rate))]
