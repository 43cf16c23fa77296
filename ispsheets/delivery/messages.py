"""Emails to clients: jinja2 templates (autoescaped HTML + a written plain-text part) → `Message`.

Each kind has `<kind>.txt` (a `subject` block and the text body) and `<kind>.html`, shipped in
`ispsheets/templates/email/`; a file of the same name in `email.templates_dir` replaces the
built-in one. `Message.to_email_message()` builds the MIME message both the outbox and SMTP use.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import mimetypes
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from email import message_from_bytes, policy
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import pass_context

from ispsheets.book.records import Client, Invoice, InvoiceLine, Payment
from ispsheets.config import Config
from ispsheets.delivery.document import CompanyInfo, format_date, format_period, money_text
from ispsheets.money import ZERO
from ispsheets.payments.account import AccountSummary
from ispsheets.problems import Problem

REMINDER_KINDS = ("due_soon", "due_notice", "reminder", "reminder_late_fee_warning",
                  "final_notice")  # the built-in templates a reminder stage can name
KINDS = ("invoice", *REMINDER_KINDS, "late_fee", "suspension", "reconnection", "receipt",
         "autopay_failed", "welcome", "card_needed")


_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


class MessageError(ValueError):
    """A template is missing or fails to render; the message names the template and why."""


# -- what templates see --------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceSummary:
    """One invoice as an email shows it: amounts after payments, days past due."""

    number: str
    issue_date: dt.date
    due_date: dt.date
    period_start: dt.date | None
    period_end: dt.date | None
    total: Decimal
    paid: Decimal
    balance: Decimal
    days_overdue: int = 0  # days past the due date (0 when not yet due)
    pay_link: str = ""
    lines: tuple[InvoiceLine, ...] = ()

    @classmethod
    def of(cls, invoice: Invoice, today: dt.date, *, paid: Decimal | None = None,
           balance: Decimal | None = None, pay_link: str | None = None) -> InvoiceSummary:
        """From an invoice record; `paid`/`balance` default to what the record carries."""
        paid = invoice.paid if paid is None else paid
        if balance is None:
            balance = invoice.balance if invoice.balance is not None else invoice.total - paid
        return cls(invoice.invoice_number, invoice.issue_date, invoice.due_date,
                   invoice.period_start, invoice.period_end, invoice.total, paid, balance,
                   max((today - invoice.due_date).days, 0),
                   invoice.pay_link if pay_link is None else pay_link, invoice.lines)


@dataclass(frozen=True)
class EmailContext:
    """Everything a template may use; `variables()` is what it gets (see the docs)."""

    company: CompanyInfo
    client: Client
    today: dt.date
    currency: str = "USD"
    invoices: tuple[InvoiceSummary, ...] = ()  # the invoice(s) the message is about
    balance: Decimal | None = None  # the client's balance now; None = sum of invoice balances
    pay_link: str = ""  # blank = the first invoice's pay link
    payment_instructions: str = ""
    tax_name: str = "Tax"
    date_order: str = "MDY"
    stage: str = ""  # reminder stage name, e.g. first_reminder
    late_fee: Decimal | None = None  # the fee added (late_fee) or warned about (reminders)
    late_fee_after_days: int | None = None
    late_fee_invoice: str = ""  # the invoice a late fee was charged for
    suspend_after_days: int | None = None
    suspended_on: dt.date | None = None
    reconnection_fee: Decimal | None = None
    payment: Payment | None = None  # receipts
    applied: tuple[tuple[str, Decimal], ...] = ()  # receipts: (invoice number, amount)
    credit: Decimal = ZERO  # unapplied credit left after the payment
    failure_reason: str = ""  # autopay_failed: what the card processor said
    portal_link: str = ""  # opens the client portal signed in (blank: no portal)
    autopay: bool = False  # a card charge will really be attempted (payments.autopay)
    card_link: str = ""  # autopay_failed, card_needed: where the client saves a card
    coming_due: tuple[InvoiceSummary, ...] = ()  # reminders: open invoices not due yet
    reminded_before: bool = False  # reminders: an earlier reminder really went out
    suspended: bool = False  # the client's service is suspended now
    account: AccountSummary | None = None  # invoices: the account summary it carries
    extra: Mapping[str, Any] = field(default_factory=dict)  # anything else, for own templates

    def variables(self) -> dict[str, Any]:
        invoices = list(self.invoices)
        first = invoices[0] if invoices else None
        balance = self.balance
        if balance is None:
            balance = sum((i.balance for i in invoices), ZERO)
        due_date = min((i.due_date for i in invoices), default=None)
        late_fee_date = _next_date(invoices, self.late_fee_after_days, self.today)
        suspension_date = (max(self.today, due_date + dt.timedelta(days=self.suspend_after_days))
                           if due_date and self.suspend_after_days is not None else None)
        return {
            **self.extra,
            "company": self.company, "client": self.client, "today": self.today,
            "currency": self.currency, "date_order": self.date_order,
            "invoice": first, "invoices": invoices,
            "total_due": sum((i.balance for i in invoices), ZERO),
            "balance": balance, "due_date": due_date,
            "days_overdue": max((i.days_overdue for i in invoices), default=0),
            "pay_link": self.pay_link or (first.pay_link if first else ""),
            "payment_instructions": self.payment_instructions, "tax_name": self.tax_name,
            "stage": self.stage, "late_fee": self.late_fee,
            "late_fee_after_days": self.late_fee_after_days, "late_fee_date": late_fee_date,
            "late_fee_invoice": self.late_fee_invoice,
            "suspend_after_days": self.suspend_after_days, "suspension_date": suspension_date,
            "suspended_on": self.suspended_on, "reconnection_fee": self.reconnection_fee,
            "payment": self.payment, "applied": list(self.applied), "credit": self.credit,
            "failure_reason": self.failure_reason, "portal_link": self.portal_link,
            "autopay": self.autopay,
            "card_link": self.card_link,
            "coming_due": list(self.coming_due), "reminded_before": self.reminded_before,
            "suspended": self.suspended, "account": self.account,
        }


def _next_date(invoices: Sequence[InvoiceSummary], days: int | None,
               today: dt.date) -> dt.date | None:
    """The first day, today or later, that one of the invoices is `days` past due."""
    if days is None:
        return None
    dates = [i.due_date + dt.timedelta(days=days) for i in invoices]
    return min((d for d in dates if d >= today), default=None)


def context_from_config(config: Config, client: Client, today: dt.date,
                        **facts: Any) -> EmailContext:
    """An EmailContext with the company, currency, date order, payment instructions, tax name
    and collection rules from config; `facts` sets the rest (invoices, balance, payment...)."""
    col = config.collections
    defaults: dict[str, Any] = {
        "currency": config.currency, "date_order": config.workbook.date_order,
        "payment_instructions": config.invoicing.payment_instructions,
        "tax_name": config.invoicing.tax_name, "late_fee": col.late_fee or None,
        "late_fee_after_days": col.late_fee_after_days,
        "suspend_after_days": col.suspend_after_days,
        "reconnection_fee": col.reconnection_fee or None}
    return EmailContext(CompanyInfo.from_config(config), client, today, **{**defaults, **facts})


@dataclass(frozen=True)
class Sender:
    """Who messages come from, per config: `from_address` blank = company.email, `from_name`
    blank = company.name; `bcc` may list several addresses separated by `,` or `;`."""

    from_address: str
    from_name: str = ""
    reply_to: str = ""
    bcc: tuple[str, ...] = ()
    templates_dir: Path | None = None

    @classmethod
    def from_config(cls, config: Config) -> Sender:
        email = config.email
        return cls(from_address=email.from_address or config.company.email,
                   from_name=email.from_name or config.company.name, reply_to=email.reply_to,
                   bcc=tuple(a.strip() for a in re.split(r"[,;]", email.bcc) if a.strip()),
                   templates_dir=config.path(email.templates_dir) if email.templates_dir
                   else None)


# -- the message ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str = "application/pdf"

    @classmethod
    def from_path(cls, path: Path) -> Attachment:
        path = Path(path)
        mime = ("application/pdf" if path.suffix == ".pdf"  # every invoice: skip the lookup
                else mimetypes.guess_type(path.name)[0] or "application/octet-stream")
        return cls(path.name, path.read_bytes(), mime)


@dataclass(frozen=True)
class Message:
    """One email, ready to send. `key` is its journal key; the Message-ID derives from it."""

    key: str
    kind: str
    client_id: str
    invoice_number: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = ()
    from_address: str = ""
    from_name: str = ""
    reply_to: str = ""
    bcc: tuple[str, ...] = ()
    date: dt.datetime | None = None  # None = when it is built for sending

    @property
    def recipients(self) -> tuple[str, ...]:
        """Envelope recipients: every To address, then Bcc, each once."""
        return tuple(dict.fromkeys((*self.to, *self.bcc)))

    @property
    def message_id(self) -> str:
        """`<3f2a…@example.com>`: the same key always gives the same id."""
        digest = hashlib.sha256(self.key.encode()).hexdigest()[:32]
        domain = self.from_address.rpartition("@")[2] or "ispsheets.invalid"
        return f"<{digest}.ispsheets@{domain}>"

    def to_bytes(self, linesep: str = "\n") -> bytes:
        """The MIME message: multipart/mixed (alternative text + html, then attachments); Bcc
        is not a header. Built directly (the email package took 3 ms a message: a minute for
        20,000 invoices); `to_email_message` parses it back for anyone who wants the object."""
        tag = hashlib.sha256(self.key.encode()).hexdigest()[:24]
        headers = [("From", formataddr((self.from_name, self.from_address), "utf-8")
                    if self.from_name else self.from_address),
                   ("To", ", ".join(self.to))]
        if self.reply_to:
            headers.append(("Reply-To", self.reply_to))
        headers += [("Subject", _header_text(self.subject, linesep)),
                    ("Date", _date_header(self.date or dt.datetime.now(dt.UTC))),
                    ("Message-ID", self.message_id), ("X-Ispsheets-Key", self.key),
                    ("MIME-Version", "1.0")]
        body = _text_part(self.text, "plain", linesep)
        if self.html:
            body = _multipart("alternative", f"alt-{tag}",
                              [body, _text_part(self.html, "html", linesep)], linesep)
        if self.attachments:
            body = _multipart("mixed", f"mixed-{tag}",
                              [body, *(_attachment_part(a, linesep) for a in self.attachments)],
                              linesep)
        head = "".join(f"{name}: {value}{linesep}" for name, value in headers)
        return head.encode("utf-8") + body

    def to_email_message(self) -> EmailMessage:
        """`to_bytes` parsed back into an `email.message.EmailMessage`."""
        return message_from_bytes(self.to_bytes(), policy=policy.default)  # type: ignore[return-value]


@functools.lru_cache(maxsize=64)
def _date_header(date: dt.datetime) -> str:
    """The Date header: a run dates all its messages alike, so it is worked out once."""
    return format_datetime(date)


def _header_text(text: str, linesep: str) -> str:
    """A header value: as is when short ASCII, else RFC 2047 encoded and folded."""
    if text.isascii() and len(text) < 900 and "\n" not in text:
        return text
    return Header(text, "utf-8", maxlinelen=76).encode(linesep=linesep)


def _multipart(subtype: str, boundary: str, parts: list[bytes], linesep: str) -> bytes:
    sep = linesep.encode()
    out = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"'.encode(), sep]
    for part in parts:
        out += [sep, f"--{boundary}".encode(), sep, part]
    out += [sep, f"--{boundary}--".encode(), sep]
    return b"".join(out)


def _text_part(text: str, subtype: str, linesep: str) -> bytes:
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True)
    if linesep != "\n":
        encoded = encoded.replace(b"\n", linesep.encode())
    return (f'Content-Type: text/{subtype}; charset="utf-8"{linesep}'
            f"Content-Transfer-Encoding: quoted-printable{linesep}{linesep}").encode() + encoded


def _attachment_part(item: Attachment, linesep: str) -> bytes:
    data = base64.encodebytes(item.content)
    if linesep != "\n":
        data = data.replace(b"\n", linesep.encode())
    name = item.filename if item.filename.isascii() and '"' not in item.filename else \
        Header(item.filename, "utf-8").encode()
    return (f"Content-Type: {item.mime_type}{linesep}"
            f'Content-Disposition: attachment; filename="{name}"{linesep}'
            f"Content-Transfer-Encoding: base64{linesep}{linesep}").encode() + data


# -- composing -----------------------------------------------------------------------------


def compose(kind: str, context: EmailContext | Mapping[str, Any], *, to: Sequence[str],
            key: str, from_address: str, from_name: str = "", reply_to: str = "",
            bcc: Sequence[str] = (), attachments: Sequence[Attachment | Path] = (),
            templates_dir: Path | None = None, client_id: str = "",
            invoice_number: str = "", date: dt.datetime | None = None) -> Message:
    """Render `<kind>.txt` / `<kind>.html` into a Message; raises MessageError on a bad template.

    `client_id` and `invoice_number` default to the context's client and first invoice.
    """
    variables = context.variables() if isinstance(context, EmailContext) else dict(context)
    subject, text, html = render(kind, variables, templates_dir)
    if not client_id and (client := variables.get("client")) is not None:
        client_id = getattr(client, "client_id", "")
    if not invoice_number and (invoice := variables.get("invoice")) is not None:
        invoice_number = getattr(invoice, "number", "") or getattr(invoice, "invoice_number", "")
    files = tuple(a if isinstance(a, Attachment) else Attachment.from_path(a)
                  for a in attachments)
    return Message(key=key, kind=kind, client_id=client_id, invoice_number=invoice_number,
                   to=tuple(to), subject=subject, text=text, html=html, attachments=files,
                   from_address=from_address, from_name=from_name, reply_to=reply_to,
                   bcc=tuple(bcc), date=date)


def render(kind: str, variables: Mapping[str, Any],
           templates_dir: Path | None = None) -> tuple[str, str, str]:
    """(subject, text, html) of one kind; html is "" when no `<kind>.html` exists."""
    env = environment(templates_dir)
    try:
        text_template = _template(env, f"{kind}.txt")
        context = text_template.new_context(dict(variables))
        if "subject" not in text_template.blocks:
            raise MessageError(f"{kind}.txt: has no {{% block subject %}}")
        try:  # the subject block and the whole text from one context (what `render` does)
            subject = " ".join("".join(text_template.blocks["subject"](context)).split())
            body = env.concat(text_template.root_render_func(context))  # type: ignore[attr-defined]
        except Exception:
            env.handle_exception()  # re-raises with the traceback pointing into the template
        text = _BLANK_LINES.sub("\n\n", body).strip() + "\n"
        try:
            html = _template(env, f"{kind}.html").render(variables)
        except jinja2.TemplateNotFound:
            html = ""
    except jinja2.TemplateNotFound as exc:
        raise MessageError(f"email template {exc.name} not found") from exc
    except jinja2.TemplateError as exc:
        raise MessageError(f"{_where(exc) or kind + ' template'}: {exc.message}") from exc
    return subject, text, html


def _where(exc: jinja2.TemplateError) -> str:
    """`reminder.txt:3`: the template and line an error happened in (syntax or rendering)."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"{exc.name or exc.filename}:{exc.lineno}"
    where = ""
    tb = exc.__traceback__
    while tb is not None:  # jinja rewrites the traceback to point into the templates
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith((".txt", ".html")):
            where = f"{Path(filename).name}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


