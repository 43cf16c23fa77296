"""Reminders: stages once each, only the latest after a gap, never for a zero balance."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from ispsheets.book.records import Client, Invoice, Payment
from ispsheets.collections.reminders import plan_reminders
from ispsheets.config import Collections, ReminderStage
from ispsheets.payments.allocate import allocate, with_allocation

D = Decimal
STAGES = Collections().reminders  # due 0, first_reminder 3, second_reminder 7, final_notice 14
ISSUED = dt.date(2026, 11, 30)
DUE = dt.date(2026, 12, 15)
CLIENTS = [Client("C1", "Ada Lovelace", ("ada@example.com",)),
           Client("C2", "Grace Hopper", ("grace@example.com",))]


def inv(number: str = "INV-00001", total: str = "49.99", client: str = "C1",
        due: dt.date = DUE, status: str = "open") -> Invoice:
    issued = due - dt.timedelta(days=15)
    return Invoice(number, client, issued, None, None, due, D(total), D("0"), D(total),
                   status=status)


def allocated(invoices: list[Invoice], payments: list[Payment]) -> list[Invoice]:
    return with_allocation(invoices, allocate(invoices, payments))


def day(offset: int) -> dt.date:
    return DUE + dt.timedelta(days=offset)


def plan(invoices, today, sent=None, min_balance="0", stages=STAGES, balances=None):
    return plan_reminders(invoices, CLIENTS, today, stages, D(min_balance), sent or {},
                          balances=balances)


def test_invoice_due_today_gets_the_due_notice():
    [notice] = plan(allocated([inv()], []), day(0))
    assert (notice.client_id, notice.stage, notice.template) == ("C1", "due", "due_notice")
    assert notice.pairs == (("INV-00001", "due"),)
    assert notice.keys == ("reminder/INV-00001/due",)
    assert notice.balance == D("49.99")
    assert notice.key == "reminder/C1/2026-12-15"


def test_three_days_past_due_after_the_due_notice_gets_the_first_reminder():
    [notice] = plan(allocated([inv()], []), day(3), {"INV-00001": frozenset({"due"})})
    assert notice.pairs == (("INV-00001", "first_reminder"),)
    assert notice.template == "reminder"


def test_two_days_past_due_after_the_due_notice_sends_nothing():
    assert plan(allocated([inv()], []), day(2), {"INV-00001": frozenset({"due"})}) == []


def test_a_stage_already_sent_is_not_sent_again():
    sent = {"INV-00001": frozenset({"due", "first_reminder"})}
    assert plan(allocated([inv()], []), day(5), sent) == []


def test_a_week_missed_after_the_due_notice_sends_only_the_second_reminder_on_day_10():
    [notice] = plan(allocated([inv()], []), day(10), {"INV-00001": frozenset({"due"})})
    assert notice.pairs == (("INV-00001", "second_reminder"),)
    assert notice.template == "reminder_late_fee_warning"


def test_first_run_20_days_past_due_sends_only_the_final_notice():
    [notice] = plan(allocated([inv()], []), day(20))
    assert notice.pairs == (("INV-00001", "final_notice"),)
    assert notice.template == "final_notice"


def test_never_an_earlier_stage_after_a_later_one_was_sent():
    sent = {"INV-00001": frozenset({"final_notice"})}
    assert plan(allocated([inv()], []), day(8), sent) == []


def test_day_by_day_runs_send_each_stage_once_on_days_0_3_7_14():
    invoices = allocated([inv()], [])
    sent: dict[str, frozenset[str]] = {}
    days_sent = []
    for offset in range(-5, 40):
        for notice in plan(invoices, day(offset), sent):
            days_sent.append((offset, notice.stage))
            for number, stage in notice.pairs:
                sent[number] = sent.get(number, frozenset()) | {stage}
    assert days_sent == [(0, "due"), (3, "first_reminder"), (7, "second_reminder"),
                         (14, "final_notice")]


def test_day_by_day_runs_with_a_gap_from_day_1_to_day_9_skip_the_first_reminder():
    invoices = allocated([inv()], [])
    sent: dict[str, frozenset[str]] = {}
    days_sent = []
    for offset in [0, 10, 11, 12, 13, 14, 15]:
        for notice in plan(invoices, day(offset), sent):
            days_sent.append((offset, notice.stage))
            for number, stage in notice.pairs:
                sent[number] = sent.get(number, frozenset()) | {stage}
    assert days_sent == [(0, "due"), (10, "second_reminder"), (14, "final_notice")]


def test_two_overdue_invoices_go_in_one_message_at_the_most_advanced_stage():
    invoices = allocated([inv("INV-00001", due=day(-8)), inv("INV-00002", due=day(0))], [])
    [notice] = plan(invoices, day(0))
    assert notice.pairs == (("INV-00001", "second_reminder"), ("INV-00002", "due"))
    assert (notice.stage, notice.template) == ("second_reminder", "reminder_late_fee_warning")
    assert notice.balance == D("99.98")


def test_each_client_gets_its_own_notice_ordered_by_client_id():
    invoices = allocated([inv("INV-00002", client="C2"), inv("INV-00001", client="C1")], [])
    assert [n.client_id for n in plan(invoices, day(0))] == ["C1", "C2"]


def test_other_open_invoices_are_listed_as_also_open_and_not_keyed():
    invoices = allocated([inv("INV-00001", due=day(-3)), inv("INV-00002", due=day(0))], [])
    [notice] = plan(invoices, day(0), {"INV-00001": frozenset({"due", "first_reminder"})})
    assert notice.pairs == (("INV-00002", "due"),)
    [other] = notice.also_open
    assert (other.invoice_number, other.stage, other.days_past_due) == (
        "INV-00001", "first_reminder", 3)


def test_due_soon_stage_3_days_before_the_due_date():
    stages = (ReminderStage(name="due_soon", days=-3, template="due_soon"), *STAGES)
    [notice] = plan(allocated([inv()], []), day(-3), stages=stages)
    assert notice.pairs == (("INV-00001", "due_soon"),)
    assert plan(allocated([inv()], []), day(-4), stages=stages) == []


def test_paid_invoice_is_not_reminded():
    invoices = allocated([inv()], [Payment("P1", day(-2), "C1", D("49.99"))])
    assert all(plan(invoices, day(n)) == [] for n in range(-5, 30))


def test_void_invoice_is_not_reminded():
    assert plan(allocated([inv(status="void")], []), day(10)) == []


def test_zero_balance_from_partial_payments_in_every_order_is_never_reminded():
    amounts = [D("10.00"), D("15.00"), D("24.99")]  # 49.99 together
    dates = [day(-10), day(2), day(5)]
    for order in itertools.permutations(amounts):
        payments = [Payment(f"P{n}", d, "C1", a)
                    for n, (d, a) in enumerate(zip(dates, order, strict=True))]
        invoices = allocated([inv()], payments)
        assert invoices[0].balance == 0 and invoices[0].status == "paid"
        assert all(plan(invoices, day(n)) == [] for n in range(6, 40)), order


def test_partial_payments_leaving_0_01_still_remind_with_min_balance_0():
    payments = [Payment("P1", day(-1), "C1", D("20.00")), Payment("P2", day(1), "C1", D("29.98"))]
    [notice] = plan(allocated([inv()], payments), day(3))
    assert notice.items[0].balance == D("0.01")


def test_balance_of_5_00_is_not_reminded_with_min_balance_5_00_but_5_01_is():
    assert plan(allocated([inv(total="5.00")], []), day(0), min_balance="5.00") == []
    assert len(plan(allocated([inv(total="5.01")], []), day(0), min_balance="5.00")) == 1


def test_client_whose_credit_covers_the_open_invoice_is_not_reminded():
    invoices = allocated([inv()], [])
    assert plan(invoices, day(3), balances={"C1": D("-10.00")}) == []
    assert plan(invoices, day(3), balances={"C1": D("0.00")}) == []


def test_over_payment_credit_covering_the_next_invoice_means_no_reminder_for_it():
    invoices = [inv("INV-00001", due=day(-30)), inv("INV-00002", due=day(0))]
    payments = [Payment("P1", day(-40), "C1", D("100.00"))]
    allocation = allocate(invoices, payments)
    shown = with_allocation(invoices, allocation)
    assert plan(shown, day(3), balances=allocation.client_balances) == []


def test_client_missing_from_clients_is_not_reminded():
    assert plan(allocated([inv(client="C9")], []), day(3)) == []
