"""The daily cycle: read → check → plan → act (journaled) → write back once → report.

Pure planners decide; the steps in `ispsheets/steps/` perform their plans through the journal
(key first, effect second, record third), and this module writes the workbook once at the end.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from ispsheets.archive.book import archived_keys
from ispsheets.bank.step import import_bank
from ispsheets.book.backend import Backend, WorkbookReadError, open_backend, unwritable
from ispsheets.book.cell_types import typed_row
from ispsheets.book.changes import AppendRow, ChangeSet, SetCell, WorkbookWriteError
from ispsheets.book.columns import column_values
from ispsheets.book.load import load_book
from ispsheets.book.parse import paused_gc
from ispsheets.book.reader import RawBook
from ispsheets.book.schema import INVOICE_LINES
from ispsheets.config import Config
from ispsheets.failures import reason, remedy, stopped_by
from ispsheets.faults import checkpoint
from ispsheets.journal import Journal
from ispsheets.journal_copies import Finish, start_journal_copy
from ispsheets.journal_guard import JournalStop, open_trusted, shown_invoice_numbers
from ispsheets.ledger import build_ledger, held_reasons
from ispsheets.lock import AlreadyRunning, CannotLock, run_lock
from ispsheets.memory import give_back, new_garbage_collected
from ispsheets.problems import ExitCode, Problem, warning
from ispsheets.steps.archive import archive_history
from ispsheets.steps.card_rows import fold_into_new_rows
from ispsheets.steps.cards import take_card_payments
from ispsheets.steps.cycle import STEPS, Cycle, RunOptions, RunReport, Snapshot
from ispsheets.steps.portal import publish_portal_view, take_portal_choices
from ispsheets.steps.prepare import known_rows, prepare
from ispsheets.steps.putback import put_back
from ispsheets.steps.reconcile import allocate_payments
from ispsheets.steps.report import start_report
from ispsheets.steps.uncertain import (
    apply_requests,
    check_requests,
    report_unsent_requests,
    settle_uncertain,
)
from ispsheets.writeback import plan_writeback

__all__ = ["STEPS", "RunOptions", "RunReport", "run"]

log = logging.getLogger("ispsheets.steps")

MAILING = ("send", "remind")  # steps that render emails: their garbage is collected


def lines_present(cycle: Cycle) -> set[str]:
    """Invoice numbers that already have rows on the InvoiceLines tab."""
    return {str(v).strip() for v in column_values(cycle.raw, INVOICE_LINES.name,
                                                  "invoice_number") if v not in (None, "")}


def _shown_keys(raw: RawBook) -> dict[str, set[str]]:
    """The keys of the rows the archive may have moved, as the workbook shows them."""
    return {tab: {str(v).strip() for v in column_values(raw, tab, column) if v not in (None, "")}
            for tab, column in (("Invoices", "invoice_number"), ("Charges", "charge_id"),
                                ("Payments", "payment_id"))}


def _tool_changes(cycle: Cycle) -> ChangeSet:
    """Rows for owner tabs and one-shot cells the tool queued in the journal."""
    appends = tuple(AppendRow(row.tab, _allocated(cycle, row.tab, typed_row(row.tab,
                                                                            row.values)))
                    for row in cycle.journal.unwritten_tool_rows())
    sets = tuple(SetCell(w.tab, w.row_key, w.column,
                         typed_row(w.tab, {w.column: w.value})[w.column])
                 for w in cycle.journal.unwritten_cell_writes())
    return ChangeSet((), sets, appends)


def _allocated(cycle: Cycle, tab: str, values: dict[str, Any]) -> dict[str, Any]:
    """A Payments row the tool appends, with where this run's allocation put it."""
    cells = (cycle.ledger.payment_cells.get(values.get("payment_id", ""))
             if tab == "Payments" and cycle.ledger is not None else None)
    if cells is None:
        return values
    return {**values, "applied_to": cells[0] or None, "unapplied": cells[1]}


def settle_ledger(cycle: Cycle) -> None:
    """What the tool cells should hold now: what the write-back writes and the report shows."""
    stage_order = [s.name for s in cycle.config.collections.reminders]
    assert cycle.allocation is not None
    cycle.ledger = build_ledger(cycle.journal, cycle.invoices, cycle.allocation, stage_order)
    moved = cycle.archived.invoice_numbers() if cycle.archived else frozenset()
    replayed = {i.invoice_number for i in cycle.ledger.invoices} & moved  # (refunded ones)
    cycle.report.snapshot = Snapshot(cycle.ledger.invoices, cycle.book.clients,
                                     cycle.ledger.client_balances,
                                     cycle.journal.count_archived_invoices(replayed))
    reasons = held_reasons(cycle.journal)
    cycle.report.held = [(i, reasons.get(i.invoice_number, "")) for i in cycle.ledger.invoices
                         if i.status == "held"]


