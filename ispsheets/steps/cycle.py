"""What one run carries from step to step: its options, its state, and what it did."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from ispsheets.book.changes import FillKey, WriteResult
from ispsheets.book.reader import RawBook
from ispsheets.book.records import ActivityRow, Book, Client, Invoice
from ispsheets.config import Config
from ispsheets.journal import Journal, MessageRecord
from ispsheets.problems import ExitCode, Problem

if TYPE_CHECKING:
    from ispsheets.archive.book import Archived
    from ispsheets.book.backend import Backend
    from ispsheets.payments.allocate import Allocation
    from ispsheets.steps.deliver import Postman
    from ispsheets.writeback import Ledger

log = logging.getLogger("ispsheets")

# The steps of the daily cycle, in order; each command runs a subset.
STEPS = ("invoice", "reconcile", "send", "remind", "report", "archive")


def counted(count: int, what: str) -> str:
    """`3 invoices issued`, `1 invoice issued`, `1 late fee added`: a count and its words."""
    if count != 1:
        return f"{count} {what}"
    *before, noun, verb = what.split(" ")
    return " ".join([str(count), *before, noun.removesuffix("s"), verb])


@dataclass(frozen=True)
class RunOptions:
    today: dt.date
    now: dt.datetime  # wall-clock time of the run, in the configured timezone, naive
    dry_run: bool = False
    steps: tuple[str, ...] = STEPS
    progress: bool = False  # progress bars (attached to a terminal)
    resend: tuple[str, ...] = ()  # message keys the owner asks to send again
    mark_sent: tuple[str, ...] = ()  # message keys the owner says did arrive
    write: bool = True  # write the workbook back (off for `report`, which only reads it)
    bank_files: tuple[Path, ...] = ()  # statements to import (`import-bank`); else bank.inbox
    accept_deleted_payments: bool = False  # the owner confirms applied payments they deleted
    archive_before: dt.date | None = None  # `ispsheets archive --before`: the cutoff to use
    archive_all: bool = False  # `ispsheets archive`: a long backlog moves round after round


# What the summary counts, in the order it prints them.
COUNTS = ("invoices issued", "invoices held", "emails sent", "emails failed", "payments applied",
          "receipts sent", "reminders sent", "late fees added", "clients suspended",
          "clients reconnected", "commands run", "commands failed", "bank payments imported",
          "bank lines unmatched", "bank lines imported before", "bank debits ignored",
          "welcome emails sent", "autopay charged", "autopay failed", "pay links made",
          "cells written", "rows appended", "rows archived")


@dataclass(frozen=True)
class Snapshot:
    """The state a run ended with: invoices as the Invoices tab shows them, clients, balances."""

    invoices: tuple[Invoice, ...]
    clients: tuple[Client, ...]
    balances: Mapping[str, Decimal]
    archived_invoices: int = 0  # issued, not void, and in the archive (not in `invoices`)


@dataclass
class RunReport:
    """What a run did (or, with --dry-run, would do), for the summary and the exit code."""

    currency: str = "USD"
    problems: list[Problem] = field(default_factory=list)
    issued: list[Invoice] = field(default_factory=list)  # held ones apart
    held: list[tuple[Invoice, str]] = field(default_factory=list)  # all held now, and why
    counts: Counter[str] = field(default_factory=Counter)
    plan: list[tuple[str, str, str]] = field(default_factory=list)  # (what, client, detail)
    written: WriteResult | None = None
    report_file: str = ""
    snapshot: Snapshot | None = None
    unknown: list[MessageRecord] = field(default_factory=list)  # emails of unknown fate
    deferred: tuple[int, int, str] | None = None  # cells and rows not written yet, and why
    exit_code: ExitCode = ExitCode.OK
    unmatched: list[str] = field(default_factory=list)  # bank lines no rule matched

    def fail(self, code: ExitCode, problem: Problem) -> RunReport:
        self.problems.append(problem)
        self.exit_code = code
        return self

    @property
    def billed_total(self) -> Decimal:
        return sum((i.total for i in self.issued), Decimal("0"))


@dataclass
class Cycle:
    """The mutable state of one run. Steps read it and add to it; only steps do I/O."""

    config: Config
    options: RunOptions
    journal: Journal
    backend: Backend
    raw: RawBook
    book: Book
    report: RunReport
    fills: list[FillKey] = field(default_factory=list)
    issued: list[Invoice] = field(default_factory=list)  # issued by this run
    invoices: list[Invoice] = field(default_factory=list)  # every invoice, allocation applied
    allocation: Allocation | None = None
    ledger: Ledger | None = None  # what the tool cells hold, built at write-back
    postman: Postman | None = None  # the run's email transport, opened on first use
    portal_secret: str | None = None  # portal.secret_env's value, read once (steps/portal.py)
    cards: dict[str, bool] | None = None  # client → card on file (steps/cards.cards_on_file)
    restored_invoices: frozenset[str] = frozenset()  # Invoices rows an older copy lacks
    archived: Archived | None = None  # keys of the rows moved to the archive, by tab
    _index: dict[str, Invoice] = field(default_factory=dict, repr=False)
    _index_of: list[Invoice] | None = field(default=None, repr=False)

    @property
    def today(self) -> dt.date:
        return self.options.today

    @property
    def now(self) -> dt.datetime:
        return self.options.now

    @property
    def dry_run(self) -> bool:
        return self.options.dry_run

    def invoice(self, number: str) -> Invoice | None:
        """An invoice of `invoices` by number (the index follows `invoices` being replaced)."""
        if self._index_of is not self.invoices:
            self._index = {i.invoice_number: i for i in self.invoices}
            self._index_of = self.invoices
        return self._index.get(number)

    def log(self, action: str, client_id: str = "", invoice_number: str = "",
            detail: str = "") -> None:
        """An Activity row (journaled now, written to the workbook at the end)."""
        self.journal.log(ActivityRow(self.now, action, client_id, invoice_number, detail))
        log.info("%s %s %s %s", action, client_id, invoice_number, detail)

    def problem(self, problem: Problem) -> None:
        self.report.problems.append(problem)
        log.warning("%s", problem)

    def plan(self, what: str, client_id: str, detail: str) -> None:
        """A line of the --dry-run plan (also kept on a real run for the summary)."""
        self.report.plan.append((what, client_id, detail))
