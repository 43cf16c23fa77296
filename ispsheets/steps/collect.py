"""Collections: reminders, late fees, suspensions and reconnections, from pure plans.

Every decision is recorded in the journal in one transaction together with the effects it
calls for (an email, a provisioning command), queued as `effect` actions; `run_effects` then
performs what is queued, and whatever fails stays queued for the next run. So a kill at any
point neither loses nor repeats a fee, a suspension, an email or a command.
"""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from ispsheets.book.records import Client, Invoice
from ispsheets.collections.holds import held_clients
from ispsheets.collections.late_fees import plan_late_fees
from ispsheets.collections.overdue import balance_of
from ispsheets.collections.provisioning import render_command
from ispsheets.collections.reminders import ReminderNotice, plan_reminders
from ispsheets.collections.suspension import (
    Reconnect,
    Suspend,
    ToolSuspension,
    plan_suspensions,
)
from ispsheets.faults import checkpoint
from ispsheets.ids import CHARGE_ID
from ispsheets.money import format_money
from ispsheets.problems import Problem, warning
from ispsheets.steps.cycle import Cycle
from ispsheets.steps.deliver import OutboxBatch, send_queued_email, send_reminder
from ispsheets.steps.uncertain import held_reminders, is_unknown

EFFECT = "effect"


@dataclass
class Holds:
    """Clients whose collections wait (see `collections/holds.py`), and what was held today."""

    rows: dict[str, tuple[str, ...]]
    held: dict[str, list[str]] = field(default_factory=dict)

    def hold(self, cycle: Cycle, client_id: str, what: str) -> bool:
        """True (and noted) if `what` for `client_id` must wait."""
        if client_id not in self.rows:
            return False
        self.held.setdefault(client_id, []).append(what)
        cycle.plan("held", client_id, f"{what}: {' and '.join(self.rows[client_id])} skipped")
        return True

    def tell(self, cycle: Cycle) -> None:
        """One warning per client whose collections were held today."""
        clients = cycle.book.client_map()
        for client_id, what in sorted(self.held.items()):
            rows = self.rows[client_id]
            client = clients.get(client_id)
            cycle.problem(warning(
                client.origin.cell("client_id") if client else rows[0],
                f"collections held for client {client_id} while "
                f"{' and '.join(rows)} {'is' if len(rows) == 1 else 'are'} skipped: "
                f"no {', no '.join(what)} today",
                "fix the row (see the problems above); the next run catches up"))


def _done(cycle: Cycle, kind: str) -> frozenset[str]:
    """Keys of the actions of `kind` done (those of archived invoices aside: settled, they
    get no fee, reminder or suspension again)."""
    return frozenset(a.key for a in cycle.journal.actions(kind, "done", live=True))


def _queue(cycle: Cycle, key: str, client_id: str, invoice_number: str,
           payload: dict[str, Any]) -> None:
    """Queue an effect (inside the caller's transaction); performed by `run_effects`."""
    cycle.journal.begin_action(key, EFFECT, client_id, invoice_number, cycle.now,
                               json.dumps(payload))


def _charge_row(cycle: Cycle, key: str, client_id: str, description: str, amount: Decimal,
                taxable: bool) -> str:
    """Queue a Charges row the tool adds (a fee); returns its charge_id."""
    taken = {c.charge_id for c in cycle.book.charges}
    charge_id = cycle.journal.assign_id("Charges", key, CHARGE_ID.format, taken)
    cycle.journal.add_tool_row(key, "Charges", {
        "charge_id": charge_id, "client_id": client_id, "date": cycle.today,
        "description": description, "amount": amount, "taxable": "yes" if taxable else "no"},
        cycle.now)
    return charge_id


@dataclass(frozen=True)
class UntoldFee:
    """A late fee added whose own email has not gone out: a reminder can tell it instead."""

    email_key: str
    invoice_number: str
    amount: Decimal


