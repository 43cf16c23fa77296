"""What reminders and receipts say must be true: only what is overdue is asked for, no
"despite our reminders" without reminders, no suspension threat to a suspended client."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from tests.scenario import Business, row

D = Decimal


def _business(tmp_path, *, due_days: int = 30, start=dt.date(2026, 11, 1)) -> Business:
    rows = {
        "Packages": [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                         interval="monthly")],
        "Clients": [row("Clients", client_id="AMY", name="Amy Ames", email="amy@x.example")],
        "Services": [row("Services", service_id="S-AMY", client_id="AMY", package_id="HOME",
                         start_date=start)],
    }
    return Business.create(tmp_path, rows, config=f"invoicing: {{due_days: {due_days}}}\n")


def _reminders(business: Business):
    return [m for m in business.mails_to("AMY") if m.kind == "reminder"]


def test_a_final_notice_asks_49_99_overdue_and_shows_the_invoice_not_due_yet_apart(tmp_path):
    # INV-00001 issued Oct 31, due Nov 30; INV-00002 issued Nov 30, due Dec 30.
    business = _business(tmp_path)
    business.run_days(dt.date(2026, 10, 31), dt.date(2026, 12, 14))
    final = _reminders(business)[-1]
    assert final.day == dt.date(2026, 12, 14)
    assert final.subject == "Final notice: please pay $49.99 to avoid suspension on Dec 21, 2026"
    overdue, _, coming = final.text.partition("Not due yet, for your information:")
    assert "INV-00001" in overdue and "14 days overdue" in overdue
    assert "INV-00002" not in overdue and "0 days overdue" not in final.text
    assert "INV-00002" in coming and "Dec 30, 2026" in coming
    assert "If we do not receive $49.99 by Dec 21, 2026" in final.text
    assert "Despite our reminders" in final.text  # the due notice and two reminders went out


def test_a_final_notice_without_earlier_reminders_does_not_say_despite_our_reminders(tmp_path):
    business = _business(tmp_path)
    business.run(dt.date(2026, 10, 31))
    business.run(dt.date(2026, 12, 14))  # nobody ran the tool in between
    [final] = _reminders(business)
    assert final.subject.startswith("Final notice")
    assert "Despite our reminders" not in final.text
    assert "FINAL NOTICE. The following invoice is still unpaid" in final.text


def test_a_suspended_client_is_told_how_to_be_reconnected_never_threatened(tmp_path):
    business = _business(tmp_path, due_days=15)
    # INV-00001 due Nov 15: suspended Dec 6; INV-00002 (due Dec 15) reaches its final notice
    # on Dec 29 while the client is still suspended.
    business.run_days(dt.date(2026, 10, 31), dt.date(2026, 12, 29))
    assert business.clients()["AMY"].status == "suspended"
    after = [m for m in _reminders(business) if m.day and m.day > dt.date(2026, 12, 6)]
    assert after, "a reminder went out while suspended"
    for mail in after:
        assert "to avoid suspension" not in mail.subject + mail.text
        assert "will be suspended" not in mail.text
    final = after[-1]  # INV-00001 49.99 + INV-00002 49.99 with its 5.00 late fee for INV-00001
    assert final.subject == "Your service is suspended: pay $104.98 to be reconnected"
    assert "a reconnection fee of $10.00 is added to your next invoice" in final.text


def test_a_receipt_for_more_than_was_owed_says_you_have_a_credit(tmp_path):
    business = _business(tmp_path)
    business.run(dt.date(2026, 10, 31))
    business.pay("AMY", "62.63", dt.date(2026, 11, 2))
    business.run(dt.date(2026, 11, 2))
    [receipt] = [m for m in business.mails_to("AMY") if m.kind == "receipt"]
    assert "You have a credit of $12.64, used on your next invoices." in receipt.text
    assert "-$12.64" not in receipt.text


def test_a_receipt_that_settles_everything_says_paid_in_full(tmp_path):
    business = _business(tmp_path)
    business.run(dt.date(2026, 10, 31))
    business.pay("AMY", "49.99", dt.date(2026, 11, 2))
    business.run(dt.date(2026, 11, 2))
    [receipt] = [m for m in business.mails_to("AMY") if m.kind == "receipt"]
    assert "Your account is paid in full." in receipt.text
