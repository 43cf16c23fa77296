"""Statement lines recorded: each becomes a Payments row (or a BankUnmatched row), once.

Every line is recorded in the journal in one transaction with the row it adds, keyed first
(`bank/<content key>`, see `keys.py`): a run killed half-way through a file imports the rest on
the next run and nothing twice. The rows are tool rows of the journal (the same queue as fee
Charges rows), written to the workbook by the run's one write-back; until then they count as
Payments rows already, so the run that imports a transfer also allocates it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from ispsheets.bank.keys import Seen, content_keys, seen_from
from ispsheets.bank.match import (
    Match,
    Memory,
    OpenInvoice,
    match_lines,
    numbers_written,
    prepare_rules,
)
from ispsheets.bank.read import NAMES
from ispsheets.bank.statement import Statement, StatementLine
from ispsheets.book.records import Payment
from ispsheets.book.schema import BANK_UNMATCHED
from ispsheets.faults import checkpoint
from ispsheets.ids import PAYMENT_ID
from ispsheets.journal import Journal
from ispsheets.money import format_money
from ispsheets.problems import Problem
from ispsheets.steps.cycle import Cycle

log = logging.getLogger("ispsheets.bank")

BANK_LINE = "bank_line"  # journal action kind: one per statement line imported
METHOD = "bank transfer"
LINE_ID = "BNK-{:05d}"
PAYMENT_KEY = "bank/"  # journal key prefix of bank lines and of their Payments tool rows
UNMATCHED_KEY = "bank_unmatched/"
BATCH = 500  # statement lines recorded in one journal transaction


@dataclass
class FileResult:
    """What one statement file gave: counts for the summary and the Activity row."""

    source: str
    format: str = ""
    payments: int = 0
    unmatched: int = 0
    duplicates: int = 0
    debits: int = 0
    skipped: int = 0
    problems: list[Problem] = field(default_factory=list)

    def text(self) -> str:
        parts = [f"{self.payments} payment{'s' if self.payments != 1 else ''}",
                 f"{self.unmatched} unmatched"]
        if self.duplicates:
            parts.append(f"{self.duplicates} imported before")
        if self.debits:
            parts.append(f"{self.debits} debit{'s' if self.debits != 1 else ''} ignored")
        if self.skipped:
            parts.append(f"{self.skipped} pending skipped")
        return f"{self.source} ({NAMES.get(self.format, self.format)}): {', '.join(parts)}"


class BankJournal:
    """The bank lines the journal holds: what was imported, who paid from where."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.details: dict[str, dict[str, Any]] = {}
        triples = []
        for action in journal.actions(BANK_LINE):
            data = json.loads(action.detail)
            self.details[action.key] = data
            triples.append((action.key.removeprefix(PAYMENT_KEY), data.get("id", ""),
                            data.get("format", "")))
        self.seen: Seen = seen_from(triples)
        self.memory = Memory()
        for data in self.details.values():
            if data.get("client"):
                self.memory.learn_payer(data.get("account", ""), data.get("name", ""),
                                        data["client"])

    def record(self, key: str, client_id: str, invoice_number: str, data: dict[str, Any],
               now: dt.datetime) -> None:
        """The line, keyed and done (inside the caller's transaction)."""
        self.journal.record_action(key, BANK_LINE, client_id, invoice_number, now,
                                   json.dumps(data, sort_keys=True))
        self.details[key] = data

    def update(self, key: str, data: dict[str, Any], now: dt.datetime) -> None:
        self.journal.finish_action(key, "done", json.dumps(data, sort_keys=True), now)
        self.details[key] = data


def line_of(data: dict[str, Any]) -> StatementLine:
    return StatementLine(dt.date.fromisoformat(data["date"]), Decimal(data["amount"]),
                         data.get("currency", ""), data.get("reference", ""),
                         data.get("name", ""), data.get("account", ""), data.get("id") or None,
                         data.get("file", ""), int(data.get("position", 0)),
                         data.get("format", ""))


def _line_data(line: StatementLine) -> dict[str, Any]:
    return {"date": line.booking_date.isoformat(), "amount": str(line.amount),
            "currency": line.currency, "reference": line.reference, "name": line.name,
            "account": line.account, "id": line.bank_id or "", "file": line.source,
            "position": line.position, "format": line.format}


# -- payments the journal holds that the workbook does not show yet ----------------------------


def pending_payments(journal: Journal) -> list[Payment]:
    """Payments rows of bank lines queued but not written to the workbook yet."""
    return [_payment(row.values) for row in journal.unwritten_tool_rows()
            if row.tab == "Payments" and row.key.startswith(PAYMENT_KEY)]


def _payment(values: dict[str, Any]) -> Payment:
    return Payment(values["payment_id"], dt.date.fromisoformat(values["date"]),
                   values["client_id"], Decimal(values["amount"]), values.get("method", ""),
                   values.get("reference", ""), values.get("invoice_number") or "")


def with_pending(cycle: Cycle) -> bool:
    """Put the queued bank payments into the book (as the next read will show them) and
    allocate again; False if there are none the book lacks."""
    pending = {p.payment_id: p for p in pending_payments(cycle.journal)}
    shown = {p.payment_id for p in cycle.book.payments}
    missing = tuple(p for pid, p in pending.items() if pid not in shown)
    if not missing:
        return False
    from ispsheets.steps.reconcile import allocate_payments

    cycle.book = replace(cycle.book, payments=cycle.book.payments + missing)
    allocate_payments(cycle)
    assert cycle.allocation is not None
    # the new rows are appended with their allocation (runner.write_back): nothing to set
    states = cycle.allocation.payments
    cycle.book = replace(cycle.book, payments=tuple(
        replace(p, applied_to=states[p.payment_id].applied_to_text,
                unapplied=states[p.payment_id].unapplied)
        if p.payment_id in pending and p.payment_id in states else p
        for p in cycle.book.payments))
    return True


