"""The daily cycle: read → check → plan → act (journaled) → write back once → report.

Pure planners decide; the steps in `ispsheets/steps/` perform their plans through the journal
(key first, effect second, record third), and this module writes the workbook once at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ispsheets.book.backend import Backend, WorkbookReadError, open_backend
from ispsheets.book.changes import AppendRow, ChangeSet, SetCell, WorkbookWriteError
from ispsheets.book.load import load_book
from ispsheets.book.parse import paused_gc
from ispsheets.book.schema import INVOICE_LINES
from ispsheets.config import Config
from ispsheets.faults import checkpoint
from ispsheets.journal import Journal, JournalError
from ispsheets.ledger import build_ledger
from ispsheets.lock import AlreadyRunning, run_lock
from ispsheets.problems import ExitCode, Problem, warning
from ispsheets.steps.card_rows import fold_into_new_rows
from ispsheets.steps.cards import take_card_payments
from ispsheets.steps.cycle import STEPS, Cycle, RunOptions, RunReport, Snapshot
from ispsheets.steps.prepare import column_values, prepare
from ispsheets.steps.reconcile import allocate_payments
from ispsheets.steps.report import start_report
from ispsheets.writeback import plan_writeback

__all__ = ["STEPS", "RunOptions", "RunReport", "run"]

log = logging.getLogger("ispsheets.steps")


def lines_present(cycle: Cycle) -> set[str]:
    """Invoice numbers that already have rows on the InvoiceLines tab."""
    return {str(v).strip() for v in column_values(cycle.raw, INVOICE_LINES.name,
                                                  "invoice_number") if v not in (None, "")}


def _tool_changes(cycle: Cycle) -> ChangeSet:
    """Rows for owner tabs and one-shot cells the tool queued in the journal."""
    appends = tuple(AppendRow(row.tab, row.values) for row in cycle.journal.unwritten_tool_rows())
    sets = tuple(SetCell(w.tab, w.row_key, w.column, w.value)
                 for w in cycle.journal.unwritten_cell_writes())
    return ChangeSet((), sets, appends)


def settle_ledger(cycle: Cycle) -> None:
    """What the tool cells should hold now: what the write-back writes and the report shows."""
    stage_order = [s.name for s in cycle.config.collections.reminders]
    assert cycle.allocation is not None
    cycle.ledger = build_ledger(cycle.journal, cycle.invoices, cycle.allocation, stage_order)
    cycle.report.snapshot = Snapshot(cycle.ledger.invoices, cycle.book.clients,
                                     cycle.ledger.client_balances)


def write_back(cycle: Cycle) -> None:
    """One write of everything (of what `settle_ledger` found), journaled so a failure or a
    kill loses nothing."""
    assert cycle.ledger is not None
    pending = cycle.journal.unwritten_activity()
    changes, problems = plan_writeback(cycle.book, cycle.ledger,
                                       lines_present=lines_present(cycle), fills=cycle.fills,
                                       activity=[r for _, r in pending],
                                       issued_this_run=[i.invoice_number for i in cycle.issued])
    changes = fold_into_new_rows(changes + _tool_changes(cycle))
    for problem in problems:
        cycle.problem(problem)
    cycle.report.counts["cells written"] = len(changes.sets) + len(changes.fills)
    cycle.report.counts["rows appended"] = len(changes.appends)
    if cycle.dry_run or not cycle.options.write or not changes:
        return
    gen = cycle.journal.begin_write([i for i, _ in pending], cycle.now)
    checkpoint("before-workbook-write")
    try:
        cycle.report.written = cycle.backend.write(changes, cycle.now)
        checkpoint("workbook-replaced")
    except WorkbookWriteError as exc:
        cycle.journal.abandon_write(gen)
        cycle.report.fail(ExitCode.WRITE_FAILED, Problem(exc.where, exc.message, exc.fix))
        return
    except BaseException:
        cycle.journal.abandon_write(gen)
        raise
    cycle.journal.finish_write(gen)
    written = cycle.report.written
    for missing in written.missing_keys:
        cycle.problem(warning(missing.tab, f"no row with {missing.key!r} to write "
                              f"{missing.column} into", "the row was deleted; nothing to do"))


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


def _open_journal(config: Config, dry_run: bool) -> Journal:
    """The journal; for a dry run an in-memory copy (a new, empty one if there is no file)."""
    if dry_run and not config.journal_path.exists():
        return Journal.memory()
    journal = Journal.open(config.journal_path)
    if not dry_run:
        return journal
    copy = journal.copy_to_memory()
    journal.close()
    return copy


def _run(config: Config, options: RunOptions) -> RunReport:
    """The cycle; returns what it did. Never raises for bad rows: they become problems."""
    report = RunReport(currency=config.currency)
    try:
        backend: Backend = open_backend(config)
        raw = backend.read()
    except WorkbookReadError as exc:
        return report.fail(ExitCode.BAD_CONFIG, exc.problem)
    book = load_book(raw, config.workbook.date_order, today=options.today)
    report.problems.extend(book.problems)
    try:
        journal = _open_journal(config, options.dry_run)
    except JournalError as exc:
        return report.fail(ExitCode.BAD_CONFIG, Problem(config.paths.journal, str(exc),
                                                        "upgrade ispsheets"))
    cycle = Cycle(config, options, journal, backend, raw, book, report)
    steps = _step_functions()
    try:
        prepare(cycle)
        for name in ("invoice", "reconcile", "send", "remind"):
            # payments are logged (once each) by every command, after invoicing so the log
            # shows where credit went
            if name in options.steps or name == "reconcile":
                log.info("step %s", name)
                steps[name](cycle)
            if name == "invoice":
                # every later step works from the allocation, made once the day's invoices
                # are recorded (billing needs none), so credit on account pays them
                allocate_payments(cycle)
                take_card_payments(cycle)  # Stripe: pull, autopay, pay links (no key: nothing)
        settle_ledger(cycle)
        finish_report = start_report(cycle) if "report" in options.steps else None
        try:
            write_back(cycle)  # while a child process may be writing the report
        finally:
            if finish_report is not None:
                finish_report()
        if finish_report is not None:
            checkpoint("report-written")
        if not options.dry_run:
            journal.record_action(f"run/{options.today.isoformat()}", "run", "", "",
                                  options.now, ",".join(options.steps))
    finally:
        if cycle.postman is not None:
            cycle.postman.close()
        journal.close()
    if report.exit_code is ExitCode.OK and any(p.is_error for p in report.problems):
        report.exit_code = ExitCode.ROWS_SKIPPED
    return report
