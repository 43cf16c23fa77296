"""One record for a line of any bank statement format, and how text becomes its values."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from ispsheets.problems import Problem

FORMATS = ("camt", "mt940", "ofx", "csv")


@dataclass(frozen=True)
class StatementLine:
    """A booked line of a bank statement; `amount` > 0 is money in (a credit)."""

    booking_date: dt.date
    amount: Decimal
    currency: str
    reference: str  # the remittance text: what the payer wrote, as the bank gives it
    name: str  # the counterparty's name ("" when the bank gives none)
    account: str  # the counterparty's account (IBAN or number), "" when not given
    bank_id: str | None  # the bank's own transaction id, when the format carries one
    source: str  # file name
    position: int  # 1-based place of the line in its file
    format: str  # one of FORMATS

    @property
    def is_credit(self) -> bool:
        return self.amount > 0

    @property
    def where(self) -> str:
        return f"{self.source} line {self.position}"


@dataclass(frozen=True)
class Statement:
    """What one file held: its lines (in file order), what it skipped, and what was wrong."""

    source: str
    format: str
    lines: tuple[StatementLine, ...] = ()
    problems: tuple[Problem, ...] = ()
    skipped: dict[str, int] = field(default_factory=dict)  # e.g. {"pending": 1}


class StatementError(Exception):
    """The file cannot be read as a statement of its format at all."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def compact(text: str) -> str:
    """Letters and digits only, upper case: `de44 5001-0517` → `DE4450010517`."""
    return re.sub(r"[^0-9A-Za-z]+", "", text).upper()


def account_text(text: str | None) -> str:
    """An account number as printed for people: spaces dropped, letters upper case."""
    return re.sub(r"\s+", "", text or "").upper()


def clean(text: str | None) -> str:
    """Runs of whitespace (the line breaks of a wrapped field) become one space."""
    return " ".join((text or "").split())


_MONEY = re.compile(r"^[+-]?\d+(\.\d+)?$")


def parse_amount(text: str, decimal: str = ".") -> Decimal:
    """`1.234,56` (decimal ",") or `1,234.56` (decimal "."), a sign in front or behind, or a
    trailing `CR`/`DR` → Decimal. Raises ValueError for anything else."""
    raw = text.strip().replace("\u00a0", "").replace(" ", "").replace("'", "")
    negative = False
    upper = raw.upper()
    for mark, sign in (("CR", False), ("DR", True)):
        if upper.endswith(mark):
            raw, negative = raw[:-2], sign
    if raw.endswith("-"):
        raw, negative = raw[:-1], True
    if raw.startswith("(") and raw.endswith(")"):
        raw, negative = raw[1:-1], True
    raw = re.sub(r"^[^\d+\-]+|[^\d]+$", "", raw)  # currency symbols around the number
    thousands = "." if decimal == "," else ","
    raw = raw.replace(thousands, "")
    if decimal == ",":
        raw = raw.replace(",", ".")
    if not _MONEY.match(raw):
        raise ValueError(f"{text!r} is not an amount")
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not an amount") from exc
    return -value if negative else value


_DATE_ORDERS = {"day_first": ("d", "m", "y"), "month_first": ("m", "d", "y"),
                "year_first": ("y", "m", "d")}


def parse_date(text: str, order: str = "year_first") -> dt.date:
    """`31.12.2026` (day_first), `12/31/2026` (month_first), `2026-12-31`, `20261231`; a time
    after the date is ignored. Raises ValueError for anything else."""
    raw = text.strip().split("T")[0].split(" ")[0]
    if re.fullmatch(r"\d{8}", raw):
        return dt.date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    parts = re.split(r"[./\-]", raw)
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{text!r} is not a date")
    if len(parts[0]) == 4:  # 2026-12-31 whatever the configured order
        year, month, day = parts
    else:
        values = dict(zip(_DATE_ORDERS[order], parts, strict=True))
        year, month, day = values["y"], values["m"], values["d"]
    number = int(year)
    if len(year) == 2:
        number += 2000
    return dt.date(number, int(month), int(day))
