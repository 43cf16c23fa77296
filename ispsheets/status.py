"""`ispsheets status`: where the business stands and what the next run will do. Read-only."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from ispsheets.config import Config
from ispsheets.journal import Journal
from ispsheets.money import format_money
from ispsheets.problems import ExitCode
from ispsheets.runner import STEPS, RunOptions, run

ZERO = Decimal("0")


def next_run_day(config: Config, today: dt.date) -> dt.date:
    """Today, unless today's run already happened: then tomorrow."""
    if not config.journal_path.exists():
        return today
    journal = Journal.open(config.journal_path)
    try:
        done = journal.action(f"run/{today.isoformat()}") is not None
    finally:
        journal.close()
    return today + dt.timedelta(days=1) if done else today


def show_status(config: Config, date: dt.date | None, out: Console) -> ExitCode:
    """As of `date` (default today in the configured timezone); the next run is `date`'s, or
    without a date today's, or tomorrow's if today's already happened."""
    today = date or dt.datetime.now(config.tz).date()
    day = date or next_run_day(config, today)
    now = dt.datetime.now(config.tz).replace(tzinfo=None, microsecond=0)
    report = run(config, RunOptions(today=day, now=now, dry_run=True,
                                    steps=tuple(s for s in STEPS if s != "report")))
    if report.snapshot is None:
        for problem in report.problems:
            out.print(str(problem))
        return report.exit_code
    money = lambda amount: format_money(amount, config.currency)  # noqa: E731
    invoices = [i for i in report.snapshot.invoices if i.status != "void"]
    clients = {c.client_id: c for c in report.snapshot.clients}
    open_ = [i for i in invoices if (i.balance or ZERO) > 0]
    overdue = [i for i in open_ if i.due_date < today]

    totals = Table(title=f"ispsheets status, {today}", title_justify="left", show_header=False)
    totals.add_column("what")
    totals.add_column("amount", justify="right")
    totals.add_row("Clients (active / suspended)",
                   f"{sum(c.status == 'active' for c in clients.values())} / "
                   f"{sum(c.status == 'suspended' for c in clients.values())}")
    totals.add_row("Invoices issued", str(len(invoices)))
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
                          str((today - min(i.due_date for i in items)).days),
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
    errors = [p for p in report.problems if p.is_error]
    if errors:
        out.print(f"{len(errors)} problem(s) in the workbook: run `ispsheets check` to list them")
    return ExitCode.OK if report.exit_code is ExitCode.OK else report.exit_code


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
