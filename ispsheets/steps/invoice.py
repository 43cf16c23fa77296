"""Issue the invoices that are due: the billing plan, numbered and recorded in one transaction."""

from __future__ import annotations

import json
from dataclasses import replace

from ispsheets.billing.archived import billed_state as archived_billed_state
from ispsheets.billing.holds import HoldRules, hold_reason
from ispsheets.billing.invoicing import BilledState, BillingRules, plan_invoices
from ispsheets.faults import checkpoint
from ispsheets.journal import Billed
from ispsheets.ledger import HELD
from ispsheets.money import format_money
from ispsheets.problems import warning
from ispsheets.steps.cycle import Cycle

HELD_FIX = ("check it (and the cells it was billed from); set its status to open in the "
            "Invoices tab to send it, or to void to cancel it")
WAIVED = "(waived)"  # stands for the invoice number of a period waived during a suspension


def skipped_clients(cycle: Cycle) -> frozenset[str]:
    """Clients not billed this run: suspended ones, when billing stops during suspension."""
    if cycle.config.collections.bill_while_suspended:
        return frozenset()
    return frozenset(c.client_id for c in cycle.book.clients if c.status == "suspended")


def billed_state(cycle: Cycle) -> BilledState:
    """What the journal says was billed, waived periods included (never billed, never
    credited)."""
    waived = [(Billed("period", a.key.removeprefix("waived/"), json.loads(a.detail)), WAIVED)
              for a in cycle.journal.actions("waived", "done")]
    return archived_billed_state(cycle.journal, cycle.book, waived, [WAIVED])


def waive_suspended_periods(cycle: Cycle, rules: BillingRules, state: BilledState,
                            skipped: frozenset[str]) -> None:
    """With billing stopped during suspension, the periods a suspended client would be billed
    today are waived for good: reconnection bills from the period it falls in, not the months
    the service was off. Their charges wait for the next invoice."""
    if not skipped:
        return
    only = replace(cycle.book, charges=(), services=tuple(
        s for s in cycle.book.services if s.client_id in skipped))
    plan = plan_invoices(only, rules, cycle.today, state)
    periods = [(p.invoice.client_id, b) for p in plan.invoices for b in p.billed
               if b.kind == "period"]
    if not periods or cycle.dry_run:
        for client_id, billed in periods:
            cycle.plan("waive", client_id, f"{billed.key} (suspended)")
        return
    with cycle.journal.transaction():
        for client_id, billed in periods:
            cycle.journal.record_action(f"waived/{billed.key}", "waived", client_id, "",
                                        cycle.now, json.dumps(billed.data))


def issue_invoices(cycle: Cycle) -> None:
    rules = BillingRules.from_config(cycle.config)
    state = billed_state(cycle)
    skipped = skipped_clients(cycle)
    waive_suspended_periods(cycle, rules, state, skipped)
    plan = plan_invoices(cycle.book, rules, cycle.today, state, skipped)
    for problem in plan.problems:
        cycle.problem(problem)
    if not plan.invoices:
        return
    hold_rules = HoldRules.from_config(cycle.config)
    held = {p.invoice.invoice_number: reason for p in plan.invoices
            if (reason := hold_reason(p, hold_rules))}
    with cycle.journal.transaction():
        cycle.journal.record_invoices([(p.invoice, p.seq, p.billed) for p in plan.invoices],
                                      cycle.now)
        for planned in plan.invoices:
            invoice = planned.invoice
            number = invoice.invoice_number
            cycle.log("invoice_issued", invoice.client_id, number,
                      f"{format_money(invoice.total, cycle.config.currency)}, "
                      f"{len(invoice.lines)} line(s), due {invoice.due_date.isoformat()}")
            if number in held:
                cycle.journal.record_action(f"{HELD}/{number}", HELD, invoice.client_id,
                                            number, cycle.now, held[number])
                cycle.log("invoice_held", invoice.client_id, number, held[number])
    checkpoint("invoices-recorded")
    for number, reason in held.items():
        cycle.problem(warning(f"Invoices {number}", f"held, not sent: {reason}",
                              HELD_FIX))
    cycle.issued.extend(p.invoice for p in plan.invoices)
    cycle.report.issued.extend(p.invoice for p in plan.invoices if p.invoice.invoice_number
                               not in held)
    cycle.report.counts["invoices issued"] += len(plan.invoices) - len(held)
    cycle.report.counts["invoices held"] += len(held)