@functools.lru_cache(maxsize=64)
def _template(env: jinja2.Environment, name: str) -> jinja2.Template:
    """`env.get_template(name)` once per process: the environment never reloads a template
    (auto_reload off), so its answer never changes; a template not found is looked for again."""
    return env.get_template(name)


@functools.lru_cache(maxsize=8)
def environment(templates_dir: Path | None = None) -> jinja2.Environment:
    """The jinja2 environment: the owner's folder first, then the built-in templates."""
    loaders: list[jinja2.BaseLoader] = []
    if templates_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(templates_dir)))
    loaders.append(jinja2.PackageLoader("ispsheets", "templates/email"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",),
                                            default_for_string=False, default=False),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, auto_reload=False)  # no file checks on each message
    env.filters["money"] = _money
    env.filters["date"] = _date
    env.filters["period"] = _period
    env.filters["plural"] = _plural
    return env


@pass_context
def _money(context: jinja2.runtime.Context, amount: Decimal | None,
           currency: str | None = None) -> str:
    if amount is None:
        return ""
    return money_text(Decimal(amount), currency or context.get("currency") or "USD")


@pass_context
def _date(context: jinja2.runtime.Context, day: dt.date | None, order: str | None = None) -> str:
    return format_date(day, order or context.get("date_order") or "MDY")


