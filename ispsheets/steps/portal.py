"""The run's side of the client portal: take in what clients chose there, publish what it shows.

Both do nothing unless `portal.base_url` is set. A choice (autopay on or off) is keyed once in
the journal, then written to `Clients.autopay` as a one-shot cell (the owner's later edit of the
cell wins) with an Activity row saying the client made it in the portal.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from ispsheets.delivery.document import safe_filename
from ispsheets.portal.store import CHOICE_KINDS, Store
from ispsheets.portal.tokens import account_token
from ispsheets.portal.view import build_view, publish
from ispsheets.steps.cycle import Cycle

CHOICE_VALUES = {"autopay_enabled": "yes", "autopay_disabled": "no"}


def portal_on(cycle: Cycle) -> bool:
    return bool(cycle.config.portal.base_url)


def account_link(cycle: Cycle, client_id: str, invoice_number: str) -> str:
    """The link in an email that opens the portal for this client (blank: no portal, or no
    secret set)."""
    portal = cycle.config.portal
    if not portal.base_url or not invoice_number:
        return ""
    if cycle.portal_secret is None:
        cycle.portal_secret = cycle.config.secret(portal.secret_env)
    secret = cycle.portal_secret
    if not secret:
        return ""
    return f"{portal.base_url}/a/{account_token(secret, client_id, invoice_number)}"


def take_portal_choices(cycle: Cycle) -> None:
    """Autopay choices made in the portal since they were last taken, each exactly once."""
    if not portal_on(cycle):
        return
    known = {c.client_id for c in cycle.book.clients}
    for event in Store(cycle.config.portal_folder).events(CHOICE_KINDS):
        if event.client_id not in known:
            continue
        key = f"portal/{event.at.isoformat()}/{event.client_id}/{event.kind}"
        with cycle.journal.transaction():
            if not cycle.journal.record_action(key, "portal_choice", event.client_id, "",
                                               cycle.now, event.kind):
                continue
            cycle.journal.add_cell_write("Clients", event.client_id, "autopay",
                                         CHOICE_VALUES[event.kind], cycle.now)
            cycle.log(event.kind, event.client_id, "", "by the client in the portal")
    pending = {w.row_key: w.value == "yes" for w in cycle.journal.unwritten_cell_writes()
               if w.tab == "Clients" and w.column == "autopay"}
    if pending:
        cycle.book = replace(cycle.book, clients=tuple(
            replace(c, autopay=pending[c.client_id]) if c.client_id in pending else c
            for c in cycle.book.clients))


def publish_portal_view(cycle: Cycle) -> None:
    """Write what the portal shows from what this run settled (not on a dry run)."""
    if not portal_on(cycle) or cycle.dry_run:
        return
    assert cycle.ledger is not None and cycle.allocation is not None
    ledger, allocation = cycle.ledger, cycle.allocation
    statuses = {w.row_key: w.value for w in cycle.journal.unwritten_cell_writes()
                if w.tab == "Clients" and w.column == "status"}
    view = build_view(
        clients=cycle.book.clients, invoices=ledger.invoices,
        paid_on={n: s.paid_on for n, s in allocation.invoices.items()},
        balances=ledger.client_balances, payments=cycle.book.payments,
        applied_to={pid: cells[0] for pid, cells in ledger.payment_cells.items()},
        statuses=statuses,
        suspended_on={cid: day for cid, (_, day) in cycle.journal.suspensions().items()},
        pdf_names={i.invoice_number: safe_filename(i.invoice_number) + ".pdf"
                   for i in ledger.invoices},
        today=cycle.today, now=dt.datetime.now(dt.UTC),
        currency=cycle.config.currency,
        suspend_after_days=cycle.config.collections.suspend_after_days,
        suspend_min_balance=cycle.config.collections.suspend_min_balance)
    publish(view, cycle.config.portal_folder)
