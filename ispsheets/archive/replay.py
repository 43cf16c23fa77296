"""Allocation from the archive's checkpoint: only what is alive is replayed.

The live invoices are the journal's invoices not archived; the live payments are the book's
payments the archive has not keyed. What archived invoices took of a live payment (or credit
note) comes out of it first, and what archived payments paid of a live invoice (one brought
back from the archive) is paid already (`payments.allocate.Frozen`). The result is the
from-scratch allocation (`ledger.allocate_all`, kept as the reference) for everything alive,
while a run's cost follows the rows still in the workbook, not the years behind them.

A journal whose archived invoices have no checkpoint yet (written before it existed, or a
move cut off between keying and freezing) is replayed once from scratch, archived payments
included, and frozen (`backfill`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from ispsheets.archive.book import LIVE_STATES, archived_payments
from ispsheets.archive.checkpoint import Frozen as Checkpoint
from ispsheets.archive.checkpoint import freeze
from ispsheets.book.parse import DateOrder
from ispsheets.book.records import Invoice, Payment
from ispsheets.journal import Journal
from ispsheets.ledger import issued_invoices, with_allocation
from ispsheets.payments.allocate import CREDIT_NOTE, Allocation, Frozen, allocate


def live_payments(journal: Journal, payments: Sequence[Payment]) -> list[Payment]:
    """The book's payments the archive has not keyed (a row keyed to move, or shown again by
    an older copy of the workbook, is counted by the checkpoint instead)."""
    states = journal.archive_states_of("Payments", {p.payment_id for p in payments})
    if not states:
        return list(payments)
    return [p for p in payments if states.get(p.payment_id) not in LIVE_STATES]


def frozen_state(journal: Journal, invoices: Sequence[Invoice],
                 payments: Sequence[Payment], named: Collection[str] = ()) -> Frozen:
    """What the archived invoices took of the live sources, and what archived sources paid
    of the live invoices (`named`: archived invoices replayed as live today)."""
    live = {i.invoice_number for i in invoices}
    sources = {p.payment_id for p in payments}
    sources.update(CREDIT_NOTE + i.invoice_number for i in invoices if i.total < 0)
    prepaid: dict[str, list[tuple[str, object]]] = {}
    for number, source, amount in journal.frozen_into(named):
        if number in live and source not in sources:
            prepaid.setdefault(number, []).append((source, amount))
    consumed: dict[str, list[tuple[str, object]]] = {}
    for number, source, amount in journal.frozen_from(sources):
        if number not in live:
            consumed.setdefault(source, []).append((number, amount))
    return Frozen({n: tuple(p) for n, p in prepaid.items()},  # type: ignore[misc]
                  {s: tuple(p) for s, p in consumed.items()})  # type: ignore[misc]


def _refunded_archived(payments: Sequence[Payment]) -> set[str]:
    """Invoices a refund names: an archived one is replayed (and reopened) like the
    from-scratch allocation would, so the archive brings it back."""
    return {p.invoice_number for p in payments if p.amount < 0 and p.invoice_number}


@dataclass(frozen=True)
class Replayed:
    """The live invoices with their allocation, and which of them are archived (replayed
    today because a refund names them; the archive step brings them back if reopened)."""

    invoices: list[Invoice]
    allocation: Allocation
    archived: frozenset[str] = frozenset()


def allocate_live(journal: Journal, payments: Sequence[Payment], order: DateOrder
                  ) -> Replayed:
    """The live invoices with the allocation of the live payments applied (see the module)."""
    if journal.unfrozen_archived():
        return backfill(journal, payments, order)
    invoices = issued_invoices(journal)
    alive = live_payments(journal, payments)
    named = _refunded_archived(alive) - {i.invoice_number for i in invoices}
    if named:
        extra = [r.invoice for r in journal.archived_invoices(named)]
        invoices = [*invoices, *extra]
        named = {i.invoice_number for i in extra}
    allocation = allocate(invoices, alive, frozen_state(journal, invoices, alive, named))
    return Replayed(with_allocation(invoices, allocation), allocation, frozenset(named))


def backfill(journal: Journal, payments: Sequence[Payment], order: DateOrder) -> Replayed:
    """Every invoice and payment, archived ones included, replayed from scratch once; the
    archived invoices without a checkpoint get theirs (a journal from before it, or rebuilt
    by `recover-journal`). Archived invoices reopened by a refund are replayed as live."""
    invoices = issued_invoices(journal, include_archived=True)
    shown = {p.payment_id for p in payments}
    archived = [p for p in archived_payments(journal, order) if p.payment_id not in shown]
    allocation = allocate(invoices, [*payments, *archived])
    allocated = with_allocation(invoices, allocation)
    unfrozen = set(journal.unfrozen_archived())
    freeze(journal, Checkpoint([i for i in allocated if i.invoice_number in unfrozen],
                               archived, allocation))
    live = {i.invoice_number for i in issued_invoices(journal)}
    reopened = {i.invoice_number for i in allocated
                if i.invoice_number not in live and i.status not in ("paid", "void")}
    return Replayed([i for i in allocated if i.invoice_number in live | reopened],
                    allocation, frozenset(reopened))
