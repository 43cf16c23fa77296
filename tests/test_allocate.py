"""Payment allocation: one rule per test, worked numbers in the names."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ispsheets.book.records import Invoice, Payment
from ispsheets.payments.allocate import (
    PaymentState,
    allocate,
    natural_key,
    with_allocation,
)

D = Decimal


def inv(number: str, total: str, issued: dt.date, client: str = "C1", due_days: int = 15,
        status: str = "open") -> Invoice:
    return Invoice(number, client, issued, None, None, issued + dt.timedelta(days=due_days),
                   D(total), D("0"), D(total), status=status)


def pay(pid: str, day: dt.date, amount: str, client: str = "C1", invoice: str = "") -> Payment:
    return Payment(pid, day, client, D(amount), invoice_number=invoice)


NOV30, DEC30, JAN29 = dt.date(2026, 11, 30), dt.date(2026, 12, 30), dt.date(2027, 1, 29)
DEC5, DEC10, JAN10 = dt.date(2026, 12, 5), dt.date(2026, 12, 10), dt.date(2027, 1, 10)


def test_payment_of_49_99_pays_an_invoice_of_49_99_in_full_on_its_day():
    a = allocate([inv("INV-00001", "49.99", NOV30)], [pay("P1", DEC10, "49.99")])
    state = a.invoices["INV-00001"]
    assert (state.paid, state.balance, state.status, state.paid_on) == (
        D("49.99"), D("0.00"), "paid", DEC10)
    assert a.payments["P1"] == PaymentState((("INV-00001", D("49.99")),), D("0.00"))
    assert a.client_balances["C1"] == 0 and a.client_credit["C1"] == 0


def test_payment_of_20_on_an_invoice_of_49_99_leaves_it_partial_with_29_99():
    a = allocate([inv("INV-00001", "49.99", NOV30)], [pay("P1", DEC10, "20.00")])
    state = a.invoices["INV-00001"]
    assert (state.paid, state.balance, state.status, state.paid_on) == (
        D("20.00"), D("29.99"), "partial", None)
    assert a.client_balances["C1"] == D("29.99")


def test_unpaid_invoice_is_open_with_its_whole_total_as_balance():
    a = allocate([inv("INV-00001", "49.99", NOV30)], [])
    assert a.invoices["INV-00001"].status == "open"
    assert a.invoices["INV-00001"].balance == D("49.99")


def test_unnamed_payment_of_60_pays_the_oldest_due_invoice_first_then_the_next():
    invoices = [inv("INV-00002", "49.99", DEC30), inv("INV-00001", "49.99", NOV30)]
    a = allocate(invoices, [pay("P1", JAN10, "60.00")])
    assert a.invoices["INV-00001"].status == "paid"
    assert a.invoices["INV-00002"].paid == D("10.01")
    assert a.payments["P1"].applied_to_text == "INV-00001:49.99; INV-00002:10.01"


def test_named_invoice_is_paid_first_even_when_an_older_one_is_open():
    invoices = [inv("INV-00001", "49.99", NOV30), inv("INV-00002", "30.00", DEC30)]
    a = allocate(invoices, [pay("P1", JAN10, "40.00", invoice="INV-00002")])
    assert a.invoices["INV-00002"].status == "paid"
    assert a.invoices["INV-00001"].paid == D("10.00")
    assert a.payments["P1"].applied_to_text == "INV-00002:30.00; INV-00001:10.00"


def test_payment_naming_another_clients_invoice_pays_its_own_clients_invoices():
    invoices = [inv("INV-00001", "49.99", NOV30, client="C1"),
                inv("INV-00002", "30.00", NOV30, client="C2")]
    a = allocate(invoices, [pay("P1", DEC10, "49.99", client="C1", invoice="INV-00002")])
    assert a.invoices["INV-00001"].status == "paid"
    assert a.invoices["INV-00002"].status == "open"


def test_over_payment_of_100_on_49_99_leaves_50_01_credit_that_pays_the_next_invoice():
    invoices = [inv("INV-00001", "49.99", NOV30), inv("INV-00002", "49.99", DEC30)]
    a = allocate(invoices, [pay("P1", DEC10, "100.00")])
    nxt = a.invoices["INV-00002"]
    assert (nxt.paid, nxt.balance, nxt.status, nxt.paid_on) == (
        D("49.99"), D("0.00"), "paid", DEC30)
    assert a.payments["P1"].applied_to_text == "INV-00001:49.99; INV-00002:49.99"
    assert a.payments["P1"].unapplied == D("0.02")
    assert a.client_credit["C1"] == D("0.02")
    assert a.client_balances["C1"] == D("-0.02")


def test_credit_of_20_partly_pays_the_next_invoice_of_49_99_on_its_issue_date():
    invoices = [inv("INV-00001", "30.00", NOV30), inv("INV-00002", "49.99", DEC30)]
    a = allocate(invoices, [pay("P1", DEC10, "50.00")])
    assert a.invoices["INV-00002"].paid == D("20.00")
    assert a.invoices["INV-00002"].status == "partial"
    assert a.payments["P1"].unapplied == D("0.00")
    assert a.client_balances["C1"] == D("29.99")


def test_payment_before_any_invoice_is_credit_until_the_first_invoice_is_issued():
    a = allocate([inv("INV-00001", "49.99", NOV30)], [pay("P1", DEC5 - dt.timedelta(30), "49.99")])
    assert a.invoices["INV-00001"].status == "paid"
    assert a.invoices["INV-00001"].paid_on == NOV30


def test_invoice_issued_on_the_payment_day_is_there_before_the_payment():
    a = allocate([inv("INV-00001", "49.99", DEC10)], [pay("P1", DEC10, "49.99")])
    assert a.invoices["INV-00001"].status == "paid"
    assert a.payments["P1"].unapplied == 0


def test_bounced_check_of_49_99_reopens_the_invoice_it_paid():
    a = allocate([inv("INV-00001", "49.99", NOV30)],
                 [pay("P1", DEC5, "49.99"), pay("P2", DEC10, "-49.99")])
    state = a.invoices["INV-00001"]
    assert (state.paid, state.balance, state.status, state.paid_on) == (
        D("0.00"), D("49.99"), "open", None)
    assert a.payments["P2"].applied_to_text == "INV-00001:-49.99"
    assert a.payments["P2"].unapplied == 0
    assert a.client_balances["C1"] == D("49.99")


def test_bounce_of_100_takes_50_01_credit_first_then_reopens_the_newest_paid_invoice():
    invoices = [inv("INV-00001", "49.99", NOV30), inv("INV-00002", "49.99", DEC30)]
    payments = [pay("P1", DEC5, "49.99"), pay("P2", JAN10, "100.00"),
                pay("P3", JAN29, "-100.00")]
    a = allocate(invoices, payments)
    assert a.invoices["INV-00001"].status == "paid"
    assert a.invoices["INV-00002"].balance == D("49.99")
    assert a.payments["P3"].applied_to_text == "INV-00002:-49.99"
    assert a.payments["P3"].unapplied == D("-50.01")
    assert a.client_credit["C1"] == 0
    assert a.client_balances["C1"] == D("49.99")


def test_negative_payment_takes_back_from_its_named_invoice_first():
    invoices = [inv("INV-00001", "40.00", NOV30), inv("INV-00002", "40.00", DEC30)]
    payments = [pay("P1", JAN10, "80.00"), pay("P2", JAN29, "-40.00", invoice="INV-00001")]
    a = allocate(invoices, payments)
    assert a.invoices["INV-00001"].status == "open"
    assert a.invoices["INV-00002"].status == "paid"


def test_refund_of_70_beyond_50_paid_leaves_20_negative_credit_the_client_owes():
    a = allocate([inv("INV-00001", "50.00", NOV30)],
                 [pay("P1", DEC5, "50.00"), pay("P2", DEC10, "-70.00")])
    assert a.invoices["INV-00001"].balance == D("50.00")
    assert a.client_credit["C1"] == D("-20.00")
    assert a.client_balances["C1"] == D("70.00")
    assert a.payments["P2"].unapplied == D("-20.00")


def test_payment_after_negative_credit_pays_the_invoice_then_clears_what_is_owed():
    payments = [pay("P1", DEC5, "50.00"), pay("P2", DEC10, "-70.00"), pay("P3", JAN10, "60.00")]
    a = allocate([inv("INV-00001", "50.00", NOV30)], payments)
    assert a.invoices["INV-00001"].status == "paid"
    assert a.client_credit["C1"] == D("-10.00")
    assert a.client_balances["C1"] == D("10.00")


def test_void_invoice_stays_void_with_nothing_paid_and_payment_goes_elsewhere():
    invoices = [inv("INV-00001", "49.99", NOV30, status="void"), inv("INV-00002", "49.99", DEC30)]
    a = allocate(invoices, [pay("P1", JAN10, "49.99", invoice="INV-00001")])
    void = a.invoices["INV-00001"]
    assert (void.paid, void.balance, void.status, void.paid_on) == (D("0"), D("0"), "void", None)
    assert a.invoices["INV-00002"].status == "paid"
    assert a.client_balances["C1"] == 0


def test_credit_note_of_minus_20_pays_20_of_an_open_invoice_of_49_99():
    invoices = [inv("INV-00001", "49.99", NOV30), inv("INV-00002", "-20.00", DEC10)]
    a = allocate(invoices, [])
    assert a.invoices["INV-00001"].paid == D("20.00")
    assert a.invoices["INV-00001"].status == "partial"
    note = a.invoices["INV-00002"]
    assert (note.paid, note.balance, note.status) == (D("0"), D("0"), "paid")
    assert a.client_balances["C1"] == D("29.99")


def test_credit_note_of_minus_20_with_nothing_open_is_20_credit_for_the_next_invoice():
    invoices = [inv("INV-00001", "-20.00", NOV30), inv("INV-00002", "49.99", DEC30)]
    a = allocate(invoices, [])
    assert a.invoices["INV-00002"].paid == D("20.00")
    assert a.client_balances["C1"] == D("29.99")
    assert a.client_credit["C1"] == 0


def test_future_dated_payment_is_still_applied():
    a = allocate([inv("INV-00001", "49.99", NOV30)],
                 [pay("P1", dt.date(2030, 1, 1), "49.99")])
    assert a.invoices["INV-00001"].status == "paid"


def test_correcting_an_old_payment_from_40_to_49_99_pays_the_invoice_in_full():
    invoices = [inv("INV-00001", "49.99", NOV30), inv("INV-00002", "49.99", DEC30)]
    before = allocate(invoices, [pay("P1", DEC5, "40.00"), pay("P2", JAN10, "49.99")])
    after = allocate(invoices, [pay("P1", DEC5, "49.99"), pay("P2", JAN10, "49.99")])
    assert before.invoices["INV-00002"].status == "partial"
    assert after.invoices["INV-00001"].status == "paid"
    assert after.invoices["INV-00002"].status == "paid"
    assert after.payments["P2"].applied_to_text == "INV-00002:49.99"


def test_same_day_payments_apply_in_payment_id_order_p9_before_p10():
    invoices = [inv("INV-00001", "10.00", NOV30), inv("INV-00002", "10.00", DEC30)]
    a = allocate(invoices, [pay("P10", JAN10, "10.00"), pay("P9", JAN10, "10.00")])
    assert a.payments["P9"].applied_to_text == "INV-00001:10.00"
    assert a.payments["P10"].applied_to_text == "INV-00002:10.00"


def test_clients_are_allocated_independently():
    invoices = [inv("INV-00001", "10.00", NOV30, client="C1"),
                inv("INV-00002", "20.00", NOV30, client="C2")]
    a = allocate(invoices, [pay("P1", DEC5, "30.00", client="C1")])
    assert a.client_balances == {"C1": D("-20.00"), "C2": D("20.00")}


def test_with_allocation_replaces_paid_balance_and_status_only():
    invoice = inv("INV-00001", "49.99", NOV30)
    a = allocate([invoice], [pay("P1", DEC10, "20.00")])
    [updated] = with_allocation([invoice], a)
    assert (updated.paid, updated.balance, updated.status) == (D("20.00"), D("29.99"), "partial")
    assert updated.total == invoice.total and updated.due_date == invoice.due_date


def test_applied_text_shows_two_places_for_whole_amounts():
    assert PaymentState((("INV-00001", D("50")),), D("0")).applied_to_text == "INV-00001:50.00"


def test_natural_key_orders_inv_9_before_inv_10():
    assert sorted(["INV-10", "INV-9"], key=natural_key) == ["INV-9", "INV-10"]


def test_credit_note_and_zero_invoice_are_paid_on_their_issue_date():
    a = allocate([inv("INV-00001", "-20.00", DEC10), inv("INV-00002", "0.00", DEC30)], [])
    note, zero = a.invoices["INV-00001"], a.invoices["INV-00002"]
    assert (note.status, note.paid_on) == ("paid", DEC10)
    assert (zero.status, zero.paid_on) == ("paid", DEC30)
