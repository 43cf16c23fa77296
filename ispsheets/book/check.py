"""`ispsheets check`: read the workbook config.yaml names and list every problem at once."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

from ispsheets.archive.limits import cell_limit_warnings, row_limit_warnings
from ispsheets.book.backend import WorkbookReadError, open_backend, sheet_cells, unwritable
from ispsheets.book.known import (
    KnownRows,
    deleted_payment_problem,
    payment_fingerprint,
    vanished_payments,
)
from ispsheets.book.load import load_book
from ispsheets.book.reader import RawBook
from ispsheets.book.records import Book
from ispsheets.book.schema import column_letter
from ispsheets.config import Config
from ispsheets.problems import ExitCode, Problem, warning


@dataclass(frozen=True)
class Checked:
    """What `check` found: the book (None when it cannot be read, and then the exit code:
    2 for a bad config or file, 3 for a Google Sheet out of reach for now) and the write
    generation the workbook carries."""

    book: Book | None
    problems: list[Problem]
    unreadable: ExitCode = ExitCode.BAD_CONFIG
    generation: int | None = None


def read_and_check(config: Config, today: dt.date | None = None
                   ) -> tuple[Book | None, list[Problem]]:
    """The book and every problem in it, in sheet order; `None` when it cannot be read.

    `today` (default: today in the configured timezone) decides which services have ended.
    """
    checked = check_workbook(config, today)
    return checked.book, checked.problems


def check_workbook(config: Config, today: dt.date | None = None) -> Checked:
    """`read_and_check`, with why the workbook could not be read and its write generation."""
    try:
        backend = open_backend(config)
        raw = backend.read()
    except WorkbookReadError as exc:
        return Checked(None, [exc.problem], exc.exit_code)
    known = _known(config, raw)
    book = load_book(raw, config.workbook.date_order,
                     today=today or dt.datetime.now(config.tz).date(), known=known)
    gone: list[Problem] = []
    if known is not None and not book.blocking:
        shown = {p.payment_id for p in (*book.payments, *book.skipped.get("Payments", ()))
                 if isinstance(p.payment_id, str)}
        newcomers = [payment_fingerprint(p) for p in book.payments
                     if p.payment_id not in known.payments]
        gone = [deleted_payment_problem(*pair)
                for pair in vanished_payments(known, shown, newcomers)]
    never = unwritable(backend)
    full = [*row_limit_warnings(raw, config.workbook.archive_after_months),
            *cell_limit_warnings(backend.name, sheet_cells(backend),
                                 config.workbook.archive_after_months)]
    if config.workbook.report_tab and not config.workbook.google_sheet:
        full = [*full, warning("config.yaml: workbook.report_tab", "is for a Google Sheet: ignored "
                            "for an .xlsx workbook (the report is in reports/)",
                            "nothing to do, or remove the setting")]
    return Checked(book, [*([never] if never else []), *check_settings(config), *book.problems,
                          *check_autopay(config, book), *gone, *full, *_archive_edits(config),
                          *_check_printable(config, book)],
                   generation=backend.generation)


def _check_printable(config: Config, book: Book) -> list[Problem]:
    from ispsheets.delivery.printable import check_printable

    return check_printable(config, book)


def _known(config: Config, raw: RawBook) -> KnownRows | None:
    """The journal's view of Charges and Payments ids, and of the archived invoices Payments
    rows name, so `check` judges them as the run does; None without a usable journal."""
    from ispsheets.archive.book import archived_keys
    from ispsheets.journal import Journal, JournalError
    from ispsheets.steps.prepare import known_rows

    if not config.journal_path.is_file():
        return None
    try:  # an unusable journal is the run's to report
        journal = Journal.open(config.journal_path, trust_seal=True)
        try:
            known = known_rows(journal, raw)
            moved = archived_keys(journal).of("Payments")  # in archive/, not deleted
            return KnownRows({k: v for k, v in known.payments.items() if k not in moved},
                             known.charges, known.rewritten, known.archived_invoices)
        finally:
            journal.close()
    except (sqlite3.Error, JournalError, ValueError, OSError):
        return None


def _archive_edits(config: Config) -> list[Problem]:
    """Rows of the archive files the owner changed after they moved: ignored, and said."""
    from ispsheets.archive.edits import archive_edits
    from ispsheets.archive.parts import archive_folder
    from ispsheets.journal import Journal, JournalError

    if not config.journal_path.is_file() or not archive_folder(config).is_dir():
        return []
    try:
        journal = Journal.open(config.journal_path, trust_seal=True)
        try:
            return archive_edits(config, journal)
        finally:
            journal.close()
    except (sqlite3.Error, JournalError, ValueError, OSError):
        return []


def check_autopay(config: Config, book: Book) -> list[Problem]:
    """`autopay` = yes while card payments are off (no Stripe key): one warning naming those
    clients. With a key, a client without a card is told by the run how to add one."""
    if config.stripe_key:
        return []
    idle = [c for c in book.clients if c.autopay and c.status != "cancelled"]
    if not idle:
        return []
    layout = idle[0].origin.layout
    column = column_letter(layout.columns["autopay"])
    names = ", ".join(c.client_id for c in idle[:5]) + (", ..." if len(idle) > 5 else "")
    count = f"{len(idle)} client{'s have' if len(idle) > 1 else ' has'}"
    return [warning(f"{layout.tab}!{column}:{column}",
                    f"{count} autopay = yes ({names}), which has no effect: card payments are "
                    f"off (no Stripe key in {config.stripe.secret_key_env}), so no card is "
                    "charged and their invoices ask them to pay as usual",
                    "set up Stripe (README, Card payments), or tell these clients to pay as "
                    "usual")]


def check_settings(config: Config) -> list[Problem]:
    """What config.yaml points at: own email templates render, provisioning placeholders exist,
    the logo and invoice font are there."""
    from ispsheets.collections.provisioning import CLIENT_FIELDS, unknown_fields
    from ispsheets.delivery.messages import KINDS, REMINDER_KINDS, check_templates

    problems: list[Problem] = []
    folder = config.path(config.email.templates_dir) if config.email.templates_dir else None
    if folder is not None:
        if not folder.is_dir():
            problems.append(Problem("config.yaml: email.templates_dir",
                                    f"{folder} is not a folder",
                                    "create it, or leave the setting blank for the built-in "
                                    "templates"))
        else:
            problems += check_templates(folder)
    own = folder if folder is not None and folder.is_dir() else None
    for number, stage in enumerate(config.collections.reminders):
        if stage.template in KINDS:
            continue
        for problem in check_templates(own, [stage.template]):
            problems.append(Problem(f"config.yaml: collections.reminders.{number}.template",
                                    problem.message, f"use a built-in template "
                                    f"({', '.join(REMINDER_KINDS)}) or add {stage.template}.txt "
                                    "to email.templates_dir"))
    provisioning = config.collections.provisioning
    for name in ("suspend_command", "restore_command"):
        unknown = unknown_fields(getattr(provisioning, name))
        if unknown:
            problems.append(Problem(
                f"config.yaml: collections.provisioning.{name}",
                f"unknown placeholder {', '.join('{' + u + '}' for u in unknown)}",
                f"use only {', '.join('{' + f + '}' for f in (*CLIENT_FIELDS, 'service_ids'))}"))
    for setting, value in (("company.logo", config.company.logo),
                           ("invoicing.pdf_font", config.invoicing.pdf_font)):
        if value and not config.path(value).is_file():
            problems.append(Problem(f"config.yaml: {setting}", f"{value} not found",
                                    "check the file name (relative to config.yaml)"))
    from ispsheets.payments.stripe.checks import check_stripe

    return problems + check_stripe(config)
