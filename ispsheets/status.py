"""`ispsheets status`: where the business stands and what the next run will do. Read-only."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections import defaultdict
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from ispsheets.config import Config
from ispsheets.journal import Journal, JournalError
from ispsheets.money import format_money
from ispsheets.problems import ExitCode, tally
from ispsheets.runner import STEPS, RunOptions, run

ZERO = Decimal("0")


def next_run_day(config: Config, today: dt.date) -> dt.date:
    """The day the next scheduled run will act as: today, unless today's run already happened
    (then tomorrow). After runs made with `--date` for later days, the day after the latest."""
    if not config.journal_path.exists() or not config.journal_path.stat().st_size:
        return today
    try:
        journal = Journal.open(config.journal_path, trust_seal=True)
        try:
            days = [dt.date.fromisoformat(run.key.removeprefix("run/"))
                    for run in journal.actions("run")]
        finally:
            journal.close()
    except (sqlite3.Error, OSError, JournalError):  # the dry run says what is wrong with it
        return today
    latest = max(days, default=None)
    return today if latest is None or latest < today else latest + dt.timedelta(days=1)


def _why(today: dt.date, day: dt.date) -> str:
    if day == today:
        return "today's run has not happened yet: below, the business after it and what it will do."
    if day == today + dt.timedelta(days=1):
        return (f"today's run is done: below, the business after the next one ({day}) and what "
                "it will do.")
    return (f"runs were made with --date up to {day - dt.timedelta(days=1)}: below, the "
            f"business after the run of {day} and what it will do.")


def show_status(config: Config, date: dt.date | None, out: Console) -> ExitCode:
    """The business as the run of one day will leave it, and what that run will do: the run of
    `date`, or without one of the next scheduled run (`next_run_day`), said first."""
    today = dt.datetime.now(config.tz).date()
    day = date or next_run_day(config, today)
    if date is None:
        out.print(f"Today is {today}; " + _why(today, day))
    now = dt.datetime.now(config.tz).replace(tzinfo=None, microsecond=0)
    report = run(config, RunOptions(today=day, now=now, dry_run=True,
                                    steps=tuple(s for s in STEPS if s != "report")))
    if report.snapshot is None:
        for problem in report.problems:
            out.print(str(problem))
        return report.exit_code
    money = lambda amount: format_money(amount, config.currency)  # noqa: E731
    invoices = [i for i in report.snapshot.invoices if i.status not in ("void", "held")]
    clients = {c.client_id: c for c in report.snapshot.clients}
    open_ = [i for i in invoices if (i.balance or ZERO) > 0]
    overdue = [i for i in open_ if i.due_date < day]

    totals = Table(title=f"ispsheets status after the run of {day}", title_justify="left",
                   show_header=False)
    totals.add_column("what")
    totals.add_column("amount", justify="right")
    totals.add_row("Clients (active / suspended)",
                   f"{sum(c.status == 'active' for c in clients.values())} / "
                   f"{sum(c.status == 'suspended' for c in clients.values())}")
    totals.add_row("Invoices issued",
                   str(len(invoices) + report.snapshot.archived_invoices))
    totals.add_row("Outstanding", money(sum((i.balance or ZERO for i in open_), ZERO)))
    totals.add_row("Overdue", money(sum((i.balance or ZERO for i in overdue), ZERO)))
    credit = sum((-b for b in report.snapshot.balances.values() if b < 0), ZERO)
    totals.add_row("Credit held for clients", money(credit))
    out.print(totals)

    per_client: dict[str, list] = defaultdict(list)
    for invoice in overdue:
        per_client[invoice.client_id].append(invoice)
    if per_client:
        table = Table(title="Overdue clients", title_justify="left")
        for column in ("client", "name", "status", "invoices", "days overdue", "overdue"):
            table.add_column(column, justify="right" if column in ("invoices", "days overdue",
                                                                   "overdue") else "left")
        rows = sorted(per_client.items(), key=lambda kv: min(i.due_date for i in kv[1]))
        for client_id, items in rows:
            client = clients.get(client_id)
            table.add_row(client_id, client.name if client else "",
                          client.status if client else "", str(len(items)),
                          str((day - min(i.due_date for i in items)).days),
                          money(sum((i.balance or ZERO for i in items), ZERO)))
        out.print(table)
    suspended = [c for c in clients.values() if c.status == "suspended"]
    if suspended:
        table = Table(title="Suspended clients", title_justify="left")
        table.add_column("client")
        table.add_column("name")
        table.add_column("balance", justify="right")
        for client in suspended:
            table.add_row(client.client_id, client.name,
                          money(report.snapshot.balances.get(client.client_id, ZERO)))
        out.print(table)

    if report.held:
        table = Table(title="Held invoices (not sent): set status to open in the Invoices tab "
                            "to send one, or void", title_justify="left")
        for column in ("invoice", "client", "issued", "total", "why"):
            table.add_column(column, justify="right" if column == "total" else "left")
        for invoice, reason in report.held:
            table.add_row(invoice.invoice_number, invoice.client_id,
                          invoice.issue_date.isoformat(), money(invoice.total), reason)
        out.print(table)
    _cards(config, today, out)

    plan = Table(title=f"What the run of {day} will do", title_justify="left")
    plan.add_column("action")
    plan.add_column("client")
    plan.add_column("detail")
    for invoice in report.issued:
        plan.add_row("invoice", invoice.client_id,
                     f"{money(invoice.total)}, {len(invoice.lines)} line(s)")
    for what, client, detail in report.plan:
        plan.add_row(what, client, detail)
    if plan.row_count:
        out.print(plan)
    else:
        out.print(f"The run of {day} has nothing to do.")
    _portal_activity(config, out)
    if report.unknown:
        table = Table(title="Emails of unknown fate: not sent again until you say",
                      title_justify="left")
        for column in ("email", "client", "what to do"):
            table.add_column(column)
        for record in report.unknown:
            table.add_row(record.key, record.client_id,
                          f"did it arrive? no: `ispsheets send --resend {record.key}`; "
                          f"yes: `ispsheets send --mark-sent {record.key}`")
        out.print(table)
    if sum(p.is_error for p in report.problems) > len(report.unknown):
        out.print(f"{tally(report.problems)} in the workbook: run `ispsheets check` to list "
                  "them")
    return ExitCode.OK if report.exit_code is ExitCode.OK else report.exit_code


PORTAL_WORDS = {"signin_requested": "sign-in link asked for", "signed_in": "signed in",
                "signed_out": "signed out", "autopay_enabled": "turned autopay on",
                "autopay_disabled": "turned autopay off", "payment_started": "started a payment",
                "payment_made": "paid by card", "card_update_started": "started a card update",
                "card_saved": "saved a card"}


def _portal_activity(config: Config, out: Console, days: int = 7) -> None:
    """What clients did in the portal over the last `days` days (when the portal is set up)."""
    if not config.portal.base_url:
        return
    from ispsheets.portal.store import Store

    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    events = Store(config.portal_folder).events(since=since)
    if not events:
        out.print(f"Portal: no client activity in the last {days} days.")
        return
    table = Table(title=f"Portal activity, last {days} days", title_justify="left")
    for column in ("when (UTC)", "client", "what"):
        table.add_column(column)
    for event in events[-20:]:
        table.add_row(event.at.strftime("%Y-%m-%d %H:%M"), event.client_id,
                      PORTAL_WORDS.get(event.kind, event.kind)
                      + (f" ({event.detail})" if event.detail else ""))
    out.print(table)
    if len(events) > 20:
        out.print(f"… and {len(events) - 20} earlier (logs/portal.log has every request)")


def _cards(config: Config, today: dt.date, out: Console) -> None:
    """Autopay clients and their cards, cards expiring, declined charges and their next try."""
    from ispsheets.payments.stripe.status import card_status

    cards = card_status(config, today)
    if cards is None:
        return
    if cards.autopay_clients:
        table = Table(title="Cards on file", title_justify="left")
        for column in ("client", "card", "expires"):
            table.add_column(column)
        month = today.strftime("%Y-%m")
        for client_id, label, expires in cards.autopay_clients:
            soon = "" if client_id not in cards.expiring else (
                " (this month)" if expires == month else " (expired)")
            table.add_row(client_id, label, expires + soon)
        out.print(table)
    if cards.failed:
        table = Table(title="Autopay charges that failed", title_justify="left")
        for column in ("invoice", "client", "outcome", "next try"):
            table.add_column(column)
        for row in cards.failed:
            table.add_row(*row)
        out.print(table)
