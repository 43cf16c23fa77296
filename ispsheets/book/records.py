"""Immutable records of the workbook, each carrying where it came from (`Tab!row`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from ispsheets.book.schema import column_letter
from ispsheets.problems import Problem


@dataclass(frozen=True)
class Layout:
    """Where a tab's columns are: the workbook's tab name and column name → 0-based index."""

    tab: str
    columns: Mapping[str, int] = field(default_factory=dict, hash=False, compare=False)
    header_row: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", MappingProxyType(dict(self.columns)))

    def __reduce__(self) -> tuple[object, ...]:
        # a mappingproxy cannot be pickled: records cross to the PDF worker processes
        return (Layout, (self.tab, dict(self.columns), self.header_row))

    def cell(self, column: str, row: int) -> str:
        """`Services!D7`; a missing column names the tab and row only."""
        index = self.columns.get(column)
        if index is None:
            return f"{self.tab}!{row}:{row}"
        return f"{self.tab}!{column_letter(index)}{row}"


@dataclass(frozen=True)
class Origin:
    """Where a record was read: its tab layout and 1-based sheet row."""

    layout: Layout
    row: int

    def cell(self, column: str) -> str:
        return self.layout.cell(column, self.row)

    def __str__(self) -> str:
        return f"{self.layout.tab}!{self.row}:{self.row}"

    def problem(self, column: str, message: str, fix: str = "") -> Problem:
        return Problem(self.cell(column), message, fix)


NOWHERE = Origin(Layout("(tool)"), 0)


@dataclass(frozen=True)
class Package:
    package_id: str
    name: str
    price: Decimal
    interval: str
    download_mbps: Decimal | None = None
    upload_mbps: Decimal | None = None
    data_cap_gb: Decimal | None = None
    tax_rate: Decimal | None = None  # percent; None = config default
    prorate: bool | None = None  # None = config default
    setup_fee: Decimal = Decimal("0")
    origin: Origin = NOWHERE

    @property
    def months(self) -> int:
        return {"monthly": 1, "quarterly": 3, "semiannual": 6, "annual": 12}[self.interval]


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    emails: tuple[str, ...] = ()
    phone: str = ""
    address: str = ""
    billing_day: int | None = None  # None = config default
    autopay: bool = False
    tax_exempt: bool = False
    status: str = "active"
    balance: Decimal | None = None  # as last written by the tool
    stripe_customer_id: str = ""
    origin: Origin = NOWHERE
    bank_reference: str = ""  # what the client writes on a bank transfer


@dataclass(frozen=True)
class Service:
    service_id: str
    client_id: str
    package_id: str
    start_date: dt.date
    end_date: dt.date | None = None
    quantity: Decimal = Decimal("1")
    price: Decimal | None = None  # None = package price
    discount_pct: Decimal = Decimal("0")
    billed_through: dt.date | None = None
    origin: Origin = NOWHERE


@dataclass(frozen=True)
class Charge:
    charge_id: str  # "" when the owner left it blank; the tool fills one
    client_id: str
    date: dt.date
    description: str
    amount: Decimal
    taxable: bool = True
    invoice_number: str = ""
    origin: Origin = NOWHERE


@dataclass(frozen=True)
class Payment:
    payment_id: str  # "" when blank; the tool fills one
    date: dt.date
    client_id: str
    amount: Decimal
    method: str = ""
    reference: str = ""
    invoice_number: str = ""
    applied_to: str = ""
    unapplied: Decimal | None = None
    origin: Origin = NOWHERE


@dataclass(frozen=True)
class InvoiceLine:
    invoice_number: str
    line: int
    service_id: str  # "" for a charge line; the charge id is in `charge_id`
    description: str
    period_start: dt.date | None
    period_end: dt.date | None
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    tax_rate: Decimal
    tax: Decimal
    charge_id: str = ""


@dataclass(frozen=True)
class Invoice:
    invoice_number: str
    client_id: str
    issue_date: dt.date
    period_start: dt.date | None
    period_end: dt.date | None
    due_date: dt.date
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    paid: Decimal = Decimal("0")
    balance: Decimal | None = None
    status: str = "open"
    sent_at: dt.datetime | None = None
    reminder_stage: str = ""
    pay_link: str = ""
    lines: tuple[InvoiceLine, ...] = ()
    origin: Origin = NOWHERE


@dataclass(frozen=True)
class ActivityRow:
    timestamp: dt.datetime
    action: str
    client_id: str = ""
    invoice_number: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Book:
    """Everything read from the workbook: records, where each tab lives, and what was wrong."""

    packages: tuple[Package, ...] = ()
    clients: tuple[Client, ...] = ()
    services: tuple[Service, ...] = ()
    charges: tuple[Charge, ...] = ()
    payments: tuple[Payment, ...] = ()
    invoices: tuple[Invoice, ...] = ()  # as the Invoices tab shows them (lines not attached)
    layouts: Mapping[str, Layout] = field(default_factory=dict, hash=False, compare=False)
    problems: tuple[Problem, ...] = ()
    # Problems that stop every command before it does anything: a required tab or column is
    # missing (also listed in `problems`).
    blocking: tuple[Problem, ...] = ()
    # Per tab, the records of rows skipped for an error (fields may be None or blank).
    skipped: Mapping[str, tuple[Any, ...]] = field(default_factory=dict, hash=False,
                                                   compare=False)

    def package_map(self) -> dict[str, Package]:
        return {p.package_id: p for p in self.packages}

    def client_map(self) -> dict[str, Client]:
        return {c.client_id: c for c in self.clients}
