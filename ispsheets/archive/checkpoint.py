"""The archive's checkpoint: what later runs still need of the invoices and payments that
move out, written to the journal when they are keyed to move (before any row moves), so a run
reads and replays only what is still alive and its cost follows the day's work, not the years
behind it.

Each part has its own journal table (schema 4): where the money of each archived invoice came
from (`frozen_applied`: the allocation continues from it), the report's figures
(`archived_figures`) and what billing must still know of the periods they billed
(`archived_billed`). An invoice is marked `frozen` once every part is written; an archived
invoice that is not (a journal from before schema 4, or a kill in between) is frozen again by
the next run from the full history (`ispsheets.archive.replay`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from ispsheets.billing.archived import record_billed
from ispsheets.book.records import Invoice, Payment
from ispsheets.journal import Journal
from ispsheets.payments.allocate import CREDIT_NOTE, Allocation
from ispsheets.reporting.archived import record_figures

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Frozen:
    """The invoices (the journal's, with their lines and allocated status) and payments
    keyed to move, and the from-scratch allocation that settled them."""

    invoices: Sequence[Invoice]
    payments: Sequence[Payment]
    allocation: Allocation
    days: Mapping[str, dt.date] = field(default_factory=dict)  # source → its money's day


def freeze(journal: Journal, frozen: Frozen) -> None:
    """Write every part of the checkpoint for `frozen`; the invoices are marked frozen last."""
    if not frozen.invoices and not frozen.payments:
        return
    # (each part adds one call here, in the order written; all are idempotent)
    freeze_allocation(journal, frozen)
    record_figures(journal, frozen)
    record_billed(journal, [i.invoice_number for i in frozen.invoices])
    journal.mark_frozen([i.invoice_number for i in frozen.invoices])


def sources_of(numbers: Collection[str], allocation: Allocation
               ) -> dict[str, dict[str, Decimal]]:
    """Invoice → source (payment id or `credit-note:NUMBER`) → what it paid of it, for the
    invoices `numbers`, as `allocation` has it."""
    pairs: dict[str, dict[str, Decimal]] = {n: {} for n in numbers}
    for book in (((pid, state.applied) for pid, state in allocation.payments.items()),
                 ((note, tuple(paid.items())) for note, paid in
                  allocation.notes_applied.items())):
        for source, applied in book:
            for number, amount in applied:
                into = pairs.get(number)
                if into is not None:
                    into[source] = into.get(source, ZERO) + amount
    return pairs


def freeze_allocation(journal: Journal, frozen: Frozen) -> None:
    """Where each invoice's money came from: the allocation's pairs from the sources it
    replayed; pairs from sources archived before (not replayed) stay as they were."""
    allocation = frozen.allocation
    replayed = {*allocation.payments, *allocation.notes_applied}
    journal.write_frozen(sources_of([i.invoice_number for i in frozen.invoices], allocation),
                         replayed, frozen.days)


def source_days(payments: Iterable[Payment], invoices: Iterable[Invoice]
                ) -> dict[str, dt.date]:
    """The day each source's money came: a payment's date, a credit note's issue date."""
    days = {CREDIT_NOTE + i.invoice_number: i.issue_date for i in invoices if i.total < 0}
    for payment in payments:
        days.setdefault(payment.payment_id, payment.date)
    return days
