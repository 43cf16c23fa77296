"""`config.yaml` as a typed, validated model. Secrets come from the environment or a `.env` file."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ispsheets.problems import Problem

CONFIG_NAME = "config.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Company(_Section):
    name: str = "Your ISP"
    address: str = ""
    email: str = ""
    phone: str = ""
    website: str = ""
    logo: str = ""  # path relative to config.yaml; PNG or JPEG
    tax_id: str = ""
    brand_color: str = "#1F4E79"

    @field_validator("brand_color")
    @classmethod
    def _hex_color(cls, value: str) -> str:
        text = value.strip()
        if len(text) != 7 or not text.startswith("#"):
            raise ValueError("use a colour like #1F4E79")
        int(text[1:], 16)
        return text


class WorkbookSource(_Section):
    path: str = ""  # an .xlsx file, relative to config.yaml
    google_sheet: str = ""  # a Google Sheet key or URL (instead of path)
    service_account: str = ""  # service-account JSON for google_sheet
    report_tab: bool = False  # also put the report's summary in a Report tab of google_sheet
    date_order: Literal["MDY", "DMY", "YMD"] = "MDY"  # how to read text dates like 12/01/2026
    backups: int = Field(10, ge=0, le=1000)  # dated backups of the .xlsx kept in backups/
    # copies of the journal kept beside the newest backups (each as large as the journal)
    journal_copies: int = Field(2, ge=0, le=1000)
    # settled rows older than this many months move to archive/<workbook>-YYYY.xlsx
    # (and -YYYY-part2.xlsx… past 800,000 rows); 0 = never
    archive_after_months: int = Field(12, ge=0, le=1200)

    @model_validator(mode="after")
    def _one_source(self) -> WorkbookSource:
        if bool(self.path) == bool(self.google_sheet):
            raise ValueError("set exactly one of workbook.path or workbook.google_sheet")
        return self


class Invoicing(_Section):
    billing_day: int = Field(1, ge=1, le=28)
    generate_days_before: int = Field(1, ge=0, le=60)
    due_days: int = Field(15, ge=0, le=365)
    tax_rate: Decimal = Field(Decimal("0"), ge=0, le=100)  # percent
    tax_name: str = "Tax"
    prorate: bool = True
    prices_include_tax: bool = False
    number_format: str = "INV-{seq:05d}"
    pdf_dir: str = "invoices"
    paper: Literal["letter", "A4"] = "letter"
    pdf_font: str = ""  # a .ttf font for invoices; blank = Helvetica, or DejaVu when needed
    payment_instructions: str = ""
    footer: str = "Thank you for your business."
    # An invoice far outside what the client normally pays is held (issued, not sent) until
    # the owner sets its status to open; 0 turns a rule off.
    hold_above_periods: int = Field(6, ge=0)  # periods of one service on one invoice
    hold_above_multiple: Decimal = Field(Decimal("10"), ge=0)  # × the client's price a period
    hold_above_amount: Decimal = Field(Decimal("0"), ge=0)  # invoice total

    @field_validator("number_format")
    @classmethod
    def _has_seq(cls, value: str) -> str:
        try:
            sample = value.format(seq=42)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"must use only {{seq}}, e.g. INV-{{seq:05d}} ({exc})") from exc
        if sample == value.format(seq=43):
            raise ValueError("must contain {seq}, e.g. INV-{seq:05d}")
        return value


class ReminderStage(_Section):
    name: str
    days: int = Field(ge=-60, le=365)  # days past due date; negative = before it
    template: str = "reminder"


class Provisioning(_Section):
    suspend_command: str = ""
    restore_command: str = ""
    timeout_seconds: int = Field(30, ge=1, le=600)


def _default_stages() -> tuple[ReminderStage, ...]:
    return (
        ReminderStage(name="due", days=0, template="due_notice"),
        ReminderStage(name="first_reminder", days=3, template="reminder"),
        ReminderStage(name="second_reminder", days=7, template="reminder_late_fee_warning"),
        ReminderStage(name="final_notice", days=14, template="final_notice"),
    )


class Collections(_Section):
    reminders: tuple[ReminderStage, ...] = Field(default_factory=_default_stages)
    reminder_min_balance: Decimal = Field(Decimal("0.00"), ge=0)
    late_fee: Decimal = Field(Decimal("5.00"), ge=0)
    late_fee_percent: Decimal = Field(Decimal("0"), ge=0, le=100)
    late_fee_after_days: int = Field(14, ge=0, le=365)
    suspend_after_days: int = Field(21, ge=1, le=365)
    suspend_min_balance: Decimal = Field(Decimal("0.00"), ge=0)
    reconnection_fee: Decimal = Field(Decimal("10.00"), ge=0)
    bill_while_suspended: bool = True
    provisioning: Provisioning = Field(default_factory=Provisioning)


class Smtp(_Section):
    host: str = ""  # blank = write .eml files into the outbox instead
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str = ""
    password_env: str = "ISPSHEETS_SMTP_PASSWORD"
    oauth2_file: str = ""  # Gmail OAuth2 credentials JSON (yagmail's format) instead of a password
    timeout_seconds: int = Field(30, ge=1, le=600)


class Email(_Section):
    from_address: str = ""  # blank = company.email
    from_name: str = ""  # blank = company.name
    reply_to: str = ""
    bcc: str = ""
    smtp: Smtp = Field(default_factory=Smtp)
    outbox: str = "outbox"
    templates_dir: str = ""  # a folder whose templates override the built-in ones
    send_receipts: bool = True
    send_welcome: bool = True  # a welcome email with each new client's first invoice


class Stripe(_Section):
    """Card payments; everything here is off while the key's variable is unset."""

    secret_key_env: str = "STRIPE_SECRET_KEY"
    api_base: str = ""  # e.g. http://127.0.0.1:8420 for localstripe
    webhook_secret_env: str = "STRIPE_WEBHOOK_SECRET"
    pay_links: bool = True  # a pay link on every open invoice (when a key is set)
    autopay_on: Literal["issue", "due"] = "issue"  # the day autopay charges an invoice
    autopay_retry_days: tuple[int, ...] = (3, 7)  # days after a declined charge to try again
    partial_minimum: Decimal = Field(Decimal("5.00"), ge=0)  # smallest part paid online
    statement_descriptor: str = Field("", max_length=22)  # suffix on the client's statement

    @field_validator("autopay_retry_days")
    @classmethod
    def _increasing(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < 1 for d in value) or list(value) != sorted(set(value)):
            raise ValueError("list days after the failed charge, increasing, e.g. [3, 7]")
        return value


