"""Tax per line: exclusive (tax on top) or inclusive (the price already holds the tax)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ispsheets.money import HUNDRED, ZERO, round_money


@dataclass(frozen=True)
class TaxedLine:
    """A line's net `amount` and its `tax`; `amount + tax` is what the client pays."""

    amount: Decimal
    tax: Decimal

    @property
    def gross(self) -> Decimal:
        return self.amount + self.tax


def line_rate(tax_exempt: bool, rate: Decimal | None, default: Decimal) -> Decimal:
    """The percent a line is taxed at: 0 for a tax-exempt client, else `rate`, else `default`."""
    if tax_exempt:
        return ZERO
    return default if rate is None else rate


def apply_tax(price: Decimal, rate: Decimal, inclusive: bool, currency: str) -> TaxedLine:
    """Split a line's rounded `price` into amount and tax.

    Exclusive: tax = round(price × rate / 100) on top. Inclusive: `price` is gross,
    tax = round(price × rate / (100 + rate)) and amount = price − tax, so the two add up to the
    price to the cent.
    """
    if inclusive:
        tax = round_money(price * rate / (HUNDRED + rate), currency)
        return TaxedLine(price - tax, tax)
    return TaxedLine(price, round_money(price * rate / HUNDRED, currency))
