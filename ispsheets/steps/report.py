"""The last step: the report workbook in `reports/`, from the same records the run used."""

from __future__ import annotations

from ispsheets.reporting.inputs import ReportInput
from ispsheets.reporting.workbook import write_report
from ispsheets.steps.cycle import Cycle


def report_input(cycle: Cycle) -> ReportInput:
    assert cycle.allocation is not None
    paid_on = {number: state.paid_on for number, state in cycle.allocation.invoices.items()
               if state.paid_on is not None}
    invoices = cycle.ledger.invoices if cycle.ledger else tuple(cycle.invoices)
    return ReportInput(as_of=cycle.today, currency=cycle.config.currency,
                       clients=cycle.book.clients, packages=cycle.book.packages,
                       services=cycle.book.services, invoices=tuple(invoices),
                       payments=cycle.book.payments, paid_on=paid_on,
                       suspensions=tuple(cycle.journal.suspension_history()))


def write_report_step(cycle: Cycle) -> None:
    folder = cycle.config.path(cycle.config.paths.reports)
    if cycle.dry_run:
        cycle.plan("report", "", f"would write {folder.name}/ispsheets-report-"
                                 f"{cycle.today.isoformat()}.xlsx")
        return
    path = write_report(report_input(cycle), folder)
    cycle.report.report_file = str(path)