class Portal(_Section):
    """The client portal (`ispsheets portal`); see README "Customer portal"."""

    base_url: str = ""  # the address clients use, e.g. https://pay.yourisp.com; blank = no links
    secret_env: str = "ISPSHEETS_PORTAL_SECRET"  # signs links and sessions; never in the workbook
    folder: str = "portal"  # view.sqlite (written by each run) and portal.sqlite (by the portal)
    signin_minutes: int = Field(30, ge=5, le=24 * 60)  # a sign-in link is valid this long, once
    session_days: int = Field(30, ge=1, le=365)  # a signed-in browser stays signed in
    link_grace_days: int = Field(30, ge=0, le=365)  # email links live until paid + this
    signin_per_hour: int = Field(5, ge=1, le=1000)  # sign-in emails per address per hour
    signin_per_ip_per_hour: int = Field(30, ge=1, le=100000)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        text = value.strip().rstrip("/")
        if text and not text.startswith(("https://", "http://")):
            raise ValueError("use a full address such as https://pay.yourisp.com")
        return text


class BankCsv(_Section):
    """Which columns of a bank's CSV export hold what (header names as the bank writes them)."""

    date: str = "date"
    amount: str = "amount"  # one signed column; or, for banks with two, credit and debit:
    credit: str = ""  # money-in column (then `amount` is not used)
    debit: str = ""  # money-out column, beside credit
    reference: str = "reference"
    name: str = ""  # the payer's name; blank = the bank gives none
    account: str = ""  # the payer's account (IBAN or number)
    id: str = ""  # the bank's transaction id, if the export has one
    currency: str = ""  # blank = the configured currency
    decimal: Literal[".", ","] = "."  # "," for 1.234,56
    date_order: Literal["day_first", "month_first", "year_first"] = "year_first"
    delimiter: str = Field("", max_length=1)  # blank = guessed from the header (; , tab |)
    encoding: str = "utf-8"  # cp1252 / latin-1 exports are read too when utf-8 fails


