"""Exact money: `Decimal` only, quantised half-up to the currency's minor unit at one point."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

ZERO = Decimal("0")
HUNDRED = Decimal("100")

# ISO 4217 minor units that differ from 2, and symbols for the common currencies.
_MINOR_UNITS = {"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "VND": 0, "UGX": 0, "XOF": 0, "XAF": 0,
                "PYG": 0, "RWF": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}
_SYMBOLS = {"USD": "$", "CAD": "$", "AUD": "$", "NZD": "$", "EUR": "€", "GBP": "£", "JPY": "¥",
            "INR": "₹", "BRL": "R$", "MXN": "$", "ZAR": "R", "NGN": "₦", "KES": "KSh", "PHP": "₱",
            "CHF": "CHF ", "SEK": "kr ", "NOK": "kr ", "DKK": "kr ", "PLN": "zł "}


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency.upper(), 2)


def symbol(currency: str) -> str:
    return _SYMBOLS.get(currency.upper(), currency.upper() + " ")


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def round_money(amount: Decimal, currency: str = "USD") -> Decimal:
    """Round half-up to the currency's minor unit (the one documented rounding point)."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def to_decimal(value: object) -> Decimal:
    """Exact Decimal from an int, a Decimal, a str, or a float as its shortest repr."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("a yes/no value is not an amount")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # A spreadsheet cell holds a binary double; its shortest repr is what the owner typed.
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation as exc:
            raise ValueError(f"not a number: {value!r}") from exc
    raise TypeError(f"not a number: {value!r}")


def format_money(amount: Decimal, currency: str = "USD") -> str:
    """`$1,049.99`, `-$5.00`: for invoices, emails and the terminal."""
    rounded = round_money(amount, currency)
    sign = "-" if rounded < 0 else ""
    places = minor_units(currency)
    return f"{sign}{symbol(currency)}{abs(rounded):,.{places}f}"
