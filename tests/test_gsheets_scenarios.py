"""The end-to-end scenarios written for the .xlsx, run a second time on a Google Sheet (the fake
Sheets service, through the real command's emulator address): the quarter, the owners' and
cron's edge cases, and the kill -9 tests.

The tests are the .xlsx modules' own functions, collected here again; only the backend differs
(ISPSHEETS_TEST_BACKEND=gsheets while this module runs). Left out: the edge cases that edit or
fingerprint the .xlsx file itself (Excel's lock file, openpyxl sorting, file digests); their
Google Sheet counterparts are in test_gsheets_backend.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.scenario import BACKEND_ENV
from tests.test_crash_safety import (  # noqa: F401  (fixtures and tests collected again)
    test_a_run_killed_at_a_step_boundary_is_completed_by_the_next_run,
    test_a_run_killed_between_two_outbox_emails_sends_each_once,
    undisturbed,
)
from tests.test_scenario_edges import (  # noqa: F401
    test_a_bad_row_skips_that_client_only_and_exits_1,
    test_a_voided_invoice_leaves_collections_and_is_not_billed_again_until_rebilled,
    test_a_week_without_runs_sends_one_reminder_at_the_latest_stage,
    test_invoices_tab_emptied_by_the_owner_is_restored_and_nothing_is_billed_twice,
    test_missed_billing_runs_bill_every_period_on_one_invoice_dated_the_run_day,
    test_owner_reactivating_a_suspended_client_is_respected,
    test_rebilling_a_voided_invoice_bills_its_charges_again_too,
    test_with_billing_stopped_while_suspended_the_months_off_are_never_billed,
)
from tests.test_scenario_quarter import (  # noqa: F401
    quarter,
    test_balances_add_up_every_day,
    test_bounced_check_reopens_the_invoice_and_reminders_resume_at_the_stage_due,
    test_every_run_of_the_quarter_finished_cleanly,
    test_invoice_email_carries_the_pdf_and_the_amount,
    test_never_payer_is_fined_suspended_then_reconnected_with_a_fee,
    test_on_time_payer_gets_invoices_and_receipts_and_no_reminder,
    test_over_payer_credit_pays_the_next_invoices_until_it_runs_out,
    test_owner_suspended_client_is_billed_and_reminded_but_never_touched,
    test_partial_payer_is_reminded_until_paid_then_never_again,
    test_partial_payment_shows_partial_between_payments,
    test_tax_exempt_school_pays_no_tax,
    test_the_workbook_agrees_with_the_journal_at_the_end,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def on_google_sheets() -> Iterator[None]:
    """Every Business of this module keeps its books on the fake Google Sheet."""
    before = os.environ.get(BACKEND_ENV)
    os.environ[BACKEND_ENV] = "gsheets"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(BACKEND_ENV, None)
        else:
            os.environ[BACKEND_ENV] = before


def test_these_scenarios_really_run_on_the_sheet(quarter):  # noqa: F811
    assert quarter.sheet_key and not quarter.workbook.exists()
    assert "google_sheet:" in (quarter.folder / "config.yaml").read_text()