@pass_context
def _period(context: jinja2.runtime.Context, item: Any) -> str:
    """`Dec 1 – Dec 31, 2026` from anything with period_start and period_end."""
    return format_period(getattr(item, "period_start", None), getattr(item, "period_end", None),
                         context.get("date_order") or "MDY")


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    """`1 day`, `3 days`."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def check_templates(templates_dir: Path | None = None,
                    kinds: Sequence[str] = KINDS) -> list[Problem]:
    """Render every kind with sample values: a broken own template is found by `check`."""
    problems = []
    for kind in dict.fromkeys(kinds):
        try:
            render(kind, sample_context().variables(), templates_dir)
        except MessageError as exc:
            where = str(templates_dir) if templates_dir else "email templates"
            problems.append(Problem(where, str(exc), "fix the template or delete it to use "
                                    "the built-in one"))
    return problems


def sample_context(today: dt.date = dt.date(2026, 12, 18)) -> EmailContext:
    """A worked example of every variable (used by `check_templates` and the docs)."""
    company = CompanyInfo("Prairie Wireless", "412 Main Street\nSpringfield, IL 62701",
                          "billing@prairiewireless.net", "(217) 555-0142",
                          "prairiewireless.net")
    client = Client("C0042", "Zoë Ashford", ("zoe@example.com",), address="88 Elm Street")
    line = InvoiceLine("INV-00042", 1, "S1", "Home 100 (100/20 Mbps, unlimited)",
                       dt.date(2026, 12, 1), dt.date(2026, 12, 31), Decimal("1"),
                       Decimal("49.99"), Decimal("49.99"), Decimal("8.25"), Decimal("4.12"))
    invoice = InvoiceSummary("INV-00042", dt.date(2026, 11, 30), dt.date(2026, 12, 15),
                             dt.date(2026, 12, 1), dt.date(2026, 12, 31), Decimal("54.11"),
                             ZERO, Decimal("54.11"), (today - dt.date(2026, 12, 15)).days,
                             "https://pay.example.com/INV-00042", (line,))
    payment = Payment("P0007", today, "C0042", Decimal("54.11"), "card", "ch_3PzX")
    return EmailContext(company, client, today, invoices=(invoice,), late_fee=Decimal("5.00"),
                        late_fee_after_days=14, late_fee_invoice="INV-00042",
                        suspend_after_days=21, suspended_on=today,
                        reconnection_fee=Decimal("10.00"), payment=payment,
                        applied=(("INV-00042", Decimal("54.11")),),
                        failure_reason="Your card was declined.",
                        payment_instructions="Bank transfer to First Bank, account 000123456.")
