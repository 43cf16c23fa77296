"""The `ispsheets` command: parses arguments, calls the library, prints. Exit codes are stable.

0 all done · 1 done, but some rows were skipped (listed) · 2 bad config or arguments, nothing
done · 3 the workbook could not be written, nothing lost: the next run completes it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
import os
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from ispsheets import __version__
from ispsheets.config import CONFIG_NAME, Config, load_config
from ispsheets.logs import setup_logging
from ispsheets.problems import ExitCode, Problem
from ispsheets.runner import STEPS, RunOptions, RunReport, run
from ispsheets.steps.cycle import COUNTS, counted

app = typer.Typer(
    help="Billing automation for small ISPs that run their business from a spreadsheet.\n\n"
         "Exit status: 0 all done; 1 done, some rows skipped (listed); 2 bad config or "
         "arguments, nothing done; 3 the workbook could not be written (the next run "
         "completes it).",
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
    for path in written:
        out.print(f"wrote {path}")
    out.print(f"next: cd {folder} && ispsheets check")


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
    from ispsheets.scaffold import InitError
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
              f"\nNext: cd {folder} && {_self(folder)} status")


def _self(folder: Path) -> str:
    """How to call this ispsheets from inside `folder` (it may not be on the PATH)."""
    exe = Path(sys.argv[0]).resolve()
    if exe.name != "ispsheets" or shutil.which("ispsheets") == str(exe):
        return "ispsheets"
    return os.path.relpath(exe, folder.resolve())


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
    from ispsheets.book.check import read_and_check

    book, problems = read_and_check(settings)
    print_problems(problems)
    skipped = sum(p.is_error and p.message.startswith("row skipped") for p in problems)
    n_errors = sum(p.is_error for p in problems) - skipped
    if book is None:
        _exit(ExitCode.BAD_CONFIG)
    rows = f" ({skipped} row{'s' if skipped != 1 else ''} skipped)" if skipped else ""
    out.print(f"{len(book.clients)} clients, {len(book.services)} services, "
              f"{len(book.packages)} packages read; {n_errors} error(s){rows}, "
              f"{sum(not p.is_error for p in problems)} warning(s)")
    if n_errors:
        _exit(ExitCode.ROWS_SKIPPED)


def _summary(report: RunReport, options: RunOptions) -> None:
    from rich.table import Table

    from ispsheets.money import format_money

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
    if options.dry_run and report.plan:
        table = Table(title="What else the run would do", title_justify="left")
        for column in ("action", "client", "detail"):
            table.add_column(column)
        for what, client, detail in report.plan:
            table.add_row(what, client, detail)
        out.print(table)
    facts = [counted(report.counts[what], what) for what in COUNTS if report.counts[what]]
    if report.issued:
        facts.insert(1, f"{format_money(report.billed_total, report.currency)} billed")
    errors = sum(p.is_error for p in report.problems)
    if errors:
        facts.append(f"{errors} problem(s) listed above")
    prefix = "dry run, nothing changed: " if options.dry_run else f"{options.today}: "
    line = prefix + ("; ".join(facts) if facts else "nothing to do")
    out.print(line)
    logging.getLogger("ispsheets").info("done, exit %d: %s", report.exit_code, line)
    if report.report_file:
        out.print(f"report: {report.report_file}")


def _options(settings: Config, date: str | None, dry_run: bool, steps: tuple[str, ...],
             resend: tuple[str, ...] = ()) -> RunOptions:
    today = _today(settings, date)
    now = dt.datetime.now(settings.tz).replace(tzinfo=None, microsecond=0)
    return RunOptions(today=today, now=now, dry_run=dry_run, steps=steps,
                      progress=sys.stderr.isatty(), resend=resend)


def _run(config: Path, date: str | None, dry_run: bool, steps: tuple[str, ...],
         resend: tuple[str, ...] = (), write: bool = True) -> None:
    settings = _load(config)
    options = replace(_options(settings, date, dry_run, steps, resend), write=write)
    setup_logging(settings, options.progress)
    report = run(settings, options)
    _summary(report, options)
    _exit(report.exit_code)


@app.command("run")
def run_command(config: ConfigOption = Path(CONFIG_NAME), date: DateOption = None,
                dry_run: DryRunOption = False) -> None:
    """The daily cycle: payments, invoices, delivery, reminders, fees, suspensions,
    reconnections, write-back and the report. Put this in cron, once a day."""
    _run(config, date, dry_run, STEPS)


@app.command()
def invoice(config: ConfigOption = Path(CONFIG_NAME), date: DateOption = None,
            dry_run: DryRunOption = False) -> None:
    """Issue the invoices that are due (no email), and write them back."""
    _run(config, date, dry_run, ("invoice",))


@app.command()
def send(config: ConfigOption = Path(CONFIG_NAME), date: DateOption = None,
         dry_run: DryRunOption = False,
         resend: Annotated[list[str] | None, typer.Option(
             "--resend", help="send this message again although an earlier run may have sent "
                              "it (its key, as the problem listed it); repeatable")] = None,
         ) -> None:
    """Render and email the invoices (and receipts) not sent yet, and write back sent_at."""
    _run(config, date, dry_run, ("send",), tuple(resend or ()))


@app.command()
def reconcile(config: ConfigOption = Path(CONFIG_NAME), date: DateOption = None,
              dry_run: DryRunOption = False) -> None:
    """Allocate every payment to invoices and write balances, applied_to and unapplied back."""
    _run(config, date, dry_run, ("reconcile",))


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


@app.command()
def status(config: ConfigOption = Path(CONFIG_NAME), date: DateOption = None) -> None:
    """Balances, overdue and suspended clients, and what the next run will do (read-only)."""
    from ispsheets.status import show_status

    settings = _load(config)
    setup_logging(settings, True, to_file=False)  # read-only: no log file, no step lines
    _exit(show_status(settings, _today(settings, date) if date else None, out))


@app.command()
def rebill(invoice_number: Annotated[str, typer.Argument(help="a voided invoice, e.g. INV-00042")],
           config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """Bill again, on the next run, what a voided invoice had billed (its service periods and
    charges). Without this, voiding an invoice never bills its periods twice."""
    from ispsheets.journal import Journal, JournalError

    settings = _load(config)
    journal = Journal.open(settings.journal_path)
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
    return 0


def end_process(code: int) -> NoReturn:
    """Flush what the command wrote (output, log file) and end the process now, without
    freeing its objects one by one (seconds, for a big business's run)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or gone: nothing to say
            stream.flush()
    os._exit(code)
