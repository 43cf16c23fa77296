"""What a PDF invoice shows, as one frozen value: company, client, invoice with lines, amounts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ispsheets.book.records import Client, Invoice, InvoiceLine
from ispsheets.config import Config
from ispsheets.money import ZERO, format_money
from ispsheets.payments.account import AccountSummary


@dataclass(frozen=True)
class CompanyInfo:
    """The sender's block on invoices and emails (from `config.company`)."""

    name: str
    address: str = ""  # one line per line of the address; ", " also works
    email: str = ""
    phone: str = ""
    website: str = ""
    tax_id: str = ""
    logo: Path | None = None  # PNG or JPEG
    brand_color: str = "#1F4E79"

    @classmethod
    def from_config(cls, config: Config) -> CompanyInfo:
        c = config.company
        return cls(name=c.name, address=c.address, email=c.email, phone=c.phone,
                   website=c.website, tax_id=c.tax_id,
                   logo=config.path(c.logo) if c.logo else None, brand_color=c.brand_color)


@dataclass(frozen=True)
class InvoiceDocument:
    """Everything one PDF invoice shows. Amounts are Decimal, already rounded by billing."""

    company: CompanyInfo
    client: Client
    invoice: Invoice
    paid: Decimal = ZERO
    balance_due: Decimal | None = None  # None = total - paid
    currency: str = "USD"
    tax_name: str = "Tax"
    payment_instructions: str = ""
    pay_link: str = ""
    footer: str = ""
    paper: str = "letter"  # "letter" or "A4"
    date_order: str = "MDY"  # how dates are written: MDY, DMY or YMD
    account: AccountSummary | None = None  # the account summary, where it tells more

    @property
    def balance(self) -> Decimal:
        if self.balance_due is not None:
            return self.balance_due
        return self.invoice.total - self.paid

    @property
    def lines(self) -> tuple[InvoiceLine, ...]:
        return self.invoice.lines

    @property
    def filename(self) -> str:
        """`INV-00042.pdf`; characters unsafe in a file name become `_`."""
        return safe_filename(self.invoice.invoice_number) + ".pdf"

    @classmethod
    def from_config(cls, config: Config, client: Client, invoice: Invoice, *,
                    paid: Decimal | None = None, balance_due: Decimal | None = None,
                    pay_link: str | None = None, paper: str = "letter",
                    account: AccountSummary | None = None) -> InvoiceDocument:
        """Build from config + records; `paid`/`pay_link` default to what the invoice carries."""
        inv = config.invoicing
        return cls(company=CompanyInfo.from_config(config), client=client, invoice=invoice,
                   paid=invoice.paid if paid is None else paid,
                   balance_due=invoice.balance if balance_due is None else balance_due,
                   currency=config.currency, tax_name=inv.tax_name,
                   payment_instructions=inv.payment_instructions,
                   pay_link=invoice.pay_link if pay_link is None else pay_link,
                   footer=inv.footer, paper=paper, date_order=config.workbook.date_order,
                   account=account)

    def __reduce__(self) -> tuple[Any, ...]:
        # Records carry their workbook origin (a mappingproxy, not picklable); a PDF does not
        # need it, so documents cross process boundaries without it.
        return (_rebuild, (self.company, _fields(self.client), _fields(self.invoice),
                           {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                            if f.name not in ("company", "client", "invoice")}))


def _fields(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)
            if f.name != "origin"}


def _rebuild(company: CompanyInfo, client: dict[str, Any], invoice: dict[str, Any],
             rest: dict[str, Any]) -> InvoiceDocument:
    return InvoiceDocument(company=company, client=Client(**client), invoice=Invoice(**invoice),
                           **rest)


def safe_filename(text: str) -> str:
    """Letters, digits, `.`, `-` and `_` kept; anything else becomes `_`."""
    cleaned = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_"
                      for ch in text)
    return cleaned.lstrip(".") or "_"


@functools.lru_cache(maxsize=4096)
def money_text(amount: Decimal, currency: str) -> str:
    """`format_money`, remembered: the invoices and emails of a run show the same prices and
    totals again and again (equal amounts print the same, so they share an entry)."""
    return format_money(amount, currency)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_date(day: dt.date | None, order: str = "MDY") -> str:
    """`Dec 1, 2026` (MDY), `1 Dec 2026` (DMY) or `2026-12-01` (YMD); blank for None."""
    if day is None:
        return ""
    if order == "YMD":
        return day.isoformat()
    month = _MONTHS[day.month - 1]
    if order == "DMY":
        return f"{day.day} {month} {day.year}"
    return f"{month} {day.day}, {day.year}"


def format_period(start: dt.date | None, end: dt.date | None, order: str = "MDY") -> str:
    """`Dec 1 – Dec 31, 2026` (the year once when both share it); one date when one is known."""
    if start and end and start == end:
        return format_date(start, order)
    if start and end:
        first = format_date(start, order)
        if start.year == end.year and order != "YMD":
            first = first.removesuffix(f", {start.year}").removesuffix(f" {start.year}")
        return f"{first} – {format_date(end, order)}"
    return format_date(start or end, order)
