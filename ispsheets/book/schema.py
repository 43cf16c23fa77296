"""The one declaration of the workbook contract: every tab, every column, who writes it.

Parsing, validation, the starter template in `sheet_templates/` and the docs all read this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum


class Who(StrEnum):
    OWNER = "owner"  # typed by the owner, never overwritten
    TOOL = "tool"  # written by ispsheets
    BOTH = "both"  # owner types it; the tool may set it under a documented rule


class Kind(StrEnum):
    KEY = "key"  # text identifier, kept exactly as typed (`00123` stays `00123`)
    TEXT = "text"
    MONEY = "money"
    PERCENT = "percent"
    NUMBER = "number"
    INT = "int"
    DATE = "date"
    DATETIME = "datetime"
    BOOL = "bool"
    EMAILS = "emails"
    CHOICE = "choice"


INTERVALS = ("monthly", "quarterly", "semiannual", "annual")
CLIENT_STATUSES = ("active", "suspended", "cancelled")
INVOICE_STATUSES = ("open", "partial", "paid", "void", "held")
PAYMENT_METHODS = ("cash", "check", "bank transfer", "card", "stripe", "autopay", "other")
YES_NO = ("yes", "no")


@dataclass(frozen=True)
class Column:
    name: str
    who: Who
    kind: Kind
    required: bool = False  # the tab cannot be used without this column
    choices: tuple[str, ...] = ()
    help: str = ""
    width: int = 14
    references: str | None = None  # "Clients" → the value must be a client_id

    @property
    def header(self) -> str:
        return self.name


@dataclass(frozen=True)
class Tab:
    name: str
    key: str | None
    columns: tuple[Column, ...]
    tool_tab: bool = False  # every column is the tool's; rows are appended by the tool
    help: str = ""
    by_name: dict[str, Column] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {c.name: c for c in self.columns})

    def column(self, name: str) -> Column:
        return self.by_name[name]

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def tool_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.who is Who.TOOL)


def normalise_header(text: object) -> str:
    """Headers match ignoring case, spaces, `_` and `-`: "Client ID" = `client_id`."""
    return re.sub(r"[\s_\-]+", "", str(text or "")).lower()


def _c(name: str, who: Who, kind: Kind, **kw: object) -> Column:
    return Column(name, who, kind, **kw)  # type: ignore[arg-type]


O, T, B = Who.OWNER, Who.TOOL, Who.BOTH  # noqa: E741

PACKAGES = Tab("Packages", "package_id", (
    _c("package_id", O, Kind.KEY, required=True, help="unique key, e.g. HOME100", width=14),
    _c("name", O, Kind.TEXT, required=True, help="shown on invoices, e.g. Home 100", width=22),
    _c("price", O, Kind.MONEY, required=True, help="price per billing interval"),
    _c("interval", O, Kind.CHOICE, required=True, choices=INTERVALS,
       help="monthly, quarterly, semiannual or annual", width=12),
    _c("download_mbps", O, Kind.NUMBER, help="shown on invoices"),
    _c("upload_mbps", O, Kind.NUMBER, help="shown on invoices"),
    _c("data_cap_gb", O, Kind.NUMBER, help="blank = unlimited"),
    _c("tax_rate", O, Kind.PERCENT, help="percent, 8.25 = 8.25 %; blank = config default"),
    _c("prorate", O, Kind.BOOL, choices=YES_NO, help="yes/no; blank = config default", width=9),
    _c("setup_fee", O, Kind.MONEY, help="charged once on a service's first invoice"),
), help="Your plans and their prices.")

CLIENTS = Tab("Clients", "client_id", (
    _c("client_id", O, Kind.KEY, required=True, help="unique key", width=12),
    _c("name", O, Kind.TEXT, required=True, width=24),
    _c("email", O, Kind.EMAILS, required=True, help="several allowed, separated by ; or ,",
       width=28),
    _c("phone", O, Kind.TEXT, width=16),
    _c("address", O, Kind.TEXT, width=30),
    _c("billing_day", O, Kind.INT, help="1-28; blank = config default", width=11),
    _c("autopay", O, Kind.BOOL, choices=YES_NO,
       help="yes: charge the card on file for each invoice (needs Stripe set up)", width=9),
    _c("tax_exempt", O, Kind.BOOL, choices=YES_NO, width=10),
    _c("status", B, Kind.CHOICE, choices=CLIENT_STATUSES,
       help="active, suspended or cancelled; blank = active", width=11),
    _c("balance", T, Kind.MONEY, help="amount owed now (written by ispsheets)"),
    _c("stripe_customer_id", T, Kind.TEXT, width=20),
    _c("bank_reference", O, Kind.TEXT,
       help="what this client writes on a bank transfer (optional)", width=16),
), help="Your subscribers.")

SERVICES = Tab("Services", "service_id", (
    _c("service_id", O, Kind.KEY, required=True, width=12),
    _c("client_id", O, Kind.KEY, required=True, references="Clients", width=12),
    _c("package_id", O, Kind.KEY, required=True, references="Packages", width=12),
    _c("start_date", O, Kind.DATE, required=True, help="first day of service", width=12),
    _c("end_date", O, Kind.DATE, help="last day of service; blank = ongoing", width=12),
    _c("quantity", O, Kind.NUMBER, help="blank = 1", width=9),
    _c("price", O, Kind.MONEY, help="overrides the package price"),
    _c("discount_pct", O, Kind.PERCENT, help="percent off; blank = 0", width=12),
    _c("billed_through", O, Kind.DATE, help="last day billed before ispsheets", width=14),
), help="Which client has which package, from when.")

CHARGES = Tab("Charges", "charge_id", (
    _c("charge_id", B, Kind.KEY, help="blank = ispsheets fills one", width=12),
    _c("client_id", O, Kind.KEY, required=True, references="Clients", width=12),
    _c("date", O, Kind.DATE, required=True, width=12),
    _c("description", O, Kind.TEXT, required=True, width=30),
    _c("amount", O, Kind.MONEY, required=True, help="negative = credit"),
    _c("taxable", O, Kind.BOOL, choices=YES_NO, help="blank = yes", width=9),
    _c("invoice_number", T, Kind.KEY, help="filled when billed", width=14),
), help="One-off charges and credits, billed on the client's next invoice.")

INVOICES = Tab("Invoices", "invoice_number", (
    _c("invoice_number", T, Kind.KEY, width=14),
    _c("client_id", T, Kind.KEY, width=12),
    _c("issue_date", T, Kind.DATE, width=12),
    _c("period_start", T, Kind.DATE, width=12),
    _c("period_end", T, Kind.DATE, width=12),
    _c("due_date", T, Kind.DATE, width=12),
    _c("subtotal", T, Kind.MONEY),
    _c("tax", T, Kind.MONEY, width=10),
    _c("total", T, Kind.MONEY),
    _c("paid", T, Kind.MONEY),
    _c("balance", T, Kind.MONEY),
    _c("status", B, Kind.CHOICE, choices=INVOICE_STATUSES,
       help="open, partial, paid, held; set void to cancel, open to send a held one",
       width=9),
    _c("sent_at", T, Kind.DATETIME, width=18),
    _c("reminder_stage", T, Kind.TEXT, width=16),
    _c("pay_link", T, Kind.TEXT, width=30),
), tool_tab=True, help="Written by ispsheets. Set status to void to cancel an invoice.")

INVOICE_LINES = Tab("InvoiceLines", None, (
    _c("invoice_number", T, Kind.KEY, width=14),
    _c("line", T, Kind.INT, width=6),
    _c("service_id", T, Kind.KEY, width=12),
    _c("description", T, Kind.TEXT, width=40),
    _c("period_start", T, Kind.DATE, width=12),
    _c("period_end", T, Kind.DATE, width=12),
    _c("quantity", T, Kind.NUMBER, width=9),
    _c("unit_price", T, Kind.MONEY, width=12),
    _c("amount", T, Kind.MONEY),
    _c("tax_rate", T, Kind.PERCENT, width=9),
    _c("tax", T, Kind.MONEY, width=10),
), tool_tab=True, help="Written by ispsheets: one row per invoice line.")

PAYMENTS = Tab("Payments", "payment_id", (
    _c("payment_id", B, Kind.KEY, help="blank = ispsheets fills one", width=12),
    _c("date", O, Kind.DATE, required=True, width=12),
    _c("client_id", O, Kind.KEY, required=True, references="Clients", width=12),
    _c("amount", O, Kind.MONEY, required=True, help="negative = refund or bounced check"),
    _c("method", O, Kind.TEXT, help="cash, check, bank transfer, card, ...", width=14),
    _c("reference", O, Kind.TEXT, help="check number, transfer reference", width=16),
    _c("invoice_number", O, Kind.KEY, help="optional: pay this invoice first", width=14),
    _c("applied_to", T, Kind.TEXT, width=34),
    _c("unapplied", T, Kind.MONEY, width=11),
), help="Payments you received (cash, check, transfer, card): one row each.")

ACTIVITY = Tab("Activity", None, (
    _c("timestamp", T, Kind.DATETIME, width=20),
    _c("action", T, Kind.TEXT, width=18),
    _c("client_id", T, Kind.KEY, width=12),
    _c("invoice_number", T, Kind.KEY, width=14),
    _c("detail", T, Kind.TEXT, width=60),
), tool_tab=True, help="Append-only log of everything ispsheets did.")

BANK_UNMATCHED = Tab("BankUnmatched", "line_id", (
    _c("line_id", T, Kind.KEY, width=11),
    _c("date", T, Kind.DATE, width=12),
    _c("amount", T, Kind.MONEY),
    _c("currency", T, Kind.TEXT, width=9),
    _c("name", T, Kind.TEXT, width=24),
    _c("account", T, Kind.TEXT, width=26),
    _c("reference", T, Kind.TEXT, width=36),
    _c("why", T, Kind.TEXT, width=44),
    _c("file", T, Kind.TEXT, width=24),
    _c("client_id", O, Kind.KEY, references="Clients", width=12,
       help="type who paid; the next run records the payment"),
    _c("payment_id", T, Kind.KEY, width=12),
), tool_tab=True, help="Bank statement lines no rule could match. Type the client_id of "
                       "who paid; the next run turns the line into a payment.")

TABS: tuple[Tab, ...] = (PACKAGES, CLIENTS, SERVICES, CHARGES, INVOICES, INVOICE_LINES, PAYMENTS,
                         ACTIVITY, BANK_UNMATCHED)
TABS_BY_NAME: dict[str, Tab] = {t.name: t for t in TABS}
OWNER_TABS = tuple(t for t in TABS if not t.tool_tab)

ACTIVITY_ACTIONS = (
    "invoice_issued", "invoice_sent", "payment_applied", "autopay_charged", "autopay_failed",
    "reminder_sent", "late_fee_added", "client_suspended", "client_reconnected", "receipt_sent",
    "row_skipped", "invoice_restored", "bank_imported", "welcome_sent", "payment_deleted",
)


def find_tab(names: list[str], tab: Tab) -> str | None:
    """The workbook's own spelling of `tab` (tab names match like headers), if present."""
    wanted = normalise_header(tab.name)
    return next((n for n in names if normalise_header(n) == wanted), None)


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def column_index(letters: str) -> int:
    """A → 0, AA → 26."""
    index = 0
    for ch in letters.upper():
        index = index * 26 + (ord(ch) - 64)
    return index - 1
