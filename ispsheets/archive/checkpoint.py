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

from collections.abc import Sequence
from dataclasses import dataclass

from ispsheets.billing.archived import record_billed
from ispsheets.book.records import Invoice, Payment
from ispsheets.journal import Journal
from ispsheets.payments.allocate import Allocation


@dataclass(frozen=True)
class Frozen:
    """The invoices (the journal's, with their lines and allocated status) and payments
    keyed to move, and the from-scratch allocation that settled them."""

    invoices: Sequence[Invoice]
    payments: Sequence[Payment]
    allocation: Allocation


def freeze(journal: Journal, frozen: Frozen) -> None:
    """Write every part of the checkpoint for `frozen`; the invoices are marked frozen last."""
    if not frozen.invoices and not frozen.payments:
        return
    # (each part adds one call here, in the order written; all are idempotent)
    record_billed(journal, [i.invoice_number for i in frozen.invoices])
    journal.mark_frozen([i.invoice_number for i in frozen.invoices])
