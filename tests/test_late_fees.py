"""Late fees: once per invoice, 14 days past due, fixed and/or percent, never on a zero balance."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from ispsheets.book.records import Client, Invoice, Payment
from ispsheets.collections.late_fees import LateFee, late_fee_amount, plan_late_fees
from ispsheets.config import Collections
from ispsheets.payments.allocate import allocate, with_allocation

D = Decimal
DUE = dt.date(2026, 12, 15)
CLIENTS = [Client("C1", "Ada Lovelace"), Client("C2", "Grace Hopper")]
DEFAULT = Collections()  # 5.00 after 14 days


def inv(number: str = "INV-00042", total: str = "49.99", client: str = "C1",
        status: str = "open") -> Invoice:
    return Invoice(number, client, DUE - dt.timedelta(days=15), None, None, DUE, D(total), D("0"),
                   D(total), status=status)


def allocated(invoices: list[Invoice], payments: list[Payment] = ()) -> list[Invoice]:
    return with_allocation(invoices, allocate(invoices, list(payments)))


def day(offset: int) -> dt.date:
    return DUE + dt.timedelta(days=offset)


def test_invoice_14_days_past_due_with_49_99_gets_a_5_00_fee_once():
    [fee] = plan_late_fees(allocated([inv()]), CLIENTS, day(14), DEFAULT, frozenset())
    assert fee == LateFee("C1", "INV-00042", D("5.00"), "Late fee for INV-00042", day(14),
                          "late_fee/INV-00042")
    assert fee.taxable is False


def test_invoice_13_days_past_due_gets_no_fee():
    assert plan_late_fees(allocated([inv()]), CLIENTS, day(13), DEFAULT, frozenset()) == []


def test_fee_already_done_is_not_added_again():
    done = frozenset({"late_fee/INV-00042"})
    assert plan_late_fees(allocated([inv()]), CLIENTS, day(20), DEFAULT, done) == []


def test_day_by_day_runs_add_exactly_one_fee_on_day_14():
    invoices, done, added = allocated([inv()]), set(), []
    for offset in range(0, 60):
        for fee in plan_late_fees(invoices, CLIENTS, day(offset), DEFAULT, frozenset(done)):
            added.append(offset)
            done.add(fee.key)
    assert added == [14]


def test_1_5_percent_of_49_99_is_0_75_rounded_half_up():
    config = Collections(late_fee=D("0"), late_fee_percent=D("1.5"))
    [fee] = plan_late_fees(allocated([inv()]), CLIENTS, day(14), config, frozenset())
    assert fee.amount == D("0.75")  # 0.74985


def test_5_00_plus_1_5_percent_of_33_33_is_5_50():
    config = Collections(late_fee=D("5.00"), late_fee_percent=D("1.5"))
    assert late_fee_amount(D("33.33"), config) == D("5.50")  # 5.49995


def test_percent_is_of_the_overdue_balance_29_99_not_the_total():
    config = Collections(late_fee=D("0"), late_fee_percent=D("10"))
    invoices = allocated([inv()], [Payment("P1", day(1), "C1", D("20.00"))])
    [fee] = plan_late_fees(invoices, CLIENTS, day(14), config, frozenset())
    assert fee.amount == D("3.00")  # 2.999


def test_fee_that_would_be_0_is_not_added():
    config = Collections(late_fee=D("0"), late_fee_percent=D("0"))
    assert plan_late_fees(allocated([inv()]), CLIENTS, day(30), config, frozenset()) == []
    tiny = Collections(late_fee=D("0"), late_fee_percent=D("1"))
    assert plan_late_fees(allocated([inv(total="0.40")]), CLIENTS, day(30), tiny,
                          frozenset()) == []  # 0.004 rounds to 0.00


def test_paid_and_void_invoices_get_no_fee():
    paid = allocated([inv()], [Payment("P1", day(20), "C1", D("49.99"))])
    assert plan_late_fees(paid, CLIENTS, day(30), DEFAULT, frozenset()) == []
    void = allocated([inv(status="void")])
    assert plan_late_fees(void, CLIENTS, day(30), DEFAULT, frozenset()) == []


def test_zero_balance_from_partial_payments_in_every_order_is_never_fined():
    amounts = [D("10.00"), D("15.00"), D("24.99")]
    for order in itertools.permutations(amounts):
        payments = [Payment(f"P{n}", day(n * 4), "C1", a) for n, a in enumerate(order)]
        invoices = allocated([inv()], payments)
        assert all(plan_late_fees(invoices, CLIENTS, day(n), DEFAULT, frozenset()) == []
                   for n in range(14, 60)), order


def test_balance_of_2_00_is_not_fined_with_reminder_min_balance_2_00():
    config = Collections(reminder_min_balance=D("2.00"))
    assert plan_late_fees(allocated([inv(total="2.00")]), CLIENTS, day(20), config,
                          frozenset()) == []
    assert len(plan_late_fees(allocated([inv(total="2.01")]), CLIENTS, day(20), config,
                              frozenset())) == 1


def test_client_whose_credit_covers_the_invoice_is_not_fined():
    invoices = allocated([inv()])
    assert plan_late_fees(invoices, CLIENTS, day(20), DEFAULT, frozenset(),
                          balances={"C1": D("-1.00")}) == []


def test_invoices_due_dec_15_and_dec_20_get_a_5_00_fee_each_on_their_14th_day():
    first = inv("INV-00041")
    second = Invoice("INV-00042", "C1", day(-10), None, None, day(5), D("30"), D("0"), D("30"))
    invoices = allocated([second, first])
    fees = plan_late_fees(invoices, CLIENTS, day(14), DEFAULT, frozenset())
    assert [f.invoice_number for f in fees] == ["INV-00041"]
    fees = plan_late_fees(invoices, CLIENTS, day(19), DEFAULT, frozenset({"late_fee/INV-00041"}))
    assert [(f.invoice_number, f.amount) for f in fees] == [("INV-00042", D("5.00"))]
    fees = plan_late_fees(invoices, CLIENTS, day(30), DEFAULT, frozenset())
    assert [f.invoice_number for f in fees] == ["INV-00041", "INV-00042"]


def test_unknown_client_is_not_fined():
    assert plan_late_fees(allocated([inv(client="C9")]), CLIENTS, day(20), DEFAULT,
                          frozenset()) == []


def test_fee_in_yen_rounds_to_whole_yen():
    config = Collections(late_fee=D("0"), late_fee_percent=D("2.5"))
    [fee] = plan_late_fees(allocated([inv(total="4990")]), CLIENTS, day(14), config,
                           frozenset(), currency="JPY")
    assert fee.amount == D("125")  # 124.75
