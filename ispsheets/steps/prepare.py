"""Before any step: make the journal and the book agree on what happened before this run."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from ispsheets.book.columns import column_values
from ispsheets.book.known import (
    KnownRows,
    deleted_payment_problem,
    payment_fingerprint,
    vanished_payments,
)
from ispsheets.book.parse import parse_key
from ispsheets.book.reader import RawBook
from ispsheets.book.records import Book
from ispsheets.book.schema import ACTIVITY
from ispsheets.ids import assign_missing_ids
from ispsheets.journal import Journal
from ispsheets.ledger import RELEASED, held_reasons
from ispsheets.problems import ExitCode
from ispsheets.steps.cycle import Cycle

DELETED = "payment_deleted"  # a payment the owner deleted and confirmed deleting


def known_rows(journal: Journal, raw: RawBook | None = None) -> KnownRows:
    """The Payments rows the journal logged (but those the archive took) and the Charges rows
    it billed or added, by id, with what it saw in them; with `raw`, also the archived
    invoices its Payments rows name (they are not on the Invoices tab any more)."""
    deleted = {key.removeprefix(f"{DELETED}/"): detail
               for key, detail in journal.action_details(DELETED, "done").items()}
    payments = {}
    for key, detail in journal.action_details("payment", live=True).items():
        payment_id = key.removeprefix("payment/")
        if deleted.get(payment_id) != detail:
            payments[payment_id] = detail
    charges = {billed.key: str(billed.data.get("date", "")) for billed, _ in
               journal.billed("charge")}
    rewritten = frozenset(str(row.values.get("payment_id"))
                          for row in journal.tool_rows("Payments")
                          if row.key.startswith("stripe/"))
    for row in journal.tool_rows("Charges"):
        charge_id = row.values.get("charge_id")
        if charge_id:
            charges.setdefault(str(charge_id), str(row.values.get("date", ""))[:10])
    named = {str(v).strip() for v in column_values(raw, "Payments", "invoice_number")
             if v not in (None, "")} if raw is not None else set()
    return KnownRows(payments, charges, rewritten,
                     journal.archived_invoice_clients(named) if named else {})


def _activity_shown(raw: RawBook) -> set[tuple[str, str, str]]:
    columns = [column_values(raw, ACTIVITY.name, c) for c in ("action", "invoice_number",
                                                               "detail")]
    return {tuple("" if v is None else str(v) for v in row) for row in zip(*columns, strict=True)}


def settle_unfinished_writes(journal: Journal, raw: RawBook) -> None:
    """A run killed around the workbook save: did what it carried reach the workbook?

    Every write carries Activity rows; if all of them are in the Activity tab the file was
    replaced and the write is done, otherwise it never happened and its rows are queued again.
    """
    unfinished = journal.unfinished_writes()
    if not unfinished:
        return
    shown = _activity_shown(raw)
    for gen, rows in unfinished.items():
        if rows and all((r.action, r.invoice_number, r.detail) in shown for r in rows):
            journal.finish_write(gen)
        else:
            journal.abandon_write(gen)


def sync_voids(cycle: Cycle) -> None:
    """An owner's `void` in the Invoices tab is recorded for good in the journal."""
    for row in cycle.book.invoices:
        if row.status == "void" and cycle.journal.void(row.invoice_number, cycle.now):
            cycle.log("invoice_voided", row.client_id, row.invoice_number, "voided by the owner")


def sync_releases(cycle: Cycle) -> None:
    """An owner's `open` on a held invoice releases it for good: it is sent on this run and
    counts like any other, due `due_days` from today (its old due date may have passed while
    it was held). Read like `void`: from the status cell of the Invoices tab."""
    held = held_reasons(cycle.journal)
    if not held:
        return
    voided = set(cycle.journal.voided_numbers())
    due_days = dt.timedelta(days=cycle.config.invoicing.due_days)
    for row in cycle.book.invoices:
        number = row.invoice_number
        if row.status != "open" or number not in held or number in voided:
            continue
        due = max(cycle.today + due_days, row.due_date or cycle.today)
        with cycle.journal.transaction():
            if not cycle.journal.record_action(f"{RELEASED}/{number}", RELEASED, row.client_id,
                                               number, cycle.now, due.isoformat()):
                continue
            cycle.log("invoice_released", row.client_id, number,
                      f"released by the owner (was held: {held[number]}); due "
                      f"{due.isoformat()}")
        cycle.plan("release", row.client_id, f"{number}, held before; due {due.isoformat()}")


def overlay_pending_statuses(book: Book, journal: Journal) -> Book:
    """Client statuses the tool set but has not written yet count as written."""
    pending = {w.row_key: w.value for w in journal.unwritten_cell_writes()
               if w.tab == "Clients" and w.column == "status"}
    if not pending:
        return book
    clients = tuple(replace(c, status=pending[c.client_id]) if c.client_id in pending else c
                    for c in book.clients)
    return replace(book, clients=clients)


def payment_ids_shown(cycle: Cycle) -> set[str]:
    """Every payment_id on the Payments tab: rows read, skipped, or about to get their id."""
    shown = {p.payment_id for p in cycle.book.payments}
    shown |= {p.payment_id for p in cycle.book.skipped.get("Payments", ())
              if isinstance(p.payment_id, str)}
    for value in column_values(cycle.raw, "Payments", "payment_id"):
        key = parse_key(value)
        if isinstance(key, str) and key:
            shown.add(key)
    return shown


def check_deleted_payments(cycle: Cycle, known: KnownRows) -> bool:
    """Payments an earlier run applied that are gone from the tab: False (stop, exit 2) unless
    the owner confirmed the deletion with --accept-deleted-payments (then it is recorded for
    good, and what they paid is open again). `known` is `known_rows(cycle.journal)`."""
    read = {p.payment_id for p in cycle.book.payments}
    if read.issuperset(known.payments):  # the usual day: every applied payment is there
        return True
    newcomers = [payment_fingerprint(p) for p in cycle.book.payments
                 if p.payment_id not in known.payments]
    gone = vanished_payments(known, payment_ids_shown(cycle), newcomers)
    if not gone:
        return True
    if not cycle.options.accept_deleted_payments:
        cycle.report.problems.extend(deleted_payment_problem(*pair) for pair in gone)
        cycle.report.exit_code = ExitCode.BAD_CONFIG
        return False
    for payment_id, fingerprint in gone:
        client_id = [*fingerprint.split("|"), ""][1]
        detail = (f"{payment_id} ({fingerprint.replace('|', ', ')}) deleted from the Payments "
                  "tab, confirmed by the owner")
        cycle.plan("payment deleted", client_id, detail)
        if cycle.dry_run:
            continue
        with cycle.journal.transaction():
            cycle.journal.record_action(f"{DELETED}/{payment_id}", DELETED, client_id, "",
                                        cycle.now, fingerprint)
            cycle.log("payment_deleted", client_id, "", detail)
    return True


def prepare(cycle: Cycle, known: KnownRows | None = None) -> bool:
    """False when the run must stop before doing anything (the reason is in the report).
    `known`: `known_rows(cycle.journal)` if the caller has it already."""
    settle_unfinished_writes(cycle.journal, cycle.raw)
    sync_voids(cycle)
    sync_releases(cycle)
    cycle.book, fills = assign_missing_ids(cycle.book, cycle.journal)
    cycle.fills.extend(fills)
    cycle.book = overlay_pending_statuses(cycle.book, cycle.journal)
    return check_deleted_payments(cycle, known or known_rows(cycle.journal))
