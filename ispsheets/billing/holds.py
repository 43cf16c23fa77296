"""Which new invoices are held: issued (their number is used) but not sent, charged or reminded
until the owner looks, because they are far outside what the client normally pays.

A date typed wrong (a start in 2001 for 2021) or a price with a misplaced point bills
hundreds of periods or a hundred times the usual amount; holding such an invoice costs the
owner one look, sending it costs a client's trust. The rules compare an invoice with the
client's own recurring price for each service's interval, so a normal catch-up (a start a few
weeks ago, a missed month or two, a setup fee with a first prorated period) and an annual plan
are never held.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from ispsheets.billing.invoicing import BilledPeriod, PlannedInvoice
from ispsheets.money import ZERO, format_money

if TYPE_CHECKING:
    from ispsheets.config import Config

HUNDRED = Decimal("100")


@dataclass(frozen=True)
class HoldRules:
    """`invoicing.hold_above_*` of config.yaml; 0 turns a rule off."""

    above_periods: int = 6  # periods of one service on one invoice
    above_multiple: Decimal = Decimal("10")  # × the client's recurring price a period
    above_amount: Decimal = ZERO  # invoice total, in the configured currency
    currency: str = "USD"

    @classmethod
    def from_config(cls, config: Config) -> HoldRules:
        inv = config.invoicing
        return cls(inv.hold_above_periods, inv.hold_above_multiple, inv.hold_above_amount,
                   config.currency)


def recurring_price(planned: PlannedInvoice) -> Decimal:
    """What the services on this invoice cost for one period each (their own interval), after
    quantity and discount, before tax: what this client normally pays."""
    prices: dict[str, Decimal] = {}
    for billed in planned.billed:
        if billed.kind != "period":
            continue
        period = BilledPeriod.from_data(billed.key, billed.data, "")
        if period is not None:
            prices[period.service_id] = (period.unit_price * period.quantity
                                         * (HUNDRED - period.discount_pct) / HUNDRED)
    return sum(prices.values(), ZERO)


def hold_reason(planned: PlannedInvoice, rules: HoldRules) -> str:
    """Why this invoice is held ('' when it is not): every rule it breaks, in words."""
    money = lambda amount: format_money(amount, rules.currency)  # noqa: E731
    reasons = []
    periods = Counter(b.key.rpartition("/")[0] for b in planned.billed if b.kind == "period")
    if rules.above_periods and periods:
        service_id, count = max(periods.items(), key=lambda item: (item[1], item[0]))
        if count > rules.above_periods:
            reasons.append(f"{count} periods of service {service_id} at once (more than "
                           f"invoicing.hold_above_periods, {rules.above_periods})")
    recurring = recurring_price(planned)
    if rules.above_multiple and recurring > 0:
        # a setup fee is the package's own one-off price: it never counts against the client
        amount = sum((line.amount for line, billed in zip(planned.invoice.lines, planned.billed,
                                                           strict=True)
                      if billed.kind != "setup"), ZERO)
        if amount > rules.above_multiple * recurring:
            times = (amount / recurring).quantize(Decimal("0.1"))
            reasons.append(f"{money(amount)} before tax is {times:f} times the {money(recurring)}"
                           " its services cost a period (more than "
                           f"invoicing.hold_above_multiple, {rules.above_multiple:f})")
    total = planned.invoice.total
    if rules.above_amount and total > rules.above_amount:
        reasons.append(f"the total {money(total)} is above invoicing.hold_above_amount "
                       f"({money(rules.above_amount)})")
    return "; ".join(reasons)
