"""Ids for Charges and Payments rows the owner left without one, stable across runs.

A row without an id is known by its content (plus its place among identical rows), and the
journal remembers which id that content got: a run killed before the id reached the workbook
gives the same row the same id next time, so it is never billed or applied twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

from ispsheets.book.changes import FillKey
from ispsheets.book.records import Book, Charge, Payment
from ispsheets.journal import Journal

CHARGE_ID = "CHG-{:05d}"
PAYMENT_ID = "PAY-{:05d}"


def _text(value: object) -> str:
    if value is None:
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _identity(record: Charge | Payment) -> dict[str, str]:
    if isinstance(record, Charge):
        return {"client_id": record.client_id, "date": _text(record.date),
                "description": record.description, "amount": _text(record.amount)}
    return {"client_id": record.client_id, "date": _text(record.date),
            "amount": _text(record.amount), "method": record.method,
            "reference": record.reference}


def _fill(records: tuple[Any, ...], tab: str, column: str, pattern: str,
          journal: Journal) -> tuple[tuple[Any, ...], list[FillKey]]:
    taken = {getattr(r, column) for r in records if getattr(r, column)}
    seen: Counter[str] = Counter()
    result, fills = [], []
    for record in records:
        if getattr(record, column):
            result.append(record)
            continue
        identity = _identity(record)
        base = "|".join(identity.values())
        seen[base] += 1
        new_id = journal.assign_id(tab, f"{base}#{seen[base]}", pattern.format, taken)
        result.append(replace(record, **{column: new_id}))
        fills.append(FillKey(tab, record.origin.row, column, new_id, identity))
    return tuple(result), fills


def assign_missing_ids(book: Book, journal: Journal) -> tuple[Book, list[FillKey]]:
    """The book with every charge and payment id filled, and the cells to write them into."""
    charges, charge_fills = _fill(book.charges, "Charges", "charge_id", CHARGE_ID, journal)
    payments, payment_fills = _fill(book.payments, "Payments", "payment_id", PAYMENT_ID, journal)
    return replace(book, charges=charges, payments=payments), charge_fills + payment_fills
