"""Card figures of the Summary: autopay success, money collected by method, Stripe's fees."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from ispsheets.reporting.inputs import ReportInput, month_start

ZERO = Decimal("0")


@dataclass(frozen=True)
class CardFacts:
    """What the journal knows about card payments, for the report (None when Stripe is off)."""

    fees: tuple[tuple[dt.date, Decimal], ...] = ()  # (day, Stripe's fee) per card payment
    attempts: tuple[tuple[str, int, str], ...] = ()  # (invoice, attempt number, outcome)
    usable_cards: frozenset[str] = frozenset()  # clients with a default card not expired


def _pct(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1")) if whole else None


def autopay_success_rate(cards: CardFacts) -> Decimal | None:
    """% of invoices autopay tried to charge that it charged (on the first try or a retry)."""
    tried: dict[str, bool] = {}
    for invoice, _, outcome in cards.attempts:
        if outcome in ("succeeded", "declined", "requires_action"):
            tried[invoice] = tried.get(invoice, False) or outcome == "succeeded"
    return _pct(sum(tried.values()), len(tried))


def first_try_rate(cards: CardFacts) -> Decimal | None:
    """% of invoices autopay tried to charge that it charged on the first try."""
    firsts = [outcome for _, number, outcome in cards.attempts
              if number == 1 and outcome in ("succeeded", "declined", "requires_action")]
    return _pct(firsts.count("succeeded"), len(firsts))


def collected_by_method(data: ReportInput, month: dt.date) -> dict[str, Decimal]:
    """Payments dated in the month, summed by `method` (blank = `other`)."""
    totals: dict[str, Decimal] = {}
    for p in data.counted_payments:
        if month_start(p.date) == month:
            method = (p.method or "other").strip().lower()
            totals[method] = totals.get(method, ZERO) + p.amount
    return dict(sorted(totals.items()))


def fees_in(cards: CardFacts, month: dt.date) -> Decimal:
    """Stripe's fees on the card payments of the month."""
    return sum((fee for day, fee in cards.fees if month_start(day) == month), ZERO)


def usable_autopay_rate(data: ReportInput, cards: CardFacts) -> Decimal | None:
    """% of active clients with autopay = yes and a usable card on file."""
    active = [c for c in data.clients if c.status == "active"]
    return _pct(sum(1 for c in active if c.autopay and c.client_id in cards.usable_cards),
                len(active))
