"""A workbook put back from an older copy: write again what the tool had written since.

Every write stamps its generation into the workbook (`book/xlsx_generation.py`) and the journal
records which write carried each Activity row, each row the tool added to an owner tab (late
and reconnection fees) and each status it set. A workbook that shows an older generation than
the journal's last write lost those: they are queued again and written at once, before
anything is billed, so the run bills, fees and suspends exactly as if the copy were current.
Invoices, InvoiceLines, balances, applied_to and ids need nothing here: every run rewrites
them from the journal anyway.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ispsheets.book.backend import Backend
from ispsheets.book.cell_types import typed_row
from ispsheets.book.changes import AppendRow, ChangeSet, SetCell, WorkbookWriteError
from ispsheets.book.columns import column_values
from ispsheets.book.reader import RawBook
from ispsheets.book.schema import CHARGES, INVOICES, PAYMENTS
from ispsheets.journal import Journal, WrittenSince
from ispsheets.problems import Problem, warning
from ispsheets.steps.prepare import _activity_shown
from ispsheets.writeback import activity_row

_ID_COLUMNS = {CHARGES.name: "charge_id", PAYMENTS.name: "payment_id"}


@dataclass(frozen=True)
class PutBack:
    """What a run found and did about an older workbook."""

    raw: RawBook  # the workbook as it is now (read again after the put-back write)
    missing_invoices: frozenset[str] = frozenset()  # journal invoices the copy lacks
    problem: Problem | None = None


def _present_ids(raw: RawBook, tab: str) -> set[str]:
    return {str(v).strip() for v in column_values(raw, tab, _ID_COLUMNS[tab])
            if v not in (None, "")}


def missing_since(journal: Journal, raw: RawBook, since: WrittenSince
                  ) -> tuple[list[int], list[int], list[int]]:
    """Ids of the activity rows, tool rows and cell writes the workbook lacks.

    A status is put back only while the journal still agrees with it (the tool's suspension
    still stands, or ended), so a suspension the owner released by hand stays released."""
    shown = _activity_shown(raw)
    activity = [i for i, r in since.activity
                if (r.action, r.invoice_number, r.detail) not in shown]
    present = {tab: _present_ids(raw, tab) for tab in _ID_COLUMNS}
    rows = [i for i, r in since.tool_rows
            if r.tab not in present
            or str(r.values.get(_ID_COLUMNS[r.tab], "")) not in present[r.tab]]
    suspended = journal.suspensions()
    latest: dict[tuple[str, str, str], tuple[int, str]] = {}
    for i, w in since.cell_writes:
        latest[(w.tab, w.row_key, w.column)] = (i, w.value)
    cells = [i for (tab, key, column), (i, value) in latest.items()
             if not (tab == "Clients" and column == "status")
             or (value == "suspended") == (key in suspended)]
    return activity, rows, cells


def _changes(journal: Journal) -> tuple[ChangeSet, list[int]]:
    pending = journal.unwritten_activity()
    appends = [AppendRow(r.tab, typed_row(r.tab, r.values))
               for r in journal.unwritten_tool_rows()]
    appends += [AppendRow("Activity", activity_row(r)) for _, r in pending]
    sets = tuple(SetCell(w.tab, w.row_key, w.column,
                         typed_row(w.tab, {w.column: w.value})[w.column])
                 for w in journal.unwritten_cell_writes())
    return ChangeSet((), sets, tuple(appends)), [i for i, _ in pending]


def settle_by_generation(journal: Journal, shown_gen: int) -> None:
    """A write a killed run left `started` reached the file if the file carries its
    generation (or a later one), and did not otherwise: no need to look for its rows."""
    for gen in journal.unfinished_writes():
        if gen <= shown_gen:
            journal.finish_write(gen)
        else:
            journal.abandon_write(gen)


def put_back(journal: Journal, backend: Backend, raw: RawBook, now: dt.datetime, *,
             write: bool) -> PutBack:
    """Notice an older workbook and put back what the tool wrote since (written now when
    `write`; otherwise only queued, as for a dry run or the report)."""
    shown_gen = backend.generation
    if shown_gen is not None:
        settle_by_generation(journal, shown_gen)
    last = journal.last_write()
    if shown_gen is None or shown_gen >= last:
        return PutBack(raw)
    since = journal.written_since(shown_gen)
    journal.requeue(*missing_since(journal, raw, since))
    shown_numbers = {str(v).strip() for v in column_values(raw, INVOICES.name, "invoice_number")
                     if v not in (None, "")}
    missing = frozenset(journal.invoice_numbers(live=True) - shown_numbers)
    changes, activity_ids = _changes(journal)  # also what an earlier run (the report) queued
    if not (changes or missing):
        return PutBack(raw)
    rows = [a for a in changes.appends if a.tab != "Activity"]
    what = ", ".join(part for part in (
        f"{len(rows)} {'/'.join(sorted({a.tab for a in rows}))} row(s)" if rows else "",
        f"{len(changes.sets)} status cell(s)" if changes.sets else "",
        f"{len(activity_ids)} Activity row(s)" if activity_ids else "",
        f"{len(missing)} Invoices row(s)" if missing else "") if part)
    head = (f"is older than the tool's last write (it holds write #{shown_gen}, the journal "
            f"#{last}: a backup put back?)")
    fix = "nothing to do; edits you made after that copy was saved are not in it"
    if not write:
        return PutBack(raw, missing, warning(backend.name, f"{head}: the run puts back {what} "
                                             "the tool had written since", fix))
    gen = journal.begin_write(activity_ids, now)
    try:
        backend.write(changes, now, generation=gen)
    except WorkbookWriteError:
        journal.abandon_write(gen)  # still queued: the run's own write tries again
        return PutBack(raw, missing, warning(backend.name, f"{head}: {what} the tool had "
                                             "written since will be put back when the "
                                             "workbook can be written", fix))
    except BaseException:
        journal.abandon_write(gen)
        raise
    journal.finish_write(gen)
    return PutBack(backend.read(), missing, warning(
        backend.name, f"{head}: put back {what} the tool had written since", fix))
