"""CSV exports, with the columns named in config (`bank.csv`): any delimiter, a decimal comma
(`1.234,56`), day-first dates (`31.12.2026`), title lines above the header and a balance line
below the rows (both common in European exports), utf-8 or a Windows code page."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from ispsheets.bank.statement import (
    Statement,
    StatementError,
    StatementLine,
    account_text,
    clean,
    parse_amount,
    parse_date,
)
from ispsheets.book.schema import normalise_header
from ispsheets.config import BankCsv
from ispsheets.problems import Problem

SETTING = "config.yaml: bank.csv"


def decode(data: bytes, encoding: str) -> str:
    """The file's text: the configured encoding, else Windows-1252 (what most bank exports
    that are not utf-8 are)."""
    for name in (encoding, "utf-8-sig", "cp1252"):
        try:
            return data.decode(name).removeprefix("\ufeff")
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("latin-1")


def _amount_column(settings: BankCsv) -> str:
    return settings.credit or settings.amount


def _header_index(rows: list[list[str]], settings: BankCsv) -> int | None:
    wanted = {normalise_header(settings.date), normalise_header(_amount_column(settings))}
    for index, row in enumerate(rows[:50]):
        if wanted <= {normalise_header(cell) for cell in row}:
            return index
    return None


def _delimiter(text: str, settings: BankCsv) -> str:
    if settings.delimiter:
        return settings.delimiter
    date = normalise_header(settings.date)
    for line in text.splitlines()[:50]:
        if date in normalise_header(line):
            counts = {d: line.count(d) for d in (";", ",", "\t", "|")}
            return max(counts, key=lambda d: counts[d])
    return ","


def _amount(row: list[str], cell: Callable[[list[str], str], str], settings: BankCsv,
            two_columns: bool) -> Decimal:
    """The signed amount: one column, or credit minus debit (either may be blank)."""
    if not two_columns:
        return parse_amount(cell(row, "amount"), settings.decimal)
    credit, debit = cell(row, "credit"), cell(row, "debit")
    if not credit and not debit:
        raise ValueError("neither a credit nor a debit amount")
    value = parse_amount(credit, settings.decimal) if credit else Decimal(0)
    return value - (abs(parse_amount(debit, settings.decimal)) if debit else Decimal(0))


def read_csv(path: Path, data: bytes, settings: BankCsv, currency: str) -> Statement:
    text = decode(data, settings.encoding)
    rows = list(csv.reader(io.StringIO(text), delimiter=_delimiter(text, settings)))
    header_at = _header_index(rows, settings)
    if header_at is None:
        raise StatementError(Problem(
            path.name, f"no header row with the columns {settings.date!r} and "
            f"{_amount_column(settings)!r}", f"name your bank's column headers in {SETTING} "
            "(date, amount, reference, name, account, id)"))
    header = [normalise_header(h) for h in rows[header_at]]
    columns: dict[str, int] = {}
    problems: list[Problem] = []
    two_columns = bool(settings.credit)
    fields = ("date", *(("credit", "debit") if two_columns else ("amount",)), "reference",
              "name", "account", "id", "currency")
    for field in fields:
        name = getattr(settings, field)
        if not name:
            continue
        if normalise_header(name) not in header:
            problems.append(Problem(f"{path.name} row {header_at + 1}",
                                    f"no column {name!r} (bank.csv.{field})",
                                    f"the header has: {', '.join(rows[header_at])}; "
                                    f"fix {SETTING}.{field}"))
            continue
        columns[field] = header.index(normalise_header(name))
    if "reference" not in columns:
        raise StatementError(problems[0] if problems else Problem(
            path.name, "no reference column", f"set {SETTING}.reference"))

    def cell(row: list[str], field: str) -> str:
        index = columns.get(field)
        return clean(row[index]) if index is not None and index < len(row) else ""

    lines: list[StatementLine] = []
    for number, row in enumerate(rows[header_at + 1:], start=header_at + 2):
        if not any(c.strip() for c in row):
            continue
        date_text = cell(row, "date")
        if not date_text[:1].isdigit():
            continue  # a title or balance line, not a booking
        where = f"{path.name} row {number}"
        try:
            day = parse_date(date_text, settings.date_order)
            amount = _amount(row, cell, settings, two_columns)
        except ValueError as exc:
            problems.append(Problem(where, str(exc), f"check the row, and {SETTING}.decimal "
                                    "and date_order; the row was skipped"))
            continue
        lines.append(StatementLine(day, amount, cell(row, "currency").upper() or currency,
                                   cell(row, "reference"), cell(row, "name"),
                                   account_text(cell(row, "account")), cell(row, "id") or None,
                                   path.name, number, "csv"))
    return Statement(path.name, "csv", tuple(lines), tuple(problems))