def untold_fees(cycle: Cycle) -> dict[str, list[UntoldFee]]:
    fees: dict[str, list[UntoldFee]] = defaultdict(list)
    for action in cycle.journal.actions(EFFECT, pending=True):
        if action.key.startswith("late_fee/"):
            payload = json.loads(action.detail)
            fees[action.client_id].append(UntoldFee(action.key, action.invoice_number,
                                                    Decimal(payload["amount"])))
    return fees


def owing(cycle: Cycle) -> list[Invoice]:
    """The invoices with anything left to pay: all that reminders, late fees and suspensions
    look at (the client's overall balance comes from the allocation)."""
    return [invoice for invoice in cycle.invoices if balance_of(invoice) > 0]


def reminders(cycle: Cycle, fees_by_client: dict[str, list[UntoldFee]],
              holds: Holds | None = None, invoices: Sequence[Invoice] | None = None) -> None:
    sent: dict[str, set[str]] = defaultdict(set)
    for number, stage in cycle.journal.reminded_stages():
        sent[number].add(stage)
    assert cycle.allocation is not None
    notices = plan_reminders(owing(cycle) if invoices is None else invoices,
                             cycle.book.clients, cycle.today,
                             cycle.config.collections.reminders,
                             cycle.config.collections.reminder_min_balance,
                             {k: frozenset(v) for k, v in sent.items()},
                             balances=cycle.allocation.client_balances)
    clients = cycle.book.client_map()
    held = held_reminders(cycle.journal)
    with contextlib.ExitStack() as stack:
        batch: OutboxBatch | None = None  # opened with the first reminder sent
        for notice in notices:
            if notice.client_id in held:
                continue  # reported by `settle_uncertain`; waits for the owner's word
            client = clients[notice.client_id]
            numbers = ", ".join(i.invoice_number for i in notice.items)
            if holds is not None and holds.hold(cycle, client.client_id,
                                                f"{notice.stage} reminder ({numbers})"):
                continue
            cycle.plan("reminder", client.client_id, f"{notice.stage}: {numbers}")
            if cycle.dry_run:
                continue
            if batch is None:
                batch = stack.enter_context(OutboxBatch(cycle, hold_back=True))
            fees = fees_by_client.get(client.client_id, [])
            batch.before()
            if send_reminder(cycle, notice, client, sum((f.amount for f in fees), Decimal("0")),
                             [f.invoice_number for f in fees]):
                record_reminder(cycle, notice, fees)
            batch.after()


def record_reminder(cycle: Cycle, notice: ReminderNotice, fees: list[UntoldFee]) -> None:
    """The stages it sent, and the late-fee emails it made unnecessary by mentioning them."""
    with cycle.journal.transaction():
        for fee in fees:
            cycle.journal.finish_action(fee.email_key, "done", "told in " + notice.key,
                                        cycle.now)
        for item in notice.items:
            cycle.journal.record_action(item.key, "reminder", notice.client_id,
                                        item.invoice_number, cycle.now, notice.key)
        cycle.log("reminder_sent", notice.client_id, notice.items[0].invoice_number,
                  f"{notice.stage}: {', '.join(i.invoice_number for i in notice.items)}")
    cycle.report.counts["reminders sent"] += 1


def late_fees(cycle: Cycle, holds: Holds | None = None,
              invoices: Sequence[Invoice] | None = None) -> None:
    """Add the late fees due as Charges rows, each with its email queued."""
    assert cycle.allocation is not None
    fees = plan_late_fees(owing(cycle) if invoices is None else invoices,
                          cycle.book.clients, cycle.today,
                          cycle.config.collections, _done(cycle, "late_fee"),
                          balances=cycle.allocation.client_balances,
                          currency=cycle.config.currency)
    for fee in fees:
        amount = format_money(fee.amount, cycle.config.currency)
        if holds is not None and holds.hold(cycle, fee.client_id,
                                            f"late fee for {fee.invoice_number}"):
            continue
        cycle.plan("late fee", fee.client_id, f"{amount} for {fee.invoice_number}")
        if cycle.dry_run:
            continue
        with cycle.journal.transaction():
            if not cycle.journal.begin_action(fee.key, "late_fee", fee.client_id,
                                              fee.invoice_number, cycle.now):
                continue
            charge_id = _charge_row(cycle, fee.key, fee.client_id, fee.description, fee.amount,
                                    fee.taxable)
            _queue(cycle, f"{fee.key}/email", fee.client_id, fee.invoice_number, {
                "type": "email", "kind": "late_fee", "invoices": [fee.invoice_number],
                "amount": str(fee.amount)})
            cycle.journal.finish_action(fee.key, "done", f"{charge_id} {fee.amount}", cycle.now)
            cycle.log("late_fee_added", fee.client_id, fee.invoice_number,
                      f"{charge_id} {amount}")
        checkpoint("fee-recorded")
        cycle.report.counts["late fees added"] += 1