class Bank(_Section):
    """Bank statements imported into Payments (see README, "Bank transfers")."""

    inbox: str = ""  # folder every run imports statement files from; blank = off
    imported: str = "bank/imported"  # where imported files are moved
    match_by_amount: bool = True  # last rule: a unique open invoice of exactly the amount
    csv: BankCsv = Field(default_factory=BankCsv)


class Paths(_Section):
    journal: str = "ispsheets.db"
    reports: str = "reports"
    keep_reports: int = Field(31, ge=0)  # newest daily reports kept, besides each month's last
    logs: str = "logs"


class Config(_Section):
    company: Company = Field(default_factory=Company)
    currency: str = "USD"
    timezone: str = "UTC"
    workbook: WorkbookSource
    invoicing: Invoicing = Field(default_factory=Invoicing)
    collections: Collections = Field(default_factory=Collections)
    email: Email = Field(default_factory=Email)
    stripe: Stripe = Field(default_factory=Stripe)
    portal: Portal = Field(default_factory=Portal)
    bank: Bank = Field(default_factory=Bank)
    paths: Paths = Field(default_factory=Paths)
    env_file: str = ".env"  # secrets file, relative to config.yaml; optional

    base_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        code = value.strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise ValueError("use a three-letter ISO code such as USD, EUR or GBP")
        return code

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("use an IANA zone such as America/Chicago or Europe/London") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def path(self, relative: str) -> Path:
        """A path from config.yaml, resolved against the folder config.yaml lives in."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    @property
    def workbook_path(self) -> Path:
        return self.path(self.workbook.path)

    @property
    def journal_path(self) -> Path:
        return self.path(self.paths.journal)

    @property
    def portal_folder(self) -> Path:
        return self.path(self.portal.folder)

    @property
    def stripe_key(self) -> str:
        """The Stripe secret key, or "" when card payments are off."""
        return self.secret(self.stripe.secret_key_env) if self.stripe.secret_key_env else ""

    def secret(self, env_name: str) -> str:
        """A secret from the environment, else from the `.env` file; never from the workbook."""
        if value := os.environ.get(env_name):
            return value
        env_file = self.path(self.env_file)
        if env_file.is_file():
            return dotenv_values(env_file).get(env_name) or ""
        return ""


def _location(loc: tuple[object, ...]) -> str:
    return ".".join(str(part) for part in loc if not str(part).startswith("function-"))


def load_config(path: Path) -> tuple[Config | None, list[Problem]]:
    """Read and validate config.yaml; problems read `config.yaml: invoicing.due_days: ...`."""
    name = path.name
    if not path.is_file():
        return None, [Problem(str(path), "not found",  # as given: which one was meant
                              "run `ispsheets init` to create one, or pass --config PATH")]
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        return None, [Problem(where, f"not valid YAML ({getattr(exc, 'problem', exc)})",
                              "check the indentation and quoting on that line")]
    if not isinstance(data, dict):
        return None, [Problem(name, "must be a mapping of sections", "see the example config")]
    try:
        config = Config.model_validate({**data, "base_dir": path.parent.resolve()})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = _location(err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message, fix = "unknown setting", "remove it or check its spelling"
            else:
                fix = "see the comments in the example config.yaml"
            problems.append(Problem(f"{name}: {where}" if where else name, message, fix))
        return None, problems
    return config, []
