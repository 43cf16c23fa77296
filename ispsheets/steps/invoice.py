"""Issue the invoices that are due: the billing plan, numbered and recorded in one transaction."""

from __future__ import annotations

from ispsheets.billing.invoicing import BilledState, BillingRules, plan_invoices
from ispsheets.faults import checkpoint
from ispsheets.money import format_money
from ispsheets.steps.cycle import Cycle
from ispsheets.steps.reconcile import allocate_payments


def skipped_clients(cycle: Cycle) -> frozenset[str]:
    """Clients not billed this run: suspended ones, when billing stops during suspension."""
    if cycle.config.collections.bill_while_suspended:
        return frozenset()
    return frozenset(c.client_id for c in cycle.book.clients if c.status == "suspended")


def issue_invoices(cycle: Cycle) -> None:
    rules = BillingRules.from_config(cycle.config)
    voided = [r.invoice.invoice_number for r in cycle.journal.invoices() if r.voided]
    state = BilledState.from_billed(cycle.journal.billed(), cycle.journal.peek_seq("invoice"),
                                    voided)
    plan = plan_invoices(cycle.book, rules, cycle.today, state, skipped_clients(cycle))
    for problem in plan.problems:
        cycle.problem(problem)
    if not plan.invoices:
        return
    with cycle.journal.transaction():
        cycle.journal.record_invoices([(p.invoice, p.seq, p.billed) for p in plan.invoices],
                                      cycle.now)
        for planned in plan.invoices:
            invoice = planned.invoice
            cycle.log("invoice_issued", invoice.client_id, invoice.invoice_number,
                      f"{format_money(invoice.total, cycle.config.currency)}, "
                      f"{len(invoice.lines)} line(s), due {invoice.due_date.isoformat()}")
    checkpoint("invoices-recorded")
    cycle.issued.extend(p.invoice for p in plan.invoices)
    cycle.report.issued.extend(p.invoice for p in plan.invoices)
    cycle.report.counts["invoices issued"] += len(plan.invoices)
    allocate_payments(cycle)  # credit on account pays the new invoices
