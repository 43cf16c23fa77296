"""Partial periods: `price × days used / days in the full period`, rounded once per line."""

from __future__ import annotations

from decimal import Decimal

from ispsheets.money import HUNDRED, round_money


def charged_days(days: int, full_days: int, prorate: bool) -> int:
    """Days a period is charged for: all of the full period when proration is off."""
    return days if prorate else full_days


def prorated_amount(unit_price: Decimal, quantity: Decimal, discount_pct: Decimal, days: int,
                    full_days: int, currency: str) -> Decimal:
    """`round(unit_price × quantity × days / full_days × (100 − discount) / 100)`, half-up.

    The exact product is divided once, so a true half cent is never lost to a rounded fraction.
    """
    exact = (unit_price * quantity * days * (HUNDRED - discount_pct)) / (full_days * HUNDRED)
    return round_money(exact, currency)
