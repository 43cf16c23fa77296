"""Payments: every payment allocated again from scratch; new ones logged once."""

from __future__ import annotations

from ispsheets.archive.book import Archived
from ispsheets.archive.replay import allocate_live
from ispsheets.book.known import payment_fingerprint
from ispsheets.book.records import Payment
from ispsheets.journal import ActionRecord
from ispsheets.money import format_money
from ispsheets.steps.cycle import Cycle


def _fingerprint(payment: Payment) -> str:
    return payment_fingerprint(payment)


def allocate_payments(cycle: Cycle) -> None:
    """Allocate every payment against every invoice (the journal's live invoices, the book's
    payments, from the archive's checkpoint); the result is what the write-back and the
    collections steps use."""
    replayed = allocate_live(cycle.journal, cycle.book.payments,
                             cycle.config.workbook.date_order)
    cycle.invoices, cycle.allocation = replayed.invoices, replayed.allocation
    if replayed.archived:  # not written back: the archive step brings them back
        cycle.archived = (cycle.archived or Archived()).with_invoices(replayed.archived)


def reconcile(cycle: Cycle) -> None:
    """Log `payment_applied` once for each payment seen for the first time (again if the owner
    later corrects its date, client or amount), with where the allocation put it."""
    logged: dict[str, ActionRecord | None] = {
        action.key: action for action in cycle.journal.actions("payment", live=True)}
    with cycle.journal.transaction():  # one disk sync for a statement's worth of payments
        _log_new_payments(cycle, logged)


def _log_new_payments(cycle: Cycle, logged: dict[str, ActionRecord | None]) -> None:
    currency = cycle.config.currency
    assert cycle.allocation is not None
    for payment in sorted(cycle.book.payments, key=lambda p: (p.date, p.payment_id)):
        if payment.payment_id not in cycle.allocation.payments:
            continue  # the archive took it (a row moving, or shown again by an old copy)
        key = f"payment/{payment.payment_id}"
        fingerprint = _fingerprint(payment)
        seen = logged.get(key)
        if seen is not None and seen.detail == fingerprint:
            continue
        state = cycle.allocation.payments.get(payment.payment_id)
        applied = state.applied_to_text if state else ""
        credit = state.unapplied if state else payment.amount
        detail = (f"{payment.payment_id} {format_money(payment.amount, currency)}"
                  f"{' ' + payment.method if payment.method else ''}: "
                  f"{applied or 'no open invoice'}"
                  f"{'; credit ' + format_money(credit, currency) if credit else ''}"
                  f"{' (corrected)' if seen is not None else ''}")
        cycle.plan("payment", payment.client_id, detail)
        cycle.report.counts["payments applied"] += 1
        first_invoice = state.applied[0][0] if state and state.applied else ""
        with cycle.journal.transaction():
            if seen is not None:
                cycle.journal.finish_action(key, "done", fingerprint, cycle.now)
            else:
                cycle.journal.record_action(key, "payment", payment.client_id, first_invoice,
                                            cycle.now, fingerprint)
            cycle.log("payment_applied", payment.client_id, first_invoice, detail)
        logged[key] = cycle.journal.action(key)  # a second row with this id sees it