def _command(cycle: Cycle, template: str, client: Client) -> str:
    services = ",".join(s.service_id for s in cycle.book.services
                        if s.client_id == client.client_id)
    return render_command(template, client, {"service_ids": services})


def suspend(cycle: Cycle, plan: Suspend, client: Client) -> None:
    provisioning = cycle.config.collections.provisioning
    with cycle.journal.transaction():
        if not cycle.journal.begin_action(plan.key, "suspend", client.client_id,
                                          plan.invoice_numbers[0], cycle.now):
            return
        for key in plan.keys:
            if key != plan.key:
                cycle.journal.record_action(key, "suspend_covered", client.client_id, "",
                                            cycle.now)
        cycle.journal.add_cell_write("Clients", client.client_id, "status", "suspended",
                                     cycle.now)
        cycle.journal.add_suspension(client.client_id, plan.key, cycle.today)
        if provisioning.suspend_command:
            _queue(cycle, f"{plan.key}/command", client.client_id, "", {
                "type": "command", "command": _command(cycle, provisioning.suspend_command,
                                                       client)})
        _queue(cycle, f"{plan.key}/email", client.client_id, plan.invoice_numbers[0], {
            "type": "email", "kind": "suspension", "invoices": list(plan.invoice_numbers),
            "amount": str(plan.overdue_balance)})
        cycle.journal.finish_action(plan.key, "done", cycle.today.isoformat(), cycle.now)
        cycle.log("client_suspended", client.client_id, plan.invoice_numbers[0],
                  f"{format_money(plan.overdue_balance, cycle.config.currency)} overdue "
                  f"({', '.join(plan.invoice_numbers)})")
    checkpoint("suspension-recorded")
    cycle.report.counts["clients suspended"] += 1


def reconnect(cycle: Cycle, plan: Reconnect, client: Client) -> None:
    provisioning = cycle.config.collections.provisioning
    with cycle.journal.transaction():
        if not cycle.journal.begin_action(plan.key, "reconnect", client.client_id, "",
                                          cycle.now):
            return
        cycle.journal.add_cell_write("Clients", client.client_id, "status", "active", cycle.now)
        cycle.journal.end_suspension(client.client_id)
        fee = ""
        if plan.fee > 0:
            charge_id = _charge_row(cycle, plan.key, client.client_id, plan.fee_description,
                                    plan.fee, plan.fee_taxable)
            fee = f"; {plan.fee_description.lower()} {charge_id} " \
                  f"{format_money(plan.fee, cycle.config.currency)}"
        if provisioning.restore_command:
            _queue(cycle, f"{plan.key}/command", client.client_id, "", {
                "type": "command", "command": _command(cycle, provisioning.restore_command,
                                                       client)})
        _queue(cycle, f"{plan.key}/email", client.client_id, "", {
            "type": "email", "kind": "reconnection", "fee": str(plan.fee)})
        cycle.journal.finish_action(plan.key, "done", cycle.today.isoformat(), cycle.now)
        cycle.log("client_reconnected", client.client_id, "", "nothing overdue any more" + fee)
    cycle.report.counts["clients reconnected"] += 1


