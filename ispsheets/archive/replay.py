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

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from ispsheets.archive.book import LIVE_STATES, archived_payments
from ispsheets.archive.checkpoint import Frozen as Checkpoint
from ispsheets.archive.checkpoint import freeze, source_days
from ispsheets.book.parse import DateOrder
from ispsheets.book.records import Invoice, Payment
from ispsheets.journal import FrozenPair, Journal
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
    sources = live_sources(invoices, payments)
    return frozen_from_pairs([*journal.frozen_into(named), *journal.frozen_from(sources)],
                             {i.invoice_number for i in invoices}, sources)


def live_sources(invoices: Sequence[Invoice], payments: Sequence[Payment]) -> set[str]:
    """The sources of money the replay sees: payment ids and `credit-note:NUMBER`."""
    sources = {p.payment_id for p in payments}
    sources.update(CREDIT_NOTE + i.invoice_number for i in invoices if i.total < 0)
    return sources


def frozen_from_pairs(pairs: Iterable[FrozenPair], live: Collection[str],
                      sources: Collection[str]) -> Frozen:
    """From frozen pairs: what sources no longer alive paid of the `live` invoices, and what
    archived invoices took of the live `sources`."""
    prepaid: dict[str, dict[str, tuple[Decimal, dt.date | None]]] = {}
    consumed: dict[str, dict[str, Decimal]] = {}
    for pair in pairs:
        number, source = pair.invoice_number, pair.source
        if number in live and source not in sources:
            prepaid.setdefault(number, {})[source] = (pair.amount, pair.day)
        elif number not in live and source in sources:
            consumed.setdefault(source, {})[number] = pair.amount
    return Frozen({n: tuple((s, a, d) for s, (a, d) in p.items()) for n, p in prepaid.items()},
                  {s: tuple(p.items()) for s, p in consumed.items()})


def reopening(refunds: Sequence[Payment], archived_at: Mapping[str, dt.datetime],
              logged_at: Mapping[str, dt.datetime]) -> set[str]:
    """The archived invoices named by a refund that came after they moved (no run had logged
    it when they did): replayed (and reopened) as the from-scratch allocation would, so the
    archive brings them back. A refund logged before the move was replayed when they were
    frozen, and is in their checkpoint."""
    return {p.invoice_number for p in refunds if p.amount < 0
            and p.invoice_number in archived_at
            and (p.payment_id not in logged_at
                 or logged_at[p.payment_id] > archived_at[p.invoice_number])}


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
    refunds = [p for p in alive if p.amount < 0 and p.invoice_number]
    named = reopening(refunds, journal.archived_at(
        "Invoices", {p.invoice_number for p in refunds}),
        journal.logged_at(p.payment_id for p in refunds)) if refunds else set()
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
                               archived, allocation,
                               source_days([*payments, *archived], invoices)))
    live = {i.invoice_number for i in issued_invoices(journal)}
    reopened = {i.invoice_number for i in allocated
                if i.invoice_number not in live and i.status not in ("paid", "void")}
    return Replayed([i for i in allocated if i.invoice_number in live | reopened],
                    allocation, frozenset(reopened))