def write_back(cycle: Cycle) -> Finish | None:
    """One write of everything (of what `settle_ledger` found), journaled so a failure or a
    kill loses nothing. When it made a workbook backup, the journal's copy beside it is under
    way: call what is returned (before the journal closes) to wait for it."""
    assert cycle.ledger is not None
    pending = cycle.journal.unwritten_activity()
    # invoices issued by this run or by one whose write never happened: their rows are new
    never_written = [r.invoice_number for _, r in pending if r.action == "invoice_issued"]
    changes, problems = plan_writeback(cycle.book, cycle.ledger,
                                       lines_present=lines_present(cycle), fills=cycle.fills,
                                       activity=[r for _, r in pending],
                                       issued_this_run=[*never_written,
                                                        *(i.invoice_number for i in cycle.issued),
                                                        *cycle.restored_invoices],
                                       archived=cycle.archived.keys if cycle.archived else None)
    changes = fold_into_new_rows(changes + _tool_changes(cycle))
    for problem in problems:
        cycle.problem(problem)
    cells, rows = len(changes.sets) + len(changes.fills), len(changes.appends)
    if cycle.dry_run or not cycle.options.write or not changes:
        cycle.report.counts["cells written"] = cells
        cycle.report.counts["rows appended"] = rows
        return None
    gen = cycle.journal.begin_write([i for i, _ in pending], cycle.now)
    checkpoint("before-workbook-write")
    try:
        cycle.report.written = cycle.backend.write(changes, cycle.now, generation=gen)
        checkpoint("workbook-replaced")
    except WorkbookWriteError as exc:
        cycle.journal.abandon_write(gen)
        cycle.report.deferred = (cells, rows, f"{exc.where} {exc.message}")
        cycle.report.fail(ExitCode.WRITE_FAILED, Problem(exc.where, exc.message, exc.fix))
        return None
    except BaseException:
        cycle.journal.abandon_write(gen)
        raise
    cycle.journal.finish_write(gen)
    cycle.report.counts["cells written"] = cells
    cycle.report.counts["rows appended"] = rows
    written = cycle.report.written
    copying = (start_journal_copy(cycle.journal, Path(written.backup),
                                  cycle.config.workbook.journal_copies)
               if written.backup else None)
    for missing in written.missing_keys:
        cycle.problem(warning(missing.tab, f"no row with {missing.key!r} to write "
                              f"{missing.column} into (removed, or its key changed, since "
                              "this run read the workbook?)", "nothing to do if you removed it"))
    return copying


def _copied(cycle: Cycle, copying: Finish | None) -> None:
    """Wait for the journal's copy (`write_back`); a failed copy is a warning."""
    problem = copying() if copying is not None else None
    if problem is not None:
        cycle.problem(problem)


def _step_functions() -> dict[str, Callable[[Cycle], None]]:
    from ispsheets.steps.collect import collect
    from ispsheets.steps.deliver import deliver
    from ispsheets.steps.invoice import issue_invoices
    from ispsheets.steps.reconcile import reconcile

    return {"reconcile": reconcile, "invoice": issue_invoices, "send": deliver,
            "remind": collect}


def run(config: Config, options: RunOptions) -> RunReport:
    """The cycle under the run lock; a second run at the same time exits 3, nothing done.

    Python's cycle collector is off for the run: a big business's run holds millions of
    objects, and each collection walks all of them again (20,000 clients with a year: 41 s ->
    31 s on a quiet day). A run makes little cyclic garbage (peak memory is the same) and its
    worker processes collect their own. The console command keeps it off to the end of its
    process (`cli.run_command_line`).
    """
    with paused_gc():
        if options.dry_run:
            return _run(config, options)
        return _locked_run(config, options)


def _locked_run(config: Config, options: RunOptions) -> RunReport:
    lock_path = config.journal_path.with_suffix(".lock")
    try:
        with run_lock(lock_path):
            return _run(config, options)
    except AlreadyRunning as exc:
        return RunReport(currency=config.currency).fail(ExitCode.WRITE_FAILED, Problem(
            str(exc.path.name), f"another ispsheets run is busy ({exc.holder})",
            "nothing was done; wait for it to finish or let the next scheduled run do the work"))
    except CannotLock as exc:
        return RunReport(currency=config.currency).fail(ExitCode.BAD_CONFIG, Problem(
            str(exc.path), f"the run's lock file cannot be made ({reason(exc.error)})",
            f"{remedy(exc.error)}; nothing was done"))


def _open_journal(config: Config, backend: Backend, raw: RawBook, dry_run: bool) -> Journal:
    """The journal, once it can be trusted (`journal_guard`); for a dry run an in-memory copy
    (a new, empty one if there is no file)."""
    shown = shown_invoice_numbers(raw)
    if dry_run and not config.journal_path.exists() and not shown and not backend.generation:
        return Journal.memory()
    journal = open_trusted(config, shown, backend.generation)
    if not dry_run:
        return journal
    if journal.path.stat().st_size > DRY_RUN_COPY_BYTES:
        return journal.rehearse()  # a copy in memory would take as much memory as the file
    copy = journal.copy_to_memory()
    journal.close()
    return copy