def suspensions(cycle: Cycle, holds: Holds | None = None,
                invoices: Sequence[Invoice] | None = None) -> None:
    assert cycle.allocation is not None
    tool_suspended = {cid: ToolSuspension(cid, key, day)
                      for cid, (key, day) in cycle.journal.suspensions().items()}
    done = (_done(cycle, "suspend") | _done(cycle, "suspend_covered")
            | _done(cycle, "reconnect"))
    plan = plan_suspensions(owing(cycle) if invoices is None else invoices,
                            cycle.book.clients, cycle.today,
                            cycle.config.collections, tool_suspended, done,
                            balances=cycle.allocation.client_balances)
    clients = cycle.book.client_map()
    for release in plan.released:
        cycle.plan("released", release.client_id, f"status set to {release.status} by hand")
        if not cycle.dry_run:
            cycle.journal.end_suspension(release.client_id)
    statuses: dict[str, str] = {}
    for item in plan.suspend:
        if holds is not None and holds.hold(cycle, item.client_id, "suspension"):
            continue
        cycle.plan("suspend", item.client_id,
                   f"{format_money(item.overdue_balance, cycle.config.currency)} overdue")
        if not cycle.dry_run:
            suspend(cycle, item, clients[item.client_id])
        statuses[item.client_id] = "suspended"
    for item in plan.reconnect:
        cycle.plan("reconnect", item.client_id, "nothing overdue any more")
        if not cycle.dry_run:
            reconnect(cycle, item, clients[item.client_id])
        statuses[item.client_id] = "active"
    if statuses:
        cycle.book = replace(cycle.book, clients=tuple(
            replace(c, status=statuses[c.client_id]) if c.client_id in statuses else c
            for c in cycle.book.clients))


def _command_not_done(cycle: Cycle, email_key: str) -> bool:
    """Has the router command queued with this suspension or reconnection email not run yet
    (it failed and is retried)? Then the email, which says it happened, waits for it."""
    command = cycle.journal.action(f"{email_key.rsplit('/', 1)[0]}/command")
    return command is not None and command.state != "done"


def run_effects(cycle: Cycle) -> None:
    """Perform every queued effect not done yet: emails and provisioning commands."""
    from ispsheets.collections.provisioning import run_command

    timeout = cycle.config.collections.provisioning.timeout_seconds
    clients = cycle.book.client_map()
    for action in cycle.journal.actions(EFFECT, pending=True):
        payload = json.loads(action.detail)
        if payload["type"] == "email" and is_unknown(cycle, action.key):
            continue  # reported by `settle_uncertain`; waits for the owner's word
        if cycle.dry_run:
            cycle.plan(payload["type"], action.client_id, payload.get("command")
                       or payload.get("kind", ""))
            continue
        if payload["type"] == "command":
            result = run_command(payload["command"], timeout, cycle.config.base_dir)
            cycle.journal.finish_action(action.key, "done" if result.ok else "failed",
                                        action.detail, cycle.now)
            cycle.report.counts["commands run" if result.ok else "commands failed"] += 1
            if not result.ok:
                cycle.problem(Problem(
                    "config.yaml: collections.provisioning",
                    f"{action.key.rsplit('/', 1)[0]}: the command failed ({result.detail})",
                    "check the command and the router; it is tried again on the next run"))
            continue
        if _command_not_done(cycle, action.key):
            continue  # the email says the service was switched: not before it was
        client = clients.get(action.client_id)
        if client is None:
            cycle.problem(warning("Clients", f"client {action.client_id} is gone; the "
                                  f"{payload['kind']} email was not sent", "nothing to do"))
            cycle.journal.finish_action(action.key, "done", action.detail, cycle.now)
            continue
        if send_queued_email(cycle, action.key, client, payload):
            cycle.journal.finish_action(action.key, "done", action.detail, cycle.now)


def collect(cycle: Cycle) -> None:
    holds = Holds(held_clients(cycle.book.skipped, cycle.book.clients))
    invoices = owing(cycle)  # (collections change no invoice)
    late_fees(cycle, holds, invoices)
    reminders(cycle, untold_fees(cycle), holds, invoices)
    suspensions(cycle, holds, invoices)
    holds.tell(cycle)
    run_effects(cycle)
