"""SWIFT MT940 statements, read by the `mt-940` library (with all its opt-in fixes).

The `:86:` details are structured (`?20`…`?29` purpose, `?31` account, `?32`/`?33` name, as
German banks write them) or free text over several lines; free text becomes the reference,
its lines joined by a space. The bank reference after `//` in `:61:` is the transaction id.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import mt940

from ispsheets.bank.statement import (
    Statement,
    StatementError,
    StatementLine,
    account_text,
    clean,
)
from ispsheets.problems import Problem


def _date(value: Any) -> dt.date | None:
    if value is None:
        return None
    return dt.date(value.year, value.month, value.day)


def _reference(data: dict[str, Any]) -> str:
    parts = [data.get("purpose"), data.get("additional_purpose")]
    text = clean(" ".join(p for p in parts if p))
    return text or clean(data.get("transaction_details") or "")


def read_mt940(path: Path, data: bytes) -> Statement:
    try:
        transactions = mt940.parse(data, options=mt940.Options.all())
    except Exception as exc:  # the library raises many kinds on a damaged file
        raise StatementError(Problem(path.name, f"not a readable MT940 file ({exc})",
                                     "export the statement again from your bank")) from exc
    lines: list[StatementLine] = []
    problems: list[Problem] = []
    currency = str(transactions.data.get("currency") or "")
    for position, transaction in enumerate(transactions, start=1):
        fields = transaction.data
        amount = fields.get("amount")
        day = _date(fields.get("entry_date")) or _date(fields.get("date"))
        if amount is None or day is None:
            problems.append(Problem(f"{path.name} transaction {position}",
                                    "a :61: line without an amount or a date",
                                    "the line was skipped; check it in your bank"))
            continue
        value = Decimal(str(amount.amount))
        bank_id = fields.get("bank_reference") or None
        lines.append(StatementLine(
            day, value, str(getattr(amount, "currency", "") or fields.get("currency")
                            or currency), _reference(fields),
            clean(fields.get("applicant_name") or ""),
            account_text(fields.get("applicant_iban") or ""), bank_id, path.name, position,
            "mt940"))
    if not lines and not problems and b":61:" not in data:
        raise StatementError(Problem(path.name, "no :61: transactions in the file",
                                     "this is not an MT940 statement, or it is empty"))
    return Statement(path.name, "mt940", tuple(lines), tuple(problems))
