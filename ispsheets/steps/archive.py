"""The run's archiving step, after the write-back: closed history moves to the yearly
archive workbooks (`ispsheets.archive`), and tabs close to Excel's row limit are named."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

from ispsheets.archive import rounds
from ispsheets.archive.checkpoint import Frozen, freeze, source_days
from ispsheets.archive.limits import cell_limit_warnings, row_limit_warnings
from ispsheets.archive.move import key_first, move, shown_moving
from ispsheets.archive.plan import SETTLED, ArchivePlan, cutoff, plan_archive
from ispsheets.archive.restore import restore_invoice
from ispsheets.archive.rounds import round_cutoff
from ispsheets.archive.rows import ARCHIVED_TABS, TabRows
from ispsheets.book.backend import sheet_cells
from ispsheets.book.changes import WorkbookWriteError
from ispsheets.book.columns import column_values
from ispsheets.book.reader import RawBook
from ispsheets.book.schema import ACTIVITY, find_tab
from ispsheets.faults import checkpoint
from ispsheets.memory import give_back
from ispsheets.problems import warning
from ispsheets.steps.cycle import Cycle
from ispsheets.writeback import invoice_row


def _before(cycle: Cycle) -> dt.date | None:
    return cycle.options.archive_before or cutoff(cycle.today,
                                                  cycle.config.workbook.archive_after_months)


def may_move(cycle: Cycle, before: dt.date) -> bool:
    """Cheaply (no row of the workbook read in full): is there anything to move or finish?
    An unfinished move, a settled invoice due before the cutoff that never moved, an Activity
    row older than it, or archived rows an older copy of the workbook shows again."""
    journal = cycle.journal
    if journal.archive_unfinished():
        return True
    assert cycle.ledger is not None
    settled = [i.invoice_number for i in cycle.ledger.invoices
               if i.status in SETTLED and i.due_date < before]
    if settled and len(journal.archive_states_of("Invoices", settled)) < len(set(settled)):
        return True  # (a restored invoice is keyed, and never moves again)
    if _activity_may_move(cycle, before):
        return True
    # rows moved before that an older copy of the workbook shows again (the archive keyed
    # them, and no move is unfinished: they were removed)
    return bool(cycle.archived and (cycle.archived.of("Invoices")
                                    or cycle.archived.of("Payments")))


def _activity_key(before: dt.date) -> str:
    return f"archive/activity/{before.isoformat()}"


def _activity_may_move(cycle: Cycle, before: dt.date) -> bool:
    """Activity rows older than the cutoff may be in the workbook. Read from the tab only if
    this run read it anyway (a long Activity tab is not loaded to answer this, on .xlsx or a
    Google Sheet): else from the journal, which knows the oldest row and whether this cutoff's
    move is done."""
    name = find_tab(cycle.raw.names, ACTIVITY)
    if name is not None and cycle.raw.sheets[name].loaded:
        return any(isinstance(value, dt.date) and (
            value.date() if isinstance(value, dt.datetime) else value) < before
            for value in column_values(cycle.raw, "Activity", "timestamp"))
    if cycle.journal.action(_activity_key(before)) is not None:
        return False
    oldest = cycle.journal.oldest_activity()
    return oldest is not None and oldest.date() < before


def _plan(cycle: Cycle, raw: RawBook, before: dt.date | None = None, *, whole: bool = True
          ) -> ArchivePlan | None:
    """The plan over the workbook `raw` (for a round's cutoff `before`, else the run's): its
    rows read by their key cells alone, and the journal asked only about the rows that could
    move (its cost follows the workbook's rows and the rows moved, not the archive's years)."""
    before = before or _before(cycle)
    if before is None or cycle.ledger is None or cycle.allocation is None:
        return None
    tabs = {tab: TabRows(raw, tab) for tab in ARCHIVED_TABS}
    return plan_archive({tab: rows.key_cells() for tab, rows in tabs.items()},
                        cycle.ledger.invoices, cycle.allocation.payments,
                        cycle.ledger.charge_invoices, before,
                        order=cycle.config.workbook.date_order,
                        notes=cycle.allocation.notes_applied,
                        states=cycle.journal.archive_states_of,
                        whole=(lambda row: tabs[row.tab].at(row.row)) if whole else None)


def freeze_moving(cycle: Cycle, plan: ArchivePlan) -> None:
    """The checkpoint of what is moving, written once it is keyed (before any row moves)."""
    assert cycle.ledger is not None and cycle.allocation is not None
    numbers = {m.key for m in plan.moves if m.tab == "Invoices"}
    ids = {m.key for m in plan.moves if m.tab == "Payments"}
    freeze(cycle.journal, Frozen(
        [i for i in cycle.ledger.invoices if i.invoice_number in numbers],
        [p for p in cycle.book.payments if p.payment_id in ids], cycle.allocation,
        source_days(cycle.book.payments, cycle.ledger.invoices)))


def _key_planned(cycle: Cycle, raw: RawBook, before: dt.date) -> None:
    """Plan the move over `raw` and key its rows, with the archive's checkpoint (`move`'s
    first step): the plan is let go before a row is copied, the journal holds the rows."""
    plan = _plan(cycle, raw, before)
    if plan is not None and plan.moves:
        key_first(cycle.journal, plan.moves, cycle.now)
        freeze_moving(cycle, plan)


def _summary(counts: Counter[str]) -> str:
    names = {"Invoices": "invoices", "InvoiceLines": "invoice lines", "Charges": "charges",
             "Payments": "payments", "Activity": "activity rows"}
    return ", ".join(f"{counts[tab]} {word}" for tab, word in names.items() if counts[tab])


def bring_back_reopened(cycle: Cycle) -> None:
    """An archived invoice that is no longer settled (a refund or a lost card dispute took its
    payment back) comes back into the workbook, where reminders and the owner can see it."""
    assert cycle.ledger is not None
    unsettled = [i for i in cycle.ledger.invoices if i.status not in SETTLED]
    moved = cycle.journal.archive_states_of("Invoices", [i.invoice_number for i in unsettled])
    reopened = [i for i in unsettled
                if moved.get(i.invoice_number) in ("copying", "copied", "removed")]
    for invoice in reopened:
        try:
            done = restore_invoice(cycle.config, cycle.journal, invoice.invoice_number,
                                   cycle.now, invoice_row(invoice),
                                   why=f"because it is {invoice.status} again")
        except WorkbookWriteError as exc:
            cycle.problem(warning(exc.where, f"{exc.message}; {invoice.invoice_number}, open "
                                  "again, could not be brought back from the archive",
                                  f"{exc.fix}; the next run tries again"))
            continue
        if done.problem is None:
            cycle.problem(warning("Invoices", f"{invoice.invoice_number} was in the archive "
                                  f"and is {invoice.status} again; it is back in the workbook",
                                  "nothing to do; it is reminded like any open invoice"))


def archive_history(cycle: Cycle) -> None:
    """Move what is settled and old out of the workbook (or, with --dry-run, say what would)."""
    months = cycle.config.workbook.archive_after_months
    for problem in [*row_limit_warnings(cycle.raw, months, read_all=False),
                    *cell_limit_warnings(cycle.backend.name, sheet_cells(cycle.backend),
                                         months)]:
        cycle.problem(problem)
    if cycle.report.exit_code.value >= 2:  # the write-back failed: move nothing today
        return
    if cycle.ledger is None:
        return
    # with archiving off (0 months), a move cut off or rows shown again are still finished
    before = _before(cycle) or dt.date.min
    if cycle.dry_run or not cycle.options.write:
        # (counted only: the rows' key cells, not whole rows, however long the backlog)
        plan = _plan(cycle, cycle.raw, whole=False) if may_move(cycle, before) else None
        if plan is not None and plan.moves:
            counts = Counter(m.tab for m in plan.moves)
            cycle.plan("archive", "", f"{_summary(counts)} dated before "
                       f"{plan.before.isoformat()}")
            cycle.report.counts["rows archived"] = len(plan.moves)
        return
    bring_back_reopened(cycle)
    if not may_move(cycle, before):
        return
    moved = Counter[str]()
    cut = dt.date.min
    limit = 0
    cycle.raw = RawBook({})  # the run's read, done with: the rounds read the workbook anew
    give_back()
    while True:
        # each round plans on the workbook as the last write left it (today's payments may
        # have settled rows; the round before removed its own); rows a round did not move
        # (dated before its cutoff) are not counted again: each round's cutoff is later
        raw = cycle.backend.read()
        days = _dated(cycle, raw, before)
        due = sum(days.values())
        limit = limit or rounds.round_rows(raw)  # the first round's: the rounds stay alike
        cut = round_cutoff({d: n for d, n in days.items() if d >= cut}, before, limit)
        del days
        _key_planned(cycle, raw, cut)
        shown = shown_moving(cycle.config, cycle.journal, raw)
        del raw  # the workbook's cells go before the rows are copied and removed
        try:
            done = move(cycle.config, cycle.journal, cycle.backend, (), cycle.now,
                        compact=cut >= before, shown=shown)
        except WorkbookWriteError as exc:
            cycle.problem(warning(exc.where, f"{exc.message}; old rows were not moved to "
                                  "the archive this time",
                                  f"{exc.fix}; the next run finishes the move"))
            break
        finally:
            del shown
            give_back()
        moved.update(done.rows)
        logging.getLogger("ispsheets").info(
            "archive: %d rows dated before %s moved (about %d due)", sum(done.rows.values()),
            cut.isoformat(), due)
        for path, counts in sorted(done.files.items()):  # each round is a move of its own
            detail = f"{_summary(counts)} in {path.parent.name}/{path.name}"
            cycle.log("archived", "", "", detail)
            cycle.plan("archive", "", detail)
        if cut >= before:
            cycle.journal.record_action(_activity_key(before), "archive_activity", "", "",
                                        cycle.now)
            break
        checkpoint("archive-round")  # a round done, the next not begun
        if not cycle.options.archive_all:
            cycle.problem(warning(
                "archive", f"moved {sum(moved.values()):,} of about {due:,} rows due "
                f"(those dated before {cut.isoformat()}); the rest move on the next runs, "
                f"about {limit:,} a run",
                "nothing to do; or run `ispsheets archive` to move them all now"))
            break
    cycle.report.counts["rows archived"] = sum(moved.values())


def _dated(cycle: Cycle, raw: RawBook, before: dt.date) -> Counter[dt.date]:
    """The rows of `raw` that may move before `before`, counted by the first day a cutoff
    after it moves them (`rounds.dated_rows`), from the journal's invoices and where each
    payment went."""
    assert cycle.ledger is not None and cycle.allocation is not None
    settled = {i.invoice_number: i.due_date for i in cycle.ledger.invoices
               if i.status in SETTLED and i.due_date < before}
    keyed = cycle.journal.archive_states_of("Invoices", list(settled))  # moved, or restored
    due = {n: day for n, day in settled.items() if n not in keyed}
    live = {i.invoice_number for i in cycle.ledger.invoices}
    payments = {}
    for key, state in cycle.allocation.payments.items():
        if state.applied and not state.unapplied:
            days = [due.get(n) for n, _ in state.applied if n in due or n in live]
            if days and None not in days:
                payments[key] = max(d for d in days if d is not None)
    return rounds.dated_rows(raw, due, cycle.ledger.charge_invoices, payments, before,
                             cycle.config.workbook.date_order)