# -- matching and recording --------------------------------------------------------------------


def _archived_named(cycle: Cycle, lines: list[StatementLine]) -> list[tuple[str, str]]:
    """(number, client) of the archived invoices (not void) the lines' references name: an
    old invoice number still names its client after the archive moved it (a standing order
    that quotes the first invoice, a late or repeated payment). Looked up by number, only for
    the numbers written in the references."""
    number_format = cycle.config.invoicing.number_format
    live = {i.invoice_number for i in cycle.invoices}
    named = {n for line in lines
             for n in numbers_written(line.reference or "", number_format)} - live
    if not named:
        return []
    return sorted((r.invoice.invoice_number, r.invoice.client_id)
                  for r in cycle.journal.archived_invoices(named) if not r.voided)


def _rules_and_open(cycle: Cycle, lines: list[StatementLine]
                    ) -> tuple[Any, list[OpenInvoice]]:
    invoices = [i for i in cycle.invoices if i.status != "void"]
    rules = prepare_rules(cycle.config.invoicing.number_format,
                          [*((i.invoice_number, i.client_id) for i in invoices),
                           *_archived_named(cycle, lines)],
                          ((c.client_id, c.bank_reference) for c in cycle.book.clients),
                          cycle.config.currency, cycle.config.bank.match_by_amount)
    open_ = sorted((i for i in invoices if i.status in ("open", "partial")
                    and i.balance is not None and i.balance > 0),
                   key=lambda i: (i.due_date, i.invoice_number))
    return rules, [OpenInvoice(i.invoice_number, i.client_id, i.balance or Decimal(0))
                   for i in open_]


def taken_payment_ids(cycle: Cycle) -> set[str]:
    return {p.payment_id for p in cycle.book.payments if p.payment_id}


def add_payment(cycle: Cycle, bank: BankJournal, key: str, line: StatementLine,
                 client_id: str, invoice_number: str, taken: set[str]) -> str:
    """Queue the Payments row of a line (inside the caller's transaction); its payment_id."""
    payment_id = cycle.journal.assign_id("Payments", key, PAYMENT_ID.format, taken)
    taken.add(payment_id)
    cycle.journal.add_tool_row(key, "Payments", {
        "payment_id": payment_id, "date": line.booking_date, "client_id": client_id,
        "amount": line.amount, "method": METHOD, "reference": line.reference or line.bank_id
        or "", "invoice_number": invoice_number}, cycle.now)
    return payment_id


def import_statement(cycle: Cycle, bank: BankJournal, statement: Statement) -> FileResult:
    """Record every new credit line of a statement as a payment or an unmatched line."""
    result = FileResult(statement.source, statement.format,
                        skipped=sum(statement.skipped.values()),
                        problems=list(statement.problems))
    keys = content_keys(statement.lines)
    new: list[tuple[str, StatementLine]] = []
    for key, line in zip(keys, statement.lines, strict=True):
        if not line.is_credit:
            result.debits += 1
        elif bank.seen.imported(key, line):
            result.duplicates += 1
        else:
            stored = bank.seen.storage_key(key, line)
            bank.seen.add(stored.split("/", 1)[0], line)
            new.append((stored, line))
    if not new:
        return result
    rules, open_invoices = _rules_and_open(cycle, [line for _, line in new])
    by_line = {id(line): key for key, line in new}
    matches = match_lines([line for _, line in new], rules, bank.memory, open_invoices)
    taken = taken_payment_ids(cycle)
    for start in range(0, len(matches), BATCH):
        # one journal transaction (one disk sync) a batch: a kill rolls the batch back whole
        # and the next run imports it again
        with cycle.journal.transaction():
            for match in matches[start:start + BATCH]:
                _record(cycle, bank, PAYMENT_KEY + by_line[id(match.line)], match, taken,
                        result)
                checkpoint("bank-line-recorded")
    return result


def _record(cycle: Cycle, bank: BankJournal, key: str, match: Match, taken: set[str],
            result: FileResult) -> None:
    line, currency = match.line, cycle.config.currency
    amount = format_money(line.amount, currency)
    data = {**_line_data(line), "client": match.client_id, "rule": match.rule,
            "why": match.why}
    if match.client_id:
        cycle.plan("bank payment", match.client_id,
                   f"{amount} of {line.booking_date} by {match.rule}: {match.why}")
        result.payments += 1
    else:
        cycle.plan("bank unmatched", "", f"{amount} of {line.booking_date} "
                   f"from {line.name or line.account or '?'}: {match.why}")
        result.unmatched += 1
        cycle.report.unmatched.append(
            f"{line.booking_date} {amount} {line.name or line.account or '?'} "
            f"{line.reference!r} ({line.where}): {match.why}")
    with cycle.journal.transaction():
        if match.client_id:
            data["payment_id"] = add_payment(cycle, bank, key, line, match.client_id,
                                              match.invoice_number, taken)
        else:
            line_id = cycle.journal.assign_id("BankUnmatched", key, LINE_ID.format)
            data["line_id"] = line_id
            cycle.journal.add_tool_row(UNMATCHED_KEY + key.removeprefix(PAYMENT_KEY),
                                       BANK_UNMATCHED.name, {
                "line_id": line_id, "date": line.booking_date, "amount": line.amount,
                "currency": line.currency, "name": line.name, "account": line.account,
                "reference": line.reference, "why": match.why, "file": line.where},
                cycle.now)
        bank.record(key, match.client_id, match.invoice_number, data, cycle.now)
