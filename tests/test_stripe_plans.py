"""The pure card rules: when autopay charges and retries, which pay links to make or drop."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ispsheets.book.records import Client, Invoice
from ispsheets.payments.stripe.plan import (
    Attempt,
    autopay_eligible,
    next_retry,
    plan_autopay,
    plan_links,
)

D = Decimal
ISSUED = dt.date(2026, 11, 30)
DUE = dt.date(2026, 12, 15)


def _invoice(number: str = "INV-1", balance: str = "49.99", status: str = "open",
             client: str = "A") -> Invoice:
    return Invoice(number, client, ISSUED, None, None, DUE, D("49.99"), D("0"), D("49.99"),
                   balance=D(balance), status=status)


CLIENTS = {"A": Client("A", "Ann", autopay=True), "B": Client("B", "Bob", autopay=False)}


def _plan(invoices, today, attempts=None, on="issue", cards=None):  # type: ignore[no-untyped-def]
    return plan_autopay(invoices, CLIENTS, cards if cards is not None else {"A": True, "B": True},
                        attempts or {}, today, on, (3, 7))


def test_autopay_needs_stripe_autopay_yes_a_card_and_an_invoice_not_held():
    client, invoice = CLIENTS["A"], _invoice()
    assert autopay_eligible(True, client, True, invoice)
    assert not autopay_eligible(False, client, True, invoice)
    assert not autopay_eligible(True, CLIENTS["B"], True, invoice)
    assert not autopay_eligible(True, client, False, invoice)
    assert not autopay_eligible(True, client, True, _invoice(status="held"))


def test_charged_on_the_issue_day_for_the_open_balance():
    [charge] = _plan([_invoice(balance="29.99", status="partial")], ISSUED)
    assert (charge.number, charge.amount, charge.key) == (1, D("29.99"), "autopay/INV-1/1")
    assert _plan([_invoice()], ISSUED - dt.timedelta(days=1)) == []


def test_autopay_on_due_waits_for_the_due_date():
    assert _plan([_invoice()], ISSUED, on="due") == []
    assert len(_plan([_invoice()], DUE, on="due")) == 1


def test_an_old_open_invoice_is_not_charged_by_surprise():
    assert len(_plan([_invoice()], ISSUED + dt.timedelta(days=7))) == 1
    assert _plan([_invoice()], ISSUED + dt.timedelta(days=8)) == []


def test_paid_void_and_non_autopay_invoices_are_left_alone():
    assert _plan([_invoice(balance="0", status="paid"), _invoice("INV-2", status="void"),
                  _invoice("INV-3", client="B")], ISSUED) == []
    assert _plan([_invoice()], ISSUED, cards={"A": False}) == []


def test_retries_3_and_7_days_after_the_first_decline_then_stop():
    first = [Attempt(1, "declined", ISSUED, D("49.99"))]
    assert next_retry(first, (3, 7)) == ISSUED + dt.timedelta(days=3)
    assert _plan([_invoice()], ISSUED + dt.timedelta(days=2), {"INV-1": first}) == []
    [retry] = _plan([_invoice()], ISSUED + dt.timedelta(days=3), {"INV-1": first})
    assert retry.number == 2
    second = [*first, Attempt(2, "declined", ISSUED + dt.timedelta(days=3), D("49.99"))]
    assert next_retry(second, (3, 7)) == ISSUED + dt.timedelta(days=7)
    third = [*second, Attempt(3, "declined", ISSUED + dt.timedelta(days=7), D("49.99"))]
    assert next_retry(third, (3, 7)) is None
    assert _plan([_invoice()], ISSUED + dt.timedelta(days=30), {"INV-1": third}) == []


def test_requires_action_is_never_retried():
    tried = [Attempt(1, "requires_action", ISSUED, D("49.99"))]
    assert next_retry(tried, (3, 7)) is None


def test_an_unanswered_attempt_is_sent_again_with_its_own_amount():
    pending = [Attempt(1, "pending", ISSUED, D("49.99"))]
    [again] = _plan([_invoice(balance="20.00", status="partial")], ISSUED + dt.timedelta(days=1),
                    {"INV-1": pending})
    assert (again.number, again.amount) == (1, D("49.99"))


def test_a_link_per_open_balance_replaced_when_the_balance_changes():
    plan = plan_links([_invoice(), _invoice("INV-2", balance="10.00", status="partial"),
                       _invoice("INV-3", balance="0", status="paid")], {}, True)
    assert plan.create == (("INV-1", "A", D("49.99")), ("INV-2", "A", D("10.00")))
    current = {"INV-1": ("k1", D("49.99")), "INV-2": ("k2", D("20.00")),
               "INV-3": ("k3", D("49.99"))}
    plan = plan_links([_invoice(), _invoice("INV-2", balance="10.00", status="partial"),
                       _invoice("INV-3", balance="0", status="paid")], current, True)
    assert plan.deactivate == (("k2", "INV-2"), ("k3", "INV-3"))
    assert plan.create == (("INV-2", "A", D("10.00")),)


def test_void_and_held_invoices_lose_their_link_and_links_off_makes_none():
    current = {"INV-1": ("k1", D("49.99")), "INV-2": ("k2", D("49.99"))}
    plan = plan_links([_invoice(status="void"), _invoice("INV-2", status="held")], current, True)
    assert plan.deactivate == (("k1", "INV-1"), ("k2", "INV-2")) and plan.create == ()
    assert plan_links([_invoice()], {}, False).create == ()


def test_a_stripe_time_is_dated_in_the_configured_time_zone():
    from zoneinfo import ZoneInfo

    from ispsheets.payments.stripe.api import from_minor, to_minor, when

    stamp = int(dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.UTC).timestamp())
    assert when(stamp, ZoneInfo("America/Chicago")).date() == dt.date(2026, 12, 1)
    assert when(stamp, ZoneInfo("UTC")).date() == dt.date(2026, 12, 2)
    assert to_minor(D("49.99"), "USD") == 4999 and to_minor(D("500"), "JPY") == 500
    assert from_minor(4999, "USD") == D("49.99") and from_minor(1234, "KWD") == D("1.234")


def test_a_run_without_a_key_never_loads_the_stripe_library():
    import subprocess
    import sys

    code = "import sys, ispsheets.cli, ispsheets.runner; print('stripe' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == "False"  # 0.2 s of imports saved on every keyless run
