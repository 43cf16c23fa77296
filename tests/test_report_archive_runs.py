"""The report a business sees is the same with or without the archive, when the run gives it
only the live records and the archive's figures.

The story of tests/test_archive.py (four clients, fourteen months) run twice through real
runs: once keeping everything (archive_after_months 0), once archiving after 2 months with the
archive's checkpoint written as rows are keyed to move and the report given only what is not
archived, as runs will (both stand in here for the wiring the runner gets). Every report both
runs kept (each month's last and the latest days) must hold the same cells.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from ispsheets.archive.book import archived_keys
from ispsheets.archive.checkpoint import Frozen, freeze
from ispsheets.book.reader import read_xlsx
from ispsheets.reporting.archived import load_figures
from ispsheets.reporting.inputs import ReportInput, first_shown
from ispsheets.steps import archive as archive_step
from ispsheets.steps import report as report_step
from tests.scenario import Business
from tests.test_archive import _days, _rows, _set_months, _typed_before

pytestmark = pytest.mark.slow  # fourteen months, twice: ~30 s

RUN_DAYS = (10, 24, 30)  # over test_archive's FIRST to LAST


def _story(business: Business) -> Business:
    for day in _days(RUN_DAYS):
        for client, amount, when in _typed_before(day):
            business.pay(client, amount, when)
        report = business.run(day)
        assert report.exit_code.value <= 1, report.problems
    return business


GIVEN: list[ReportInput] = []  # what the archived business's reports were computed from
TODAY: list[ReportInput] = []  # the same days as runs give it today: everything, and figures


def _freeze_when_keyed(plan_archive):
    """The checkpoint written for the invoices and payments a move keys (the runner's job)."""
    def planned(cycle, raw, *args, **kwargs):  # (a round's cutoff, whether whole rows)
        plan = plan_archive(cycle, raw, *args, **kwargs)
        if plan is not None and plan.moves:
            invoices = {m.key for m in plan.moves if m.tab == "Invoices"}
            payments = {m.key for m in plan.moves if m.tab == "Payments"}
            freeze(cycle.journal, Frozen(
                [i for i in cycle.ledger.invoices if i.invoice_number in invoices],
                [p for p in cycle.book.payments if p.payment_id in payments],
                cycle.allocation))
        return plan
    return planned


def _live_only(report_input):
    """The report given only what is not archived (as the runner will), and the figures."""
    def given(cycle):
        data = report_input(cycle)
        TODAY.append(data)
        moved = archived_keys(cycle.journal)
        numbers, ids = moved.invoice_numbers(), moved.of("Payments")
        invoices = tuple(i for i in data.invoices if i.invoice_number not in numbers)
        payments = tuple(p for p in data.payments if p.payment_id not in ids)
        data = replace(data, invoices=invoices, payments=payments,
                       paid_on={n: d for n, d in data.paid_on.items() if n not in numbers},
                       archived=load_figures(cycle.journal, first_shown(data.as_of), invoices,
                                             payments))
        GIVEN.append(data)
        return data
    return given


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Business, Business]:
    kept = Business.create(tmp_path_factory.mktemp("kept"), _rows())
    _set_months(kept, 0)
    _story(kept)
    archived = Business.create(tmp_path_factory.mktemp("archived"), _rows())
    _set_months(archived, 2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(archive_step, "_plan", _freeze_when_keyed(archive_step._plan))
        patch.setattr(report_step, "report_input", _live_only(report_step.report_input))
        _story(archived)
    return kept, archived


def _reports(business: Business) -> dict[str, dict[str, list]]:
    return {path.name: {name: sheet.rows for name, sheet in read_xlsx(path).sheets.items()}
            for path in sorted((business.folder / "reports").glob("*.xlsx"))}


def test_the_archive_was_used(pair) -> None:
    """Not a test of nothing: the last reports were given no archived record, and their
    months hold archived invoices and payments, read from the figures."""
    _, archived = pair
    last = GIVEN[-1]
    assert len(archived.sheet("Invoices")) < len(pair[0].sheet("Invoices"))
    assert last.archived.invoices and last.archived.payments and last.archived.clients
    moved = {i.invoice_number for i in last.archived.invoices}
    assert not moved & {i.invoice_number for i in last.invoices}
    assert all(p.date >= first_shown(last.as_of) for p in last.archived.payments)


def test_every_report_is_the_same(pair) -> None:
    kept, archived = pair
    with_archive, without = _reports(archived), _reports(kept)
    assert len(without) > 12 and with_archive.keys() == without.keys()
    for name, sheets in without.items():
        for sheet, rows in sheets.items():
            assert with_archive[name][sheet] == rows, (name, sheet)


def test_records_both_live_and_archived_count_once(pair) -> None:
    """As runs give the report today (every record, archived or not) with the figures too:
    the same tables, day after day."""
    from tests.test_report_archived import _report

    assert len(TODAY) == len(GIVEN) and any(d.archived.invoices for d in TODAY)
    for everything, live in zip(TODAY, GIVEN, strict=True):
        assert _report(everything) == _report(live), everything.as_of


def test_client_history_starts_with_what_was_brought_forward(pair) -> None:
    _, archived = pair
    last = sorted((archived.folder / "reports").glob("*.xlsx"))[-1]
    rows = read_xlsx(last).sheets["Client history"].rows
    header, rows = [str(h) for h in rows[0]], rows[1:]
    kind, date = header.index("Kind"), header.index("Date")
    forward = [r for r in rows if r[kind] == "brought forward"]
    assert {r[0] for r in forward} == {"ONTIME", "LATE", "SPLIT", "STOPS"}
    assert min(r[date] for r in rows) == dt.date(2026, 2, 1)  # Feb 2026 – Jan 2027
