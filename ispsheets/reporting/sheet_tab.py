"""The report's summary as the rows of a `Report` tab in the Google Sheet (`workbook.report_tab`):
the metrics table the report workbook shows first, as values (numbers and text; the day as
YYYY-MM-DD text, so it reads as a date with no format to set)."""

from __future__ import annotations

from ispsheets.reporting import metrics
from ispsheets.reporting.inputs import ReportInput

REPORT_TAB = "Report"
HEADER = ["Metric", "Value", "Target", "How it is computed"]


def report_tab_rows(data: ReportInput) -> list[list[object]]:
    """Title, the day, then one row per metric (n/a where it cannot be computed)."""
    title = "Billing summary (ispsheets writes this tab each run: edits here are replaced)"
    rows: list[list[object]] = [[title], ["As of", data.as_of.isoformat()], [], list(HEADER)]
    for metric in metrics.summary(data):
        value: object = "n/a" if metric.value is None else metric.value
        rows.append([metric.name, value, metric.target, metric.formula])
    return rows