# A dry run (`status` too) plans on a copy of the journal in memory up to this size; a bigger
# journal (20,000 clients with three years: 4.3 GB) is used in place, in one transaction that
# is rolled back (`Journal.rehearse`).
DRY_RUN_COPY_BYTES = 256 << 20


def _run(config: Config, options: RunOptions) -> RunReport:
    """The cycle; returns what it did. Never raises for bad rows: they become problems."""
    report = RunReport(currency=config.currency)
    try:
        backend: Backend = open_backend(config, keep_cache=not options.dry_run)
        never = unwritable(backend) if options.write else None
        if never is not None:  # stop before anything the workbook could never show
            return report.fail(ExitCode.BAD_CONFIG, never)
        raw = backend.read()
    except WorkbookReadError as exc:
        return report.fail(exc.exit_code, exc.problem)
    give_back()  # the reader's own copy of the cells
    try:
        journal = _open_journal(config, backend, raw, options.dry_run)
    except JournalStop as stop:
        return report.fail(ExitCode.BAD_CONFIG, stop.problem)
    except (sqlite3.Error, OSError) as exc:  # before anything is done
        return report.fail(ExitCode.BAD_CONFIG, Problem(
            str(config.journal_path), f"the journal cannot be opened ({reason(exc)})",
            f"{remedy(exc)}; nothing was done"))
    requests = check_requests(journal, options.resend, options.mark_sent)
    if requests:
        journal.close()
        for problem in requests:
            report.fail(ExitCode.BAD_CONFIG, problem)
        return report
    try:
        restored = put_back(journal, backend, raw, options.now,
                            write=options.write and not options.dry_run)
    except WorkbookReadError as exc:  # read again after the put-back write
        journal.close()
        return report.fail(ExitCode.BAD_CONFIG, exc.problem)
    except BaseException:
        journal.close()
        raise
    raw = restored.raw
    if restored.problem is not None:
        report.problems.append(restored.problem)
    known = known_rows(journal, raw)
    book = load_book(raw, config.workbook.date_order, today=options.today, known=known)
    if book.blocking:  # a required tab or column is missing: acting would act on a guess
        journal.close()
        report.problems.extend(book.blocking)  # (the rest follows from it: not shown)
        report.exit_code = ExitCode.BAD_CONFIG
        return report
    report.problems.extend(book.problems)
    cycle = Cycle(config, options, journal, backend, raw, book, report,
                  restored_invoices=restored.missing_invoices,
                  archived=archived_keys(journal, _shown_keys(raw)))
    steps = _step_functions()
    mails = bool({"send", "remind"} & set(options.steps))
    copying: Finish | None = None  # the journal's copy, made while the run goes on
    try:
        if not prepare(cycle, known):
            return report
        take_portal_choices(cycle)
        if mails:
            apply_requests(cycle)
            settle_uncertain(cycle)
            from ispsheets.steps.deliver import settle_held_back

            settle_held_back(cycle)
        for name in ("invoice", "reconcile", "send", "remind"):
            # payments are logged (once each) by every command, after invoicing so the log
            # shows where credit went
            if name in options.steps or name == "reconcile":
                log.info("step %s", name)
                with new_garbage_collected() if name in MAILING else nullcontext():
                    steps[name](cycle)
                give_back()
            if name == "invoice":
                # every later step works from the allocation, made once the day's invoices
                # are recorded (billing needs none), so credit on account pays them
                allocate_payments(cycle)
                import_bank(cycle, options.bank_files)  # allocates again if it adds any
                take_card_payments(cycle)  # Stripe: pull, autopay, pay links (no key: nothing)
                give_back()  # the journal's invoices as stored, once decoded
        if mails:
            report_unsent_requests(cycle)
        settle_ledger(cycle)
        publish_portal_view(cycle)
        finish_report = start_report(cycle) if "report" in options.steps else None
        try:
            copying = write_back(cycle)  # while a child process may be writing the report
        finally:
            if finish_report is not None:
                finish_report()
        if finish_report is not None:
            checkpoint("report-written")
        if "archive" in options.steps:
            archive_history(cycle)
        if not options.dry_run:
            journal.record_action(f"run/{options.today.isoformat()}", "run", "", "",
                                  options.now, ",".join(options.steps))
    except (OSError, sqlite3.Error) as exc:  # the disk, not the data: nothing is lost
        logging.getLogger("ispsheets").error("the run stopped", exc_info=exc)  # log file
        if getattr(exc, "sqlite_errorname", "") in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
            journal.distrust()  # the next command checks every page again
        report.fail(ExitCode.WRITE_FAILED, stopped_by(exc, config.journal_path))
    finally:
        _copied(cycle, copying)
        if cycle.postman is not None:
            cycle.postman.close()
        journal.close()
    if report.exit_code is ExitCode.OK and any(p.is_error for p in report.problems):
        report.exit_code = ExitCode.ROWS_SKIPPED
    return report
