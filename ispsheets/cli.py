"""The `ispsheets` command: parses arguments, calls the library, prints. Exit codes are stable.

0 all done · 1 done, but some rows were skipped (listed) · 2 bad config or arguments, nothing
done · 3 the workbook could not be written, or the run could not finish (disk full,
permissions, an unexpected error), nothing lost: the next run completes it.
Every failure is one `where: what — fix` line; `last_resort` catches what nothing else did.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
import os
import shlex
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from ispsheets import __version__
from ispsheets.failures import NOTHING_LOST
from ispsheets.problems import ExitCode, Problem, tally

if TYPE_CHECKING:
    from ispsheets.book.records import Book
    from ispsheets.config import Config
    from ispsheets.runner import RunOptions, RunReport

# Each command imports what it needs when it runs (the config model loads pydantic, a run the
# workbook reader and the journal, the report pandas): `--help` answers in a tenth of a second.
CONFIG_NAME = "config.yaml"  # = ispsheets.config.CONFIG_NAME, not imported from there for that

app = typer.Typer(
    help="Billing automation for small ISPs that run their business from a spreadsheet.\n\n"
         "Exit status: 0 all done; 1 done, some rows skipped (listed); 2 bad config or "
         "arguments, nothing done; 3 the workbook could not be written, or the run could "
         "not finish (disk full, permissions, an unexpected error): nothing lost, the next "
         "run completes it.",
    no_args_is_help=True, add_completion=False, rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]})

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="the config file to use",
                                            show_default=True)]
DateOption = Annotated[str | None, typer.Option(
    "--date", help="the day to act as, YYYY-MM-DD (default: today in the configured timezone)")]
DryRunOption = Annotated[bool, typer.Option(
    "--dry-run", help="show what would happen; change nothing anywhere")]


def _exit(code: ExitCode) -> NoReturn:
    raise typer.Exit(int(code))


def print_problems(problems: Sequence[Problem], console: Console = err) -> None:
    """Errors first, then warnings; one `Tab!Cell: what — fix` line each."""
    for problem in sorted(problems, key=lambda p: not p.is_error):
        style = "red" if problem.is_error else "yellow"
        label = "error" if problem.is_error else "warning"
        console.print(f"[{style}]{label}[/{style}] {problem}", markup=True, highlight=False)


def _load(config_path: Path) -> Config:
    from ispsheets.config import load_config

    config, problems = load_config(config_path)
    if config is None:
        print_problems(problems)
        _exit(ExitCode.BAD_CONFIG)
    return config


def _today(config: Config, date: str | None) -> dt.date:
    if date is None:
        return dt.datetime.now(config.tz).date()
    try:
        return dt.date.fromisoformat(date)
    except ValueError:
        err.print(f"--date: {date!r} is not a date — use YYYY-MM-DD, e.g. 2026-12-01")
        _exit(ExitCode.BAD_CONFIG)


def _version(value: bool) -> None:
    if value:
        out.print(f"ispsheets {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_version,
                                                is_eager=True, help="show the version")]
          = False) -> None:
    """Billing automation for small ISPs that run their business from a spreadsheet."""


@app.command()
def init(folder: Annotated[Path, typer.Argument(help="where to create config.yaml and the "
                                                     "workbook")] = Path("."),
         demo: Annotated[int | None, typer.Option(
             "--demo", min=1, max=20000, help="fill the workbook with N sample clients")] = None,
         google_sheet: Annotated[str | None, typer.Option(
             "--google-sheet", help="fill this empty, shared Google Sheet (key or URL) "
                                    "instead of writing isp.xlsx")] = None,
         service_account: Annotated[str, typer.Option(
             "--service-account", help="the service account's JSON key file (for "
                                       "--google-sheet; default: GOOGLE_APPLICATION_"
                                       "CREDENTIALS)")] = "",
         ) -> None:
    """Write config.yaml and a starter workbook (optionally with N sample clients)."""
    from xlsxwriter.exceptions import XlsxWriterException

    from ispsheets.scaffold import InitError, init_google_sheet, init_project

    try:
        if google_sheet is not None:
            written, title = init_google_sheet(folder, google_sheet, service_account, demo,
                                               dt.date.today())
            out.print(f"filled the Google Sheet '{title}' with the starter tabs")
        else:
            written = init_project(folder, demo, dt.date.today())
    except InitError as exc:
        err.print(str(exc))
        _exit(ExitCode.BAD_CONFIG)
    except (OSError, XlsxWriterException) as exc:  # xlsxwriter's FileCreateError holds one
        _cannot_create(folder, exc)
    for path in written:
        out.print(f"wrote {path}")
    out.print(f"next: cd {shlex.quote(str(folder))} && {_self(folder)} check")


@app.command()
def demo(folder: Annotated[Path, typer.Argument(help="a new folder for the demo business")]
         = Path("demo"),
         clients: Annotated[int, typer.Option("--clients", min=3, max=2000,
                                               help="how many sample clients")] = 40,
         days: Annotated[int, typer.Option("--days", min=1, max=730,
                                           help="how many days of history to play")] = 90,
         ) -> None:
    """Create a demo ISP in FOLDER and play its last DAYS days: every morning the owner types
    in the payments that came (most on time, some late, some partial, one never) and the daily
    run does the rest. Needs no account of any kind."""
    from xlsxwriter.exceptions import XlsxWriterException

    from ispsheets.scaffold import InitError
    from ispsheets.steps.cycle import counted
    from ispsheets.story import play

    today = dt.date.today()
    totals: Counter[str] = Counter()
    progress = _DemoProgress(days + 1, sys.stderr.isatty())
    try:
        with progress:
            reports = play(folder, clients, days, today, progress.advance)
    except InitError as exc:
        err.print(str(exc))
        _exit(ExitCode.BAD_CONFIG)
    except (OSError, XlsxWriterException) as exc:  # xlsxwriter's FileCreateError holds one
        _cannot_create(folder, exc)
    for report in reports:
        totals.update(report.counts)
    problems = [p for r in reports[-1:] for p in r.problems if p.is_error]
    print_problems(problems)
    out.print(f"Played {len(reports)} days ({today - dt.timedelta(days=days)} to {today}) of a "
              f"{clients}-client ISP in {folder}/:")
    for what in ("invoices issued", "emails sent", "payments applied", "reminders sent",
                 "late fees added", "clients suspended", "clients reconnected"):
        number, words = counted(totals[what], what).split(" ", 1)
        out.print(f"  {number:>5} {words}")
    out.print(f"\n  invoices (PDF)   {folder}/invoices/\n"
              f"  emails (.eml)    {folder}/outbox/\n"
              f"  the workbook     {folder}/isp.xlsx\n"
              f"  today's report   {reports[-1].report_file}\n"
              f"\nNext: cd {shlex.quote(str(folder))} && {_self(folder)} status")


def _cannot_create(folder: Path, exc: Exception) -> NoReturn:
    from ispsheets.failures import reason, remedy

    error = exc.args[0] if not isinstance(exc, OSError) and exc.args and isinstance(
        exc.args[0], OSError) else exc
    where = getattr(error, "filename", None) or folder
    err.print(f"error {where}: cannot be written ({reason(exc)}) — "
              f"{remedy(exc)}, or choose another folder", markup=False, highlight=False)
    _exit(ExitCode.BAD_CONFIG)


def _self(folder: Path) -> str:
    """A command that calls this very ispsheets from inside `folder`, as printed: `ispsheets`
    when that is the one on the PATH, else its path (`../.venv/bin/ispsheets`, or the absolute
    one when shorter), or `python -m ispsheets` with this Python."""
    exe = Path(sys.argv[0]).resolve()
    if exe.name != "ispsheets" or not exe.is_file():
        return f"{shlex.quote(sys.executable)} -m ispsheets"
    on_path = shutil.which("ispsheets")
    if on_path is not None and Path(on_path).resolve() == exe:
        return "ispsheets"
    relative = os.path.relpath(exe, folder.resolve())
    return shlex.quote(min(relative, str(exe), key=len))


class _DemoProgress:
    """A bar over the simulated days on a terminal; a line a month otherwise."""

    def __init__(self, total: int, tty: bool) -> None:
        self.total, self.tty, self._bar, self._task = total, tty, None, None
        self.so_far: Counter[str] = Counter()

    def __enter__(self) -> _DemoProgress:
        if self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), console=err, transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task("playing the quarter", total=self.total)
        return self

    def advance(self, day: dt.date, report: RunReport) -> None:
        self.so_far.update(report.counts)
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=f"{day}")
        elif day.day == 1:
            err.print(f"{day}: so far {self.so_far['invoices issued']} invoices, "
                      f"{self.so_far['payments applied']} payments")

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


@app.command()
def check(config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """Validate config and workbook; list every problem as Tab!Cell: message."""
    settings = _load(config)
    from ispsheets.bank.check import check_bank
    from ispsheets.book.check import check_workbook

    checked = check_workbook(settings)
    book, problems = checked.book, checked.problems
    if book is not None and book.blocking:
        # the rest follows from the missing tab or column (every row unknown): not shown
        print_problems(book.blocking)
        out.print(f"{len(book.blocking)} error(s) that stop every command until fixed: "
                  "a required tab or column is missing")
        _exit(ExitCode.BAD_CONFIG)
    inbox, bank_problems = check_bank(settings, book)
    problems = [*problems, *bank_problems]
    stops = _journal_problems(settings, book, checked.generation) if book is not None else []
    problems = [*problems, *stops]
    print_problems(problems)
    for line in inbox:
        out.print(line)
    if book is None:
        _exit(checked.unreadable)  # 3: a Google Sheet out of reach, as `run` says
    out.print(f"{len(book.clients)} clients, {len(book.services)} services, "
              f"{len(book.packages)} packages read; {tally(problems)}")
    if stops:
        _exit(ExitCode.BAD_CONFIG)  # no run can start until the journal is recovered
    if any(p.is_error for p in problems):
        _exit(ExitCode.ROWS_SKIPPED)


def _journal_problems(settings: Config, book: Book, generation: int | None) -> list[Problem]:
    """What would stop every run: a journal that is unreadable or older than the workbook."""
    from ispsheets.journal_guard import journal_problems

    return journal_problems(settings, [i.invoice_number for i in book.invoices], generation)


def _summary(report: RunReport, options: RunOptions) -> None:
    from rich.table import Table

    from ispsheets.money import format_money
    from ispsheets.steps.cycle import COUNTS, counted

    print_problems(report.problems)
    verb = "would be" if options.dry_run else "were"
    if report.issued:
        table = Table(title=f"Invoices that {verb} issued on {options.today}", title_justify="left")
        for column in ("invoice", "client", "period", "lines", "total"):
            table.add_column(column, justify="right" if column in ("lines", "total") else "left")
        shown = report.issued if len(report.issued) <= 50 or options.dry_run else []
        for invoice in shown:
            period = (f"{invoice.period_start} – {invoice.period_end}"
                      if invoice.period_start else "charges only")
            table.add_row(invoice.invoice_number, invoice.client_id, period,
                          str(len(invoice.lines)), format_money(invoice.total, report.currency))
        if shown:
            out.print(table)
    if report.held:
        table = Table(title="Invoices held for your check: not sent, not charged, not reminded",
                      title_justify="left")
        for column in ("invoice", "client", "total", "why"):
            table.add_column(column, justify="right" if column == "total" else "left")
        for invoice, reason in report.held:
            table.add_row(invoice.invoice_number, invoice.client_id,
                          format_money(invoice.total, report.currency), reason)
        out.print(table)
        out.print("Set a held invoice's status to open in the Invoices tab to send it on the "
                  "next run, or to void to cancel it.")
    if options.dry_run and report.plan:
        table = Table(title="What else the run would do", title_justify="left")
        for column in ("action", "client", "detail"):
            table.add_column(column)
        for what, client, detail in report.plan:
            table.add_row(what, client, detail)
        out.print(table)
    bank_lines = [entry for entry in report.plan if entry[0] == "bank payment"]
    if bank_lines and not options.dry_run:
        table = Table(title="Bank transfers recorded", title_justify="left")
        for column in ("client", "how it matched"):
            table.add_column(column)
        for _, client, detail in bank_lines[:200]:
            table.add_row(client, detail)
        out.print(table)
    if report.unmatched:
        out.print(f"Unmatched bank lines ({len(report.unmatched)}; type the client_id in the "
                  "BankUnmatched tab and the next run records them):")
        for line in report.unmatched:
            out.print(f"  {line}")
    facts = [counted(report.counts[what], what) for what in COUNTS if report.counts[what]]
    if options.dry_run:  # what it only planned (not counted above) is in its plan
        planned = Counter(what for what, _, _ in report.plan if what not in ("report",
                                                                               "payment"))
        if planned:
            facts.append("in the plan above: " + ", ".join(f"{what} {number}"
                                                           for what, number in planned.items()))
    if report.issued:
        facts.insert(1, f"{format_money(report.billed_total, report.currency)} billed")
    if report.deferred:
        cells, rows, why = report.deferred
        facts.append(f"{cells} cell{'s' if cells != 1 else ''} to write and {rows} "
                     f"row{'s' if rows != 1 else ''} to append, deferred: {why} (the next "
                     "run writes them)")
    if report.problems:
        facts.append(f"{tally(report.problems)} listed above")
    prefix = "dry run, nothing changed: " if options.dry_run else f"{options.today}: "
    line = prefix + ("; ".join(facts) if facts else "nothing to do")
    out.print(line)
    logging.getLogger("ispsheets").info("done, exit %d: %s", report.exit_code, line)
    if report.report_file:
        out.print(f"report: {report.report_file}")


def _options(settings: Config, date: str | None, dry_run: bool, steps: tuple[str, ...],
             resend: tuple[str, ...] = ()) -> RunOptions:
    from ispsheets.runner import RunOptions

    today = _today(settings, date)
    now = dt.datetime.now(settings.tz).replace(tzinfo=None, microsecond=0)
    return RunOptions(today=today, now=now, dry_run=dry_run, steps=steps,
                      progress=sys.stderr.isatty(), resend=resend)


AcceptDeletedOption = Annotated[bool, typer.Option(
    "--accept-deleted-payments",
    help="confirm that payments an earlier run applied were deleted from the Payments tab on "
         "purpose: what they paid is open again (without it the run stops and lists them)")]


def _run(config: Path, date: str | None, dry_run: bool, steps: tuple[str, ...],
         resend: tuple[str, ...] = (), write: bool = True,
         mark_sent: tuple[str, ...] = (), accept_deleted_payments: bool = False) -> None:
    from ispsheets.logs import setup_logging
    from ispsheets.runner import run

    settings = _load(config)
    options = replace(_options(settings, date, dry_run, steps, resend), write=write,
                      mark_sent=mark_sent, accept_deleted_payments=accept_deleted_payments)
    setup_logging(settings, options.progress, dry_run=options.dry_run)
    report = run(settings, options)
    _summary(report, options)
    _exit(report.exit_code)


@app.command("run")
def run_command(config: ConfigOption = Path(CONFIG_NAME), date: DateOption = None,
                dry_run: DryRunOption = False,
                accept_deleted_payments: AcceptDeletedOption = False) -> None:
    """The daily cycle: payments, invoices, delivery, reminders, fees, suspensions,
    reconnections, write-back and the report. Put this in cron, once a day."""
    from ispsheets.runner import STEPS

    _run(config, date, dry_run, STEPS, accept_deleted_payments=accept_deleted_payments)


@app.command()
def invoice(config: ConfigOption = Path(CONFIG_NAME), date: DateOption = None,
            dry_run: DryRunOption = False) -> None:
    """Issue the invoices that are due (no email), and write them back."""
    _run(config, date, dry_run, ("invoice",))


@app.command()
def send(config: ConfigOption = Path(CONFIG_NAME), date: DateOption = None,
         dry_run: DryRunOption = False,
         resend: Annotated[list[str] | None, typer.Option(
             "--resend", help="an email whose fate is unknown did NOT arrive: send it again "
                              "(its key, as the problem listed it); repeatable")] = None,
         mark_sent: Annotated[list[str] | None, typer.Option(
             "--mark-sent", help="an email whose fate is unknown DID arrive: record it as sent "
                                 "and never send it again; repeatable")] = None,
         ) -> None:
    """Render and email the invoices (and receipts) not sent yet, and write back sent_at.

    An email is of unknown fate when a run stopped while handing it to the mail server; each
    run names it (exit 1) until you check the client's mailbox or the server's log and say
    which it was with --resend or --mark-sent."""
    _run(config, date, dry_run, ("send",), tuple(resend or ()),
         mark_sent=tuple(mark_sent or ()))


@app.command()
def reconcile(config: ConfigOption = Path(CONFIG_NAME), date: DateOption = None,
              dry_run: DryRunOption = False,
              accept_deleted_payments: AcceptDeletedOption = False) -> None:
    """Allocate every payment to invoices and write balances, applied_to and unapplied back."""
    _run(config, date, dry_run, ("reconcile",), accept_deleted_payments=accept_deleted_payments)


@app.command()
def remind(config: ConfigOption = Path(CONFIG_NAME), date: DateOption = None,
           dry_run: DryRunOption = False) -> None:
    """Reminders, late fees, suspensions and reconnections that are due, and write back."""
    _run(config, date, dry_run, ("remind",))


@app.command()
def report(config: ConfigOption = Path(CONFIG_NAME), date: DateOption = None) -> None:
    """Write the report workbook reports/ispsheets-report-YYYY-MM-DD.xlsx (the workbook itself
    is only read, so this works while it is open in Excel)."""
    _run(config, date, False, ("report",), write=False)


@app.command("import-bank")
def import_bank(files: Annotated[list[Path], typer.Argument(
                    help="statement files: CAMT.053 XML, MT940, OFX/QFX or CSV", exists=False)],
                config: ConfigOption = Path(CONFIG_NAME), date: DateOption = None,
                dry_run: DryRunOption = False) -> None:
    """Import bank statements: each credit becomes a Payments row (method `bank transfer`)
    of the client it matches, once, however often a line is imported; lines no rule matches
    go to the BankUnmatched tab. The payments are allocated and written back at once."""
    settings = _load(config)
    missing = [f for f in files if not f.is_file()]
    if missing:
        for path in missing:
            err.print(f"{path}: no such file — give the path of a statement your bank exported")
        _exit(ExitCode.BAD_CONFIG)
    from ispsheets.logs import setup_logging
    from ispsheets.runner import run

    options = replace(_options(settings, date, dry_run, ("reconcile",)),
                      bank_files=tuple(f.resolve() for f in files))
    setup_logging(settings, options.progress, dry_run=options.dry_run)
    report = run(settings, options)
    _summary(report, options)
    _exit(report.exit_code)


@app.command()
def status(config: ConfigOption = Path(CONFIG_NAME), date: DateOption = None) -> None:
    """Balances, overdue and suspended clients, and what the next run will do (read-only)."""
    from ispsheets.logs import setup_logging
    from ispsheets.status import show_status

    settings = _load(config)
    setup_logging(settings, True, to_file=False)  # read-only: no log file, no step lines
    _exit(show_status(settings, _today(settings, date) if date else None, out))


@app.command()
def archive(config: ConfigOption = Path(CONFIG_NAME), date: DateOption = None,
            dry_run: DryRunOption = False,
            before: Annotated[str | None, typer.Option(
                "--before", help="move settled rows dated before this day (YYYY-MM-DD) "
                                 "instead of workbook.archive_after_months")] = None,
            restore: Annotated[str | None, typer.Option(
                "--restore", help="bring an archived invoice back into the workbook, with "
                                  "its lines, charges and payments, e.g. INV-00042")] = None,
            ) -> None:
    """Move settled invoices (with their lines, charges and payments) and old Activity rows
    to archive/<workbook>-YYYY.xlsx (then -YYYY-part2.xlsx… when a year is large) now; every
    run does it too. Figures never change."""
    from ispsheets.logs import setup_logging
    from ispsheets.runner import run

    settings = _load(config)
    if restore is not None:
        _exit(_restore(settings, restore.strip(), dry_run))
    options = replace(_options(settings, date, dry_run, ("archive",)), archive_all=True)
    if before is not None:
        try:
            cutoff = dt.date.fromisoformat(before)
        except ValueError:
            err.print(f"--before {before}: not a date — write it as YYYY-MM-DD")
            _exit(ExitCode.BAD_CONFIG)
        if cutoff > options.today:
            err.print(f"--before {before}: after the run's day ({options.today}) — only the "
                      "past is archived")
            _exit(ExitCode.BAD_CONFIG)
        options = replace(options, archive_before=cutoff)
    elif settings.workbook.archive_after_months == 0:
        out.print("workbook.archive_after_months is 0 (never): nothing moves; give --before "
                  "YYYY-MM-DD to archive once")
        _exit(ExitCode.OK)
    setup_logging(settings, options.progress, dry_run=options.dry_run)
    report = run(settings, options)
    _summary(report, options)
    _exit(report.exit_code)


def _restore(settings: Config, number: str, dry_run: bool) -> ExitCode:
    from ispsheets.archive.restore import restore_invoice, rows_of_invoice
    from ispsheets.book.backend import WorkbookReadError
    from ispsheets.book.changes import WorkbookWriteError
    from ispsheets.journal import Journal, JournalError
    from ispsheets.lock import AlreadyRunning, CannotLock, run_lock

    try:
        journal = Journal.open(settings.journal_path, trust_seal=True)
    except JournalError as exc:
        err.print(f"{settings.paths.journal}: the journal {exc} — nothing was done; run "
                  "`ispsheets recover-journal` first")
        return ExitCode.BAD_CONFIG
    try:
        if dry_run:
            rows = Counter(r.tab for r in rows_of_invoice(journal, number))
            out.print(f"dry run, nothing changed: {number} would come back with "
                      + (", ".join(f"{n} {tab}" for tab, n in rows.items()) or "nothing"))
            return ExitCode.OK
        now = dt.datetime.now(settings.tz).replace(tzinfo=None, microsecond=0)
        with run_lock(settings.journal_path.with_suffix(".lock")):
            restored = restore_invoice(settings, journal, number, now)
    except (AlreadyRunning, CannotLock) as exc:
        err.print(f"{number}: {exc} — nothing was done; try again when the run is over")
        return ExitCode.WRITE_FAILED
    except WorkbookReadError as exc:
        print_problems([exc.problem])
        return ExitCode.BAD_CONFIG
    except WorkbookWriteError as exc:
        err.print(f"{exc.where}: {exc.message} — {exc.fix}; run the same command again")
        return ExitCode.WRITE_FAILED
    finally:
        journal.close()
    if restored.problem is not None:
        print_problems([restored.problem])
        return ExitCode.BAD_CONFIG
    out.print(f"{number} is back in the workbook: "
              + ", ".join(f"{n} {tab} row{'s' if n != 1 else ''}"
                          for tab, n in restored.rows.items())
              + "; it stays there (the archive does not move it again)")
    return ExitCode.OK


@app.command()
def rebill(invoice_number: Annotated[str, typer.Argument(help="a voided invoice, e.g. INV-00042")],
           config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """Bill again, on the next run, what a voided invoice had billed (its service periods and
    charges). Without this, voiding an invoice never bills its periods twice."""
    from ispsheets.journal import Journal, JournalError

    settings = _load(config)
    try:
        journal = Journal.open(settings.journal_path, trust_seal=True)
    except JournalError as exc:
        err.print(f"{settings.paths.journal}: the journal {exc} — nothing was done; run "
                  "`ispsheets recover-journal` first")
        _exit(ExitCode.BAD_CONFIG)
    if journal.archive_states().get(("Invoices", invoice_number)) in ("copying", "copied",
                                                                      "removed"):
        journal.close()
        err.print(f"{invoice_number}: is in the archive (archive/), not in the workbook — bring "
                  f"it back with `ispsheets archive --restore {invoice_number}`, void it there, "
                  "run once, then rebill it")
        _exit(ExitCode.BAD_CONFIG)
    try:
        released = journal.release_billed(invoice_number)
    except JournalError as exc:
        err.print(f"{invoice_number}: {exc} — set its status to void in the Invoices tab and "
                  "run ispsheets once, then rebill it")
        _exit(ExitCode.BAD_CONFIG)
    finally:
        journal.close()
    out.print(f"{invoice_number}: {released} billed item(s) released; the next run bills them "
              "again")


@app.command()
def portal(config: ConfigOption = Path(CONFIG_NAME),
           host: Annotated[str, typer.Option("--host", help="address to listen on")] =
           "127.0.0.1",
           port: Annotated[int, typer.Option("--port", min=1, max=65535,
                                             help="port to listen on")] = 8080) -> None:
    """Serve the client portal (balance, invoices, payments, autopay) until stopped. Put it
    behind your HTTPS proxy and set portal.base_url (see deploy/)."""
    from ispsheets.portal.context import PortalSetupError
    from ispsheets.portal.serve import serve

    settings = _load(config)
    try:
        serve(settings, host, port)
    except PortalSetupError as exc:
        err.print(str(exc))
        _exit(ExitCode.BAD_CONFIG)
    except OSError as exc:
        err.print(f"--port {port}: cannot listen on {host}:{port} ({exc.strerror or exc}) — "
                  "choose another port with --port, or stop what uses it")
        _exit(ExitCode.BAD_CONFIG)


@app.command("recover-journal")
def recover_journal(config: ConfigOption = Path(CONFIG_NAME),
                    dry_run: DryRunOption = False,
                    force: Annotated[bool, typer.Option(
                        "--force", help="rebuild even a journal that looks sound")] = False,
                    ) -> None:
    """Rebuild a deleted, emptied or damaged journal from the workbook (invoices, billed
    periods, charges, payments, and what was sent), so no number, bill, email or fee repeats.
    The old file is kept beside it."""
    from ispsheets.recovery.command import recover

    settings = _load(config)
    now = dt.datetime.now(settings.tz).replace(tzinfo=None, microsecond=0)
    outcome = recover(settings, now, dry_run=dry_run, force=force)
    print_problems(outcome.problems)
    for line in outcome.lines:
        out.print(line)
    if outcome.failed:
        _exit(ExitCode.BAD_CONFIG)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point. Called with no `argv` (as `ispsheets` and
    `python -m ispsheets`), the command runs in a process of its own, which `end_process`
    ends."""
    if argv is not None:
        app(args=list(argv), prog_name="ispsheets")
        return
    end_process(run_command_line(sys.argv[1:]))


