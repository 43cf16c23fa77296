"""The last step: the report workbook in `reports/`, from the same records the run used.

On a big business the report is written by a forked child while this process writes the
workbook back: the two only read the run's records, and each takes seconds at 20,000 clients.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import pickle
import stat
import sys
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from ispsheets.children import die_with_parent
from ispsheets.failures import last_line, reason, remedy
from ispsheets.journal import Journal
from ispsheets.memory import give_back
from ispsheets.problems import ExitCode, Problem
from ispsheets.reporting.archived import load_figures
from ispsheets.reporting.inputs import ReportInput, first_shown
from ispsheets.steps.cards import card_facts
from ispsheets.steps.cycle import Cycle

FORK_FROM_INVOICES = 5000  # below this many invoices the report is written in this process


def write_report(data: ReportInput, folder: Path, mode: int | None = None) -> Path:
    """The report workbook. Its writer (pandas, xlsxwriter: half a second to import) is imported
    only here, so `--help`, `check`, `status` and dry runs never load it."""
    from ispsheets.reporting.workbook import write_report as write

    return write(data, folder, mode)


def workbook_mode(cycle: Cycle) -> int | None:
    """The workbook file's permissions, which the report takes (None: a Google Sheet, or no
    file to follow)."""
    if cycle.config.workbook.path is None:
        return None
    try:
        return stat.S_IMODE(cycle.config.workbook_path.stat().st_mode)
    except OSError:
        return None


class ReportError(RuntimeError):
    """Writing the report failed in the child process; the text is its traceback."""


def report_input(cycle: Cycle, figures: bool = True) -> ReportInput:
    """What the report is computed from; the archive's figures of the months shown with it
    (`figures`), or added by `with_figures` where the report is written (a forked child
    reads them itself: the run's own process never holds them)."""
    assert cycle.allocation is not None
    paid_on = {number: state.paid_on for number, state in cycle.allocation.invoices.items()
               if state.paid_on is not None}
    invoices = cycle.ledger.invoices if cycle.ledger else tuple(cycle.invoices)
    data = ReportInput(as_of=cycle.today, currency=cycle.config.currency,
                       clients=cycle.book.clients, packages=cycle.book.packages,
                       services=cycle.book.services, invoices=tuple(invoices),
                       payments=cycle.book.payments, paid_on=paid_on,
                       suspensions=tuple(cycle.journal.suspension_history()),
                       cards=card_facts(cycle))
    return with_figures(data, cycle.journal) if figures else data


def with_figures(data: ReportInput, journal: Journal) -> ReportInput:
    """`data` with the archived figures of the months the report shows."""
    return replace(data, archived=load_figures(journal, first_shown(data.as_of), data.invoices,
                                               data.payments))


def _folder(cycle: Cycle) -> Path:
    return cycle.config.path(cycle.config.paths.reports)


def write_report_step(cycle: Cycle) -> None:
    if cycle.dry_run:
        cycle.plan("report", "", f"would write {_folder(cycle).name}/ispsheets-report-"
                                 f"{cycle.today.isoformat()}.xlsx")
        return
    path = write_report(report_input(cycle), _folder(cycle), workbook_mode(cycle))
    _written(cycle, path)


def _written(cycle: Cycle, path: Path) -> None:
    from ispsheets.reporting.files import prune_reports

    cycle.report.report_file = str(path)
    prune_reports(path.parent, cycle.config.paths.keep_reports, path)


def start_report(cycle: Cycle) -> Callable[[], None]:
    """Begin the report step; the function returned finishes it (waits for the child).
    A report that cannot be written (disk full, a read-only folder) is a problem of the run
    (exit 3), never a traceback: nothing else depends on it.

    Forks only where the platform can and the business is big enough to gain from it.
    """
    upload = _queue_report_tab(cycle)
    return functools.partial(_finish_or_report, cycle, _start_report(cycle), upload)


def _queue_report_tab(cycle: Cycle) -> bool:
    """With `workbook.report_tab` on a Google Sheet, the summary goes to its Report tab in the
    write-back's own request (or, on a day with nothing else to write, in one of its own)."""
    queue = getattr(cycle.backend, "queue_report", None)
    if cycle.dry_run or not cycle.config.workbook.report_tab or queue is None:
        return False
    from ispsheets.reporting.sheet_tab import report_tab_rows

    queue(report_tab_rows(report_input(cycle)))
    return True


def _flush_report_tab(cycle: Cycle) -> None:
    from ispsheets.book.changes import WorkbookWriteError

    if cycle.report.exit_code is ExitCode.WRITE_FAILED:
        return  # the sheet could not be written: said once already
    try:
        cycle.backend.flush_report()  # type: ignore[attr-defined]
    except WorkbookWriteError as exc:
        cycle.report.fail(ExitCode.WRITE_FAILED, Problem(exc.where, exc.message, exc.fix))


def _finish_or_report(cycle: Cycle, finish: Callable[[], None], upload: bool = False) -> None:
    if upload:
        _flush_report_tab(cycle)
    try:
        finish()
    except Exception as exc:
        from xlsxwriter.exceptions import XlsxWriterException  # not loaded by a dry run

        if not isinstance(exc, OSError | XlsxWriterException | ReportError):
            raise
        text = last_line(str(exc)) if isinstance(exc, ReportError) else reason(exc)
        logging.getLogger("ispsheets").error("the report was not written", exc_info=exc)
        cycle.report.fail(ExitCode.WRITE_FAILED, Problem(
            str(_folder(cycle)), f"today's report could not be written ({text})",
            f"{remedy(exc)}; then `ispsheets report --date {cycle.today.isoformat()}` writes "
            "it (the rest of the run is done)"))


def _start_report(cycle: Cycle) -> Callable[[], None]:
    if cycle.dry_run or not hasattr(os, "fork") or len(cycle.invoices) < FORK_FROM_INVOICES:
        return lambda: write_report_step(cycle)
    data, folder, mode = report_input(cycle, figures=False), _folder(cycle), workbook_mode(cycle)
    journal = cycle.journal.path
    give_back()  # the child counts every page this process holds
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write the report, say how it went, and leave at once
        _report_child(data, journal, folder, mode, read_end, write_end)
    os.close(write_end)
    return functools.partial(wait_for_report, cycle, pid, read_end)


def _report_child(data: ReportInput, journal: Path, folder: Path, mode: int | None,
                  read_end: int, write_end: int) -> NoReturn:
    """Read the archive's figures (its own connection to the journal: one is never shared
    across a fork), write the report and send back how it went. Whatever happens (even the
    parent gone and its pipe broken) the child leaves here: it must never go on with the
    run's own work."""
    code = 1
    try:
        os.close(read_end)
        die_with_parent()
        # The cycle collector stays off, as in the run (`runner.run`): the report makes few
        # cycles, and the child leaves when it is written. Collections over the records it
        # reads and writes cost 20,000 clients x a year 3 s of 13 (peak memory the same).
        gc.disable()
        try:
            reader = Journal.read_only(journal)
            try:
                data = with_figures(data, reader)
            finally:
                reader.close()
            outcome: tuple[bool, str] = (True, str(write_report(data, folder, mode)))
            code = 0
        except BaseException:
            outcome = (False, traceback.format_exc())
        with os.fdopen(write_end, "wb") as pipe:
            pickle.dump(outcome, pipe)
    finally:
        os._exit(code)


def wait_for_report(cycle: Cycle, pid: int, read_end: int) -> None:
    """Wait for the child that writes the report; its failure is raised here."""
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read()
    _, status = os.waitpid(pid, 0)
    if not message:
        raise ReportError(f"the report process died (wait status {status})")
    ok, text = pickle.loads(message)
    if not ok:
        raise ReportError(text)
    _written(cycle, Path(text))