def run_command_line(argv: Sequence[str]) -> int:
    """Run one command with the cycle collector off; its exit status.

    A run holds millions of small objects; with the collector on, turning it back on at the end
    costs a full collection over all of them (2 s for 20,000 clients with a year), for garbage
    the process's end frees anyway. Worker processes collect their own (see `runner.run`).
    """
    gc.disable()
    try:
        app(args=list(argv), prog_name="ispsheets")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        err.print(f"error ispsheets {_command(argv)}: interrupted — run it again: {NOTHING_LOST}")
        return 130
    except Exception as exc:  # the last resort: one line, the traceback in a file
        return last_resort(exc, argv)
    return 0


_JOURNALED = ("run", "invoice", "send", "reconcile", "remind", "report")  # keyed side effects


def _command(argv: Sequence[str]) -> str:
    return next((a for a in argv if not a.startswith("-")), "")


def last_resort(exc: Exception, argv: Sequence[str]) -> int:
    """An error nothing else expected: one `where: what — fix` line on stderr, the traceback
    in the log file (or a file of its own), exit 3. Side effects are journaled before they
    happen, so a run stopped here loses nothing and sends nothing twice."""
    import tempfile
    import traceback

    from ispsheets.failures import innermost
    from ispsheets.logs import log_file

    details = log_file()
    if details is not None:
        logging.getLogger("ispsheets").error("stopped by an unexpected error", exc_info=exc)
    else:
        try:
            with tempfile.NamedTemporaryFile("w", prefix="ispsheets-error-", suffix=".txt",
                                             delete=False, encoding="utf-8") as handle:
                handle.write("".join(traceback.format_exception(exc)))
            details = handle.name
        except OSError:
            details = None
    at = innermost(exc)
    where = f"ispsheets {_command(argv)}".rstrip()
    text = str(exc).splitlines()[0] if str(exc) else ""
    what = f"stopped by an unexpected error ({type(exc).__name__}{': ' + text if text else ''})"
    told = (f"send {details} (it holds the details) to whoever supports your ispsheets"
            if details else "report it to whoever supports your ispsheets")
    again = f"run it again: {NOTHING_LOST}" if _command(argv) in _JOURNALED else \
        "run it again"
    err.print(f"error {where}: {what}{' at ' + at if at else ''} — {again}; if it fails "
              f"again, {told}", markup=False, highlight=False)
    return int(ExitCode.WRITE_FAILED)


def end_process(code: int) -> NoReturn:
    """Flush what the command wrote (output, log file) and end the process now, without
    freeing its objects one by one (seconds, for a big business's run)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or gone: nothing to say
            stream.flush()
    os._exit(code)
