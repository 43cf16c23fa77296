"""Every billing rule of the contract (WORKBOOK.md "Billing rules") and each of its boundaries,
as one plain example with the worked numbers in its name.

Each test pins one number or one comparison, so changing the rule (a `>` to `>=`, 7 days to
8, half-up to half-even) fails at least one of them; `docs/mutation.md` says how that was
checked. Pure planners where they can be called directly; the receipt window also through a
real run (`tests/scenario.py`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

from ispsheets.billing.holds import HoldRules, hold_reason, recurring_price
from ispsheets.billing.invoicing import (
    BilledPeriod,
    BilledState,
    BillingRules,
    InvoicePlan,
    plan_invoices,
)
from ispsheets.billing.numbering import format_number, parse_number
from ispsheets.billing.periods import (
    Grid,
    add_months,
    anchor,
    days_between,
    first_billable_day,
    issue_date,
    service_periods,
    unbilled_parts,
)
from ispsheets.billing.proration import charged_days, prorated_amount
from ispsheets.billing.tax import apply_tax, line_rate
from ispsheets.book.records import (
    Book,
    Charge,
    Client,
    Invoice,
    Layout,
    Origin,
    Package,
    Payment,
    Service,
)
from ispsheets.collections.late_fees import late_fee_amount, plan_late_fees
from ispsheets.collections.overdue import balance_of
from ispsheets.collections.reminders import plan_reminders
from ispsheets.collections.suspension import ToolSuspension, plan_suspensions
from ispsheets.config import Collections, ReminderStage
from ispsheets.journal import Billed
from ispsheets.money import round_money
from ispsheets.payments.allocate import PaymentState, allocate, natural_key, with_allocation
from ispsheets.steps.deliver import RECEIPT_WINDOW_DAYS, in_receipt_window
from tests.scenario import Business, row

D = Decimal
d = dt.date
NOV_1, NOV_10, NOV_16, NOV_29, NOV_30 = (d(2026, 11, n) for n in (1, 10, 16, 29, 30))
DEC_1, DEC_15, DEC_31 = d(2026, 12, 1), d(2026, 12, 15), d(2026, 12, 31)
HOME = Package("HOME", "Home", D("60.00"), "monthly")
HOME62 = Package("HOME62", "Home 62", D("62.00"), "monthly")
QUARTER = Package("Q", "Quarterly", D("90.00"), "quarterly")
ANN = Client("C1", "Ann", ("ann@example.com",))
RULES = BillingRules(tax_rate=D("10"))
DEFAULT = Collections()  # reminders 0/3/7/14, fee 5.00 at 14, suspend at 21 above 0.00


def book(*services: Service, packages: tuple[Package, ...] = (HOME, HOME62, QUARTER),
         clients: tuple[Client, ...] = (ANN,), charges: tuple[Charge, ...] = ()) -> Book:
    return Book(packages=packages, clients=clients, services=services, charges=charges)


def service(start: dt.date, package: str = "HOME", sid: str = "S1", client: str = "C1",
            **changes: object) -> Service:
    return replace(Service(sid, client, package, start), **changes)


def plan(b: Book, today: dt.date, rules: BillingRules = RULES,
         state: BilledState | None = None) -> InvoicePlan:
    return plan_invoices(b, rules, today, state or BilledState())


def lines(p: InvoicePlan) -> list[tuple[dt.date | None, dt.date | None, Decimal, Decimal]]:
    return [(x.period_start, x.period_end, x.amount, x.tax)
            for i in p.invoices for x in i.invoice.lines]


# -- periods and anchors ---------------------------------------------------------------------------

def test_anchor_of_a_nov_10_start_on_billing_day_1_is_dec_1():
    assert anchor(NOV_10, 1) == DEC_1


def test_anchor_of_a_dec_1_start_on_billing_day_1_is_dec_1_itself():
    assert anchor(DEC_1, 1) == DEC_1


def test_anchor_of_a_nov_10_start_on_billing_day_15_is_nov_15():
    assert anchor(NOV_10, 15) == d(2026, 11, 15)


def test_monthly_period_from_dec_1_is_dec_1_to_dec_31_31_days():
    assert Grid(DEC_1, 1).full_period(DEC_15) == (DEC_1, DEC_31)
    assert days_between(DEC_1, DEC_31) == 31


def test_billing_day_15_period_holding_jan_14_is_dec_15_to_jan_14_and_jan_15_starts_the_next():
    grid = Grid(DEC_15, 1)
    assert grid.full_period(d(2027, 1, 14)) == (DEC_15, d(2027, 1, 14))
    assert grid.full_period(d(2027, 1, 15)) == (d(2027, 1, 15), d(2027, 2, 14))


def test_period_before_a_dec_1_anchor_is_nov_1_to_nov_30():
    assert Grid(DEC_1, 1).full_period(NOV_10) == (NOV_1, NOV_30)


def test_quarterly_from_jan_1_is_jan_1_to_mar_31_and_before_it_oct_1_to_dec_31():
    grid = Grid(d(2027, 1, 1), 3)
    assert grid.full_period(d(2027, 2, 10)) == (d(2027, 1, 1), d(2027, 3, 31))
    assert grid.full_period(NOV_10) == (d(2026, 10, 1), DEC_31)


def test_jan_31_plus_1_month_is_feb_28_and_minus_2_months_is_nov_30():
    assert add_months(d(2027, 1, 31), 1) == d(2027, 2, 28)
    assert add_months(d(2027, 1, 31), -2) == NOV_30


def test_nov_10_start_bills_nov_10_to_30_as_21_of_30_days_then_dec_1_to_31():
    first, second = service_periods(NOV_10, 1, 1, None, DEC_1)
    assert (first.start, first.end, first.days, first.full_days, first.partial) == (
        NOV_10, NOV_30, 21, 30, True)
    assert (second.start, second.end, second.days, second.partial) == (DEC_1, DEC_31, 31, False)


def test_periods_starting_on_or_before_dec_1_are_listed_and_jan_1_is_not():
    assert [p.start for p in service_periods(NOV_10, 1, 1, None, DEC_31)] == [NOV_10, DEC_1]
    assert [p.start for p in service_periods(NOV_10, 1, 1, None, d(2027, 1, 1))] == [
        NOV_10, DEC_1, d(2027, 1, 1)]


def test_end_date_dec_15_cuts_the_dec_period_to_15_of_31_days_and_ends_the_service():
    periods = list(service_periods(DEC_1, 1, 1, DEC_15, d(2027, 3, 1)))
    assert [(p.start, p.end, p.days, p.full_days) for p in periods] == [(DEC_1, DEC_15, 15, 31)]


def test_end_date_on_the_start_day_dec_1_still_bills_that_one_day():
    [period] = service_periods(DEC_1, 1, 1, DEC_1, DEC_31)
    assert (period.start, period.end, period.days) == (DEC_1, DEC_1, 1)


def test_billed_through_nov_30_starts_billing_on_dec_1_never_before_start_date():
    assert first_billable_day(NOV_10, d(2026, 11, 30)) == DEC_1
    assert first_billable_day(NOV_10, d(2026, 11, 1)) == NOV_10
    assert first_billable_day(NOV_10, None) == NOV_10


def test_dec_1_to_31_with_dec_5_to_10_billed_leaves_dec_1_to_4_and_dec_11_to_31():
    billed = [(d(2026, 12, 5), d(2026, 12, 10))]
    assert unbilled_parts(DEC_1, DEC_31, billed) == [
        (DEC_1, d(2026, 12, 4)), (d(2026, 12, 11), DEC_31)]
    assert unbilled_parts(DEC_1, DEC_31, [(DEC_1, DEC_31)]) == []
    assert unbilled_parts(DEC_1, DEC_15, [(d(2026, 11, 1), NOV_30), (DEC_31, DEC_31)]) == [
        (DEC_1, DEC_15)]


# -- issue date and due date ----------------------------------------------------------------------

def test_dec_1_period_is_issued_nov_30_with_generate_days_before_1():
    assert issue_date(DEC_1, 1) == NOV_30
    assert plan(book(service(DEC_1)), NOV_29).invoices == ()
    [invoice] = plan(book(service(DEC_1)), NOV_30).invoices
    assert (invoice.invoice.issue_date, invoice.invoice.period_start) == (NOV_30, DEC_1)


def test_dec_1_period_is_issued_nov_26_with_generate_days_before_5_not_nov_25():
    rules = replace(RULES, generate_days_before=5)
    assert plan(book(service(DEC_1)), d(2026, 11, 25), rules).invoices == ()
    assert len(plan(book(service(DEC_1)), d(2026, 11, 26), rules).invoices) == 1


def test_service_started_nov_10_first_run_nov_20_bills_nov_10_to_30_only():
    assert lines(plan(book(service(NOV_10)), d(2026, 11, 20))) == [
        (NOV_10, NOV_30, D("42.00"), D("4.20"))]


def test_missed_runs_nov_30_run_bills_nov_10_to_30_and_dec_1_to_31_on_one_invoice():
    p = plan(book(service(NOV_10)), NOV_30)
    assert len(p.invoices) == 1
    assert lines(p) == [(NOV_10, NOV_30, D("42.00"), D("4.20")),
                        (DEC_1, DEC_31, D("60.00"), D("6.00"))]


def test_invoice_issued_nov_30_is_due_dec_15_with_due_days_15():
    [invoice] = plan(book(service(DEC_1)), NOV_30).invoices
    assert invoice.invoice.due_date == DEC_15


def test_invoice_issued_nov_30_is_due_dec_30_with_due_days_30():
    [invoice] = plan(book(service(DEC_1)), NOV_30, replace(RULES, due_days=30)).invoices
    assert invoice.invoice.due_date == d(2026, 12, 30)


def test_charge_dated_nov_30_is_on_the_nov_30_invoice_and_one_dated_dec_1_waits():
    charges = (Charge("CH1", "C1", NOV_30, "Router", D("20.00")),
               Charge("CH2", "C1", DEC_1, "Cable", D("7.00")))
    [invoice] = plan(book(service(DEC_1), charges=charges), NOV_30).invoices
    assert [x.charge_id for x in invoice.invoice.lines] == ["", "CH1"]


# -- proration -------------------------------------------------------------------------------------

def test_first_partial_nov_10_to_30_of_60_00_is_21_of_30_days_42_00():
    assert prorated_amount(D("60.00"), D(1), D(0), 21, 30, "USD") == D("42.00")


def test_first_partial_nov_16_to_30_of_10_01_is_5_005_rounded_half_up_to_5_01():
    assert lines(plan(book(service(NOV_16, price=D("10.01"))), NOV_16, BillingRules())) == [
        (NOV_16, NOV_30, D("5.01"), D("0.00"))]


def test_last_partial_dec_1_to_10_of_62_00_is_10_of_31_days_20_00():
    assert lines(plan(book(service(DEC_1, "HOME62", end_date=d(2026, 12, 10))), NOV_30)) == [
        (DEC_1, d(2026, 12, 10), D("20.00"), D("2.00"))]


def test_end_date_dec_15_after_dec_was_billed_credits_dec_16_to_31_16_of_31_of_62_00_32_00():
    first = plan(book(service(DEC_1, "HOME62")), NOV_30)
    state = BilledState().after(first)
    ended = book(service(DEC_1, "HOME62", end_date=DEC_15))
    [credit] = plan(ended, d(2026, 12, 10), state=state).invoices
    assert lines(InvoicePlan((credit,))) == [(d(2026, 12, 16), DEC_31, D("-32.00"), D("-3.20"))]
    assert credit.invoice.total == D("-35.20")
    assert plan(ended, d(2026, 12, 11), state=state.after(InvoicePlan((credit,)))).invoices == ()


def test_prorate_no_charges_the_full_60_00_for_nov_10_to_30():
    rules = replace(RULES, prorate=False)
    assert lines(plan(book(service(NOV_10)), d(2026, 11, 20), rules)) == [
        (NOV_10, NOV_30, D("60.00"), D("6.00"))]
    assert charged_days(21, 30, prorate=False) == 30
    assert charged_days(21, 30, prorate=True) == 21


def test_prorate_no_gives_no_credit_when_end_date_dec_15_is_set_after_billing():
    rules = replace(RULES, prorate=False)
    state = BilledState().after(plan(book(service(DEC_1)), NOV_30, rules))
    assert plan(book(service(DEC_1, end_date=DEC_15)), d(2026, 12, 10), rules,
                state).invoices == ()


def test_package_prorate_no_overrides_config_prorate_yes():
    package = replace(HOME, prorate=False)
    p = plan(book(service(NOV_10), packages=(package,)), d(2026, 11, 20))
    assert lines(p) == [(NOV_10, NOV_30, D("60.00"), D("6.00"))]


def test_quantity_2_with_10_pct_off_60_00_for_a_full_month_is_108_00():
    assert lines(plan(book(service(DEC_1, quantity=D(2), discount_pct=D(10))), NOV_30)) == [
        (DEC_1, DEC_31, D("108.00"), D("10.80"))]


def test_quarterly_90_00_from_dec_1_bills_dec_1_to_feb_28_once():
    assert lines(plan(book(service(DEC_1, "Q")), NOV_30)) == [
        (DEC_1, d(2027, 2, 28), D("90.00"), D("9.00"))]


# -- money: half-up per line, totals are sums of rounded lines ------------------------------------

def test_tax_on_100_05_at_10_pct_is_10_005_rounded_half_up_to_10_01():
    taxed = apply_tax(D("100.05"), D(10), inclusive=False, currency="USD")
    assert (taxed.amount, taxed.tax, taxed.gross) == (D("100.05"), D("10.01"), D("110.06"))


def test_tax_on_100_04_at_10_pct_is_10_004_rounded_down_to_10_00():
    assert apply_tax(D("100.04"), D(10), False, "USD").tax == D("10.00")


def test_price_110_00_including_10_pct_tax_is_100_00_plus_10_00():
    taxed = apply_tax(D("110.00"), D(10), inclusive=True, currency="USD")
    assert (taxed.amount, taxed.tax) == (D("100.00"), D("10.00"))


def test_price_0_11_including_5_pct_tax_has_tax_0_005_rounded_half_up_to_0_01():
    # 0.11 × 5 / 105 = 0.005238… → 0.01; the net is 0.10 so the two add up to the price
    taxed = apply_tax(D("0.11"), D(5), inclusive=True, currency="USD")
    assert (taxed.amount, taxed.tax) == (D("0.10"), D("0.01"))


def test_2_005_rounds_half_up_to_2_01_and_minus_2_005_to_minus_2_01():
    assert round_money(D("2.005")) == D("2.01")
    assert round_money(D("-2.005")) == D("-2.01")
    assert round_money(D("2.004999")) == D("2.00")


def test_yen_100_5_rounds_half_up_to_101_with_no_minor_unit():
    assert round_money(D("100.5"), "JPY") == D("101")


def test_two_charges_of_0_05_at_10_pct_carry_0_01_tax_each_and_0_02_in_total():
    charges = (Charge("CH1", "C1", NOV_30, "a", D("0.05")),
               Charge("CH2", "C1", NOV_30, "b", D("0.05")))
    [invoice] = plan(book(charges=charges), NOV_30).invoices
    assert [x.tax for x in invoice.invoice.lines] == [D("0.01"), D("0.01")]
    assert (invoice.invoice.subtotal, invoice.invoice.tax, invoice.invoice.total) == (
        D("0.10"), D("0.02"), D("0.12"))


def test_tax_exempt_client_pays_0_tax_and_a_package_rate_8_25_beats_the_default_10():
    assert line_rate(True, D("8.25"), D(10)) == 0
    assert line_rate(False, D("8.25"), D(10)) == D("8.25")
    assert line_rate(False, None, D(10)) == D(10)
    exempt = replace(ANN, tax_exempt=True)
    assert lines(plan(book(service(DEC_1), clients=(exempt,)), NOV_30)) == [
        (DEC_1, DEC_31, D("60.00"), D("0.00"))]


def test_charge_of_5_00_marked_not_taxable_has_no_tax_at_10_pct():
    charges = (Charge("CH1", "C1", NOV_30, "Late fee", D("5.00"), taxable=False),)
    [invoice] = plan(book(charges=charges), NOV_30).invoices
    assert (invoice.invoice.tax, invoice.invoice.total) == (D("0.00"), D("5.00"))


def test_setup_fee_25_00_is_charged_once_on_the_first_invoice():
    package = replace(HOME, setup_fee=D("25.00"))
    b = book(service(DEC_1), packages=(package,))
    first = plan(b, NOV_30)
    assert [x.amount for x in first.invoices[0].invoice.lines] == [D("60.00"), D("25.00")]
    second = plan(b, DEC_31, state=BilledState().after(first))
    assert [x.amount for x in second.invoices[0].invoice.lines] == [D("60.00")]


# -- numbers ---------------------------------------------------------------------------------------

def test_seq_42_is_inv_00042_and_back():
    assert format_number("INV-{seq:05d}", 42) == "INV-00042"
    assert parse_number("INV-{seq:05d}", "INV-00042") == 42
    assert parse_number("INV-{seq:05d}", "CN-00042") is None


def test_next_seq_7_numbers_c2_c9_c10_as_7_8_9_in_natural_order_skipping_a_client_with_nothing():
    clients = tuple(Client(c, c) for c in ("C10", "C2", "C9", "C3"))
    b = book(*(service(DEC_1, sid=f"S{c}", client=c) for c in ("C10", "C2", "C9")),
             service(d(2027, 3, 1), sid="SC3", client="C3"), clients=clients)
    p = plan(b, NOV_30, state=BilledState(next_seq=7))
    assert [(i.invoice.client_id, i.invoice.invoice_number) for i in p.invoices] == [
        ("C2", "INV-00007"), ("C9", "INV-00008"), ("C10", "INV-00009")]
    assert natural_key("C9") < natural_key("C10")


def test_next_run_continues_at_inv_00002_after_inv_00001():
    first = plan(book(service(DEC_1)), NOV_30)
    second = plan(book(service(DEC_1)), DEC_31, state=BilledState().after(first))
    assert [i.invoice.invoice_number for i in first.invoices + second.invoices] == [
        "INV-00001", "INV-00002"]


def test_a_period_already_billed_is_not_billed_again_on_a_repeated_nov_30_run():
    first = plan(book(service(DEC_1)), NOV_30)
    assert plan(book(service(DEC_1)), NOV_30, state=BilledState().after(first)).invoices == ()


# -- reminders -------------------------------------------------------------------------------------

DUE = DEC_15


def invoice(number: str = "INV-00001", total: str = "60.00", due: dt.date = DUE,
            client: str = "C1") -> Invoice:
    return Invoice(number, client, due - dt.timedelta(days=15), None, None, due, D(total),
                   D(0), D(total))


def allocated(invoices: list[Invoice], payments: list[Payment] = ()) -> list[Invoice]:
    return with_allocation(invoices, allocate(invoices, list(payments)))


def after(days: int) -> dt.date:
    return DUE + dt.timedelta(days=days)


def stage_on(days: int, sent: frozenset[str] = frozenset(), total: str = "60.00",
             min_balance: str = "0") -> str:
    notices = plan_reminders(allocated([invoice(total=total)]), [ANN], after(days),
                             DEFAULT.reminders, D(min_balance), {"INV-00001": sent})
    return "/".join(i.stage for n in notices for i in n.items)


def test_reminder_day_minus_1_nothing_day_0_due_notice():
    assert stage_on(-1) == ""
    assert stage_on(0) == "due"


def test_reminder_day_2_nothing_day_3_first_reminder():
    assert stage_on(2, frozenset({"due"})) == ""
    assert stage_on(3, frozenset({"due"})) == "first_reminder"


def test_reminder_day_6_nothing_day_7_second_reminder():
    sent = frozenset({"due", "first_reminder"})
    assert stage_on(6, sent) == ""
    assert stage_on(7, sent) == "second_reminder"


def test_reminder_day_13_nothing_day_14_final_notice_then_nothing_on_day_15():
    sent = frozenset({"due", "first_reminder", "second_reminder"})
    assert stage_on(13, sent) == ""
    assert stage_on(14, sent) == "final_notice"
    assert stage_on(15, sent | {"final_notice"}) == ""


def test_first_run_on_day_10_sends_only_the_second_reminder_not_due_and_first():
    assert stage_on(10) == "second_reminder"


def test_first_run_on_day_20_sends_only_the_final_notice():
    assert stage_on(20) == "final_notice"


def test_after_the_final_notice_no_earlier_stage_is_sent_on_day_20():
    assert stage_on(20, frozenset({"final_notice"})) == ""


def test_reminder_for_60_00_paid_in_full_on_day_2_is_not_sent_on_day_3():
    paid = allocated([invoice()], [Payment("P1", after(2), "C1", D("60.00"))])
    assert plan_reminders(paid, [ANN], after(3), DEFAULT.reminders, D(0), {}) == []


def test_reminder_min_balance_5_00_sends_nothing_for_5_00_and_the_due_notice_for_5_01():
    assert stage_on(0, total="5.00", min_balance="5.00") == ""
    assert stage_on(0, total="5.01", min_balance="5.00") == "due"


# -- late fee --------------------------------------------------------------------------------------

def late_fees(days: int, total: str = "60.00", done: frozenset[str] = frozenset(),
              config: Collections = DEFAULT) -> list[tuple[str, Decimal]]:
    fees = plan_late_fees(allocated([invoice(total=total)]), [ANN], after(days), config, done)
    return [(f.invoice_number, f.amount) for f in fees]


def test_late_fee_day_13_none_day_14_5_00():
    assert late_fees(13) == []
    assert late_fees(14) == [("INV-00001", D("5.00"))]


def test_late_fee_is_added_once_per_invoice_not_again_on_day_15():
    assert late_fees(15, done=frozenset({"late_fee/INV-00001"})) == []


def test_late_fee_row_is_not_taxable_and_says_late_fee_for_inv_00001():
    [fee] = plan_late_fees(allocated([invoice()]), [ANN], after(14), DEFAULT, frozenset())
    assert (fee.taxable, fee.description, fee.key, fee.date) == (
        False, "Late fee for INV-00001", "late_fee/INV-00001", after(14))


def test_late_fee_5_00_plus_1_pct_of_48_50_is_5_485_rounded_half_up_to_5_49():
    config = Collections(late_fee_percent=D(1))
    assert late_fee_amount(D("48.50"), config) == D("5.49")
    assert late_fees(14, total="48.50", config=config) == [("INV-00001", D("5.49"))]


def test_late_fee_after_10_days_configured_comes_on_day_10_not_day_9():
    config = Collections(late_fee_after_days=10)
    assert late_fees(9, config=config) == []
    assert late_fees(10, config=config) == [("INV-00001", D("5.00"))]


def test_no_late_fee_on_an_invoice_paid_in_full_on_day_13():
    paid = allocated([invoice()], [Payment("P1", after(13), "C1", D("60.00"))])
    assert plan_late_fees(paid, [ANN], after(14), DEFAULT, frozenset()) == []


# -- suspension and reconnection -------------------------------------------------------------------

def suspensions(days: int, total: str = "60.00", config: Collections = DEFAULT,
                status: str = "active") -> list[tuple[str, Decimal]]:
    result = plan_suspensions(allocated([invoice(total=total)]), [replace(ANN, status=status)],
                              after(days), config, {}, frozenset())
    return [(s.client_id, s.overdue_balance) for s in result.suspend]


def test_suspension_day_20_none_day_21_suspended_with_60_00_overdue():
    assert suspensions(20) == []
    assert suspensions(21) == [("C1", D("60.00"))]


def test_suspend_min_balance_60_00_does_not_suspend_for_exactly_60_00():
    config = Collections(suspend_min_balance=D("60.00"))
    assert suspensions(21, "60.00", config) == []


def test_suspend_min_balance_60_00_suspends_for_60_01():
    config = Collections(suspend_min_balance=D("60.00"))
    assert suspensions(21, "60.01", config) == [("C1", D("60.01"))]


def test_a_client_already_suspended_by_the_owner_is_not_suspended_again():
    assert suspensions(21, status="suspended") == []


def reconnections(invoices: list[Invoice], days: int, config: Collections = DEFAULT,
                  status: str = "suspended", done: frozenset[str] = frozenset()):
    made = {"C1": ToolSuspension("C1", "suspend/C1/INV-00001", after(21))}
    return plan_suspensions(invoices, [replace(ANN, status=status)], after(days), config, made,
                            done)


def test_paid_on_day_25_a_tool_suspended_client_is_reconnected_with_a_10_00_fee():
    paid = allocated([invoice()], [Payment("P1", after(25), "C1", D("60.00"))])
    result = reconnections(paid, 25)
    assert [(r.client_id, r.fee, r.key, r.fee_taxable) for r in result.reconnect] == [
        ("C1", D("10.00"), "reconnect/C1/INV-00001", False)]


def test_still_owing_60_00_on_day_25_a_tool_suspended_client_stays_suspended():
    result = reconnections(allocated([invoice()]), 25)
    assert result.reconnect == () and result.suspend == ()


def test_reconnected_once_the_reconnection_is_not_repeated_on_day_26():
    paid = allocated([invoice()], [Payment("P1", after(25), "C1", D("60.00"))])
    assert reconnections(paid, 26, done=frozenset({"reconnect/C1/INV-00001"})).reconnect == ()


def test_paying_down_to_the_suspend_min_balance_10_00_reconnects():
    config = Collections(suspend_min_balance=D("10.00"))
    down_to_10 = allocated([invoice()], [Payment("P1", after(25), "C1", D("50.00"))])
    assert [r.client_id for r in reconnections(down_to_10, 25, config).reconnect] == ["C1"]
    down_to_10_01 = allocated([invoice()], [Payment("P1", after(25), "C1", D("49.99"))])
    assert reconnections(down_to_10_01, 25, config).reconnect == ()


def test_a_client_suspended_by_the_owner_by_hand_is_never_reconnected():
    paid = allocated([invoice()], [Payment("P1", after(25), "C1", D("60.00"))])
    result = plan_suspensions(paid, [replace(ANN, status="suspended")], after(25), DEFAULT, {},
                              frozenset())
    assert result.reconnect == ()


def test_owner_setting_a_tool_suspended_client_active_releases_it_with_no_fee():
    result = reconnections(allocated([invoice()]), 25, status="active")
    assert [(r.client_id, r.status) for r in result.released] == [("C1", "active")]
    assert result.reconnect == ()


# -- payment allocation ----------------------------------------------------------------------------

JAN_14 = d(2027, 1, 14)


def two_invoices() -> list[Invoice]:
    return [invoice("INV-00001", "49.99", DEC_15), invoice("INV-00002", "49.99", JAN_14)]


def paid(invoices: list[Invoice], *payments: Payment) -> dict[str, tuple[Decimal, str]]:
    result = allocate(invoices, list(payments))
    return {n: (s.paid, s.status) for n, s in result.invoices.items()}


def test_60_00_naming_inv_00002_pays_it_49_99_then_10_01_to_the_older_inv_00001():
    payment = Payment("P1", d(2027, 1, 1), "C1", D("60.00"), invoice_number="INV-00002")
    assert paid(two_invoices(), payment) == {"INV-00001": (D("10.01"), "partial"),
                                             "INV-00002": (D("49.99"), "paid")}


def test_60_00_naming_nothing_pays_the_oldest_due_inv_00001_in_full_then_10_01():
    payment = Payment("P1", d(2027, 1, 1), "C1", D("60.00"))
    assert paid(two_invoices(), payment) == {"INV-00001": (D("49.99"), "paid"),
                                             "INV-00002": (D("10.01"), "partial")}


def test_oldest_due_date_first_not_first_issued_dec_20_before_jan_14():
    # INV-00001 issued Dec 1 with 44 days to pay, INV-00002 issued Dec 5 with 15
    invoices = [replace(invoice("INV-00001", "49.99", JAN_14), issue_date=DEC_1),
                replace(invoice("INV-00002", "49.99", d(2026, 12, 20)), issue_date=d(2026, 12, 5))]
    assert paid(invoices, Payment("P1", d(2026, 12, 21), "C1", D("49.99"))) == {
        "INV-00001": (D(0), "open"), "INV-00002": (D("49.99"), "paid")}


def test_120_00_on_two_invoices_of_49_99_leaves_20_02_credit_used_on_the_next_invoice():
    result = allocate(two_invoices(), [Payment("P1", DEC_1, "C1", D("120.00"))])
    assert result.client_credit["C1"] == D("20.02")
    assert result.client_balances["C1"] == D("-20.02")
    assert result.payments["P1"].unapplied == D("20.02")
    later = [*two_invoices(), invoice("INV-00003", "49.99", d(2027, 2, 14))]
    after_next = allocate(later, [Payment("P1", DEC_1, "C1", D("120.00"))])
    assert (after_next.invoices["INV-00003"].paid, after_next.client_balances["C1"]) == (
        D("20.02"), D("29.97"))


def test_payment_of_0_01_less_than_49_99_leaves_the_invoice_partial_with_0_01():
    result = allocate([invoice("INV-00001", "49.99")], [Payment("P1", DEC_1, "C1", D("49.98"))])
    state = result.invoices["INV-00001"]
    assert (state.paid, state.balance, state.status) == (D("49.98"), D("0.01"), "partial")


# -- receipts --------------------------------------------------------------------------------------

def test_receipt_window_run_dec_8_covers_dec_2_to_dec_8_7_dates_not_dec_1():
    assert RECEIPT_WINDOW_DAYS == 7
    covered = [day for day in (d(2026, 12, n) for n in range(1, 10))
               if in_receipt_window(day, d(2026, 12, 8))]
    assert covered == [d(2026, 12, n) for n in range(2, 9)]


def test_run_on_dec_8_mails_a_receipt_for_a_payment_of_dec_2_and_none_for_dec_1(tmp_path):
    rows = {"Packages": [row("Packages", package_id="HOME", name="Home", price=D("60.00"),
                             interval="monthly")],
            "Clients": [row("Clients", client_id="C1", name="Ann", email="ann@example.com")],
            "Payments": [row("Payments", payment_id="P-DEC1", date=DEC_1, client_id="C1",
                             amount=D("20.00"), method="check"),
                         row("Payments", payment_id="P-DEC2", date=d(2026, 12, 2),
                             client_id="C1", amount=D("30.00"), method="check")]}
    business = Business.create(tmp_path / "isp", rows)
    business.run(d(2026, 12, 8))
    receipts = [m for m in business.mails() if m.kind == "receipt"]
    assert [m.key for m in receipts] == ["receipt/P-DEC2"]
    assert "30.00" in receipts[0].text and "ann@example.com" in receipts[0].to


# -- rules the mutation check found no test noticing (docs/mutation.md) ---------------------------

def test_prorate_no_dec_16_to_31_left_next_to_billed_dec_1_to_15_costs_16_of_31_of_62_00_32_00():
    # the rest of that period was paid for already: leftover days are prorated even with
    # prorate = no (an end date removed after Dec 1 - Dec 15 was billed, say)
    done = BilledPeriod("S1", DEC_1, DEC_15, 31, D("62.00"), invoice_number="INV-00001")
    state = BilledState(periods={done.key: done}, next_seq=2)
    p = plan(book(service(DEC_1, "HOME62")), d(2026, 12, 20), replace(RULES, prorate=False), state)
    assert lines(p) == [(d(2026, 12, 16), DEC_31, D("32.00"), D("3.20"))]


def test_credit_for_dec_16_to_31_uses_the_10_pct_it_was_billed_at_after_the_rate_became_20():
    state = BilledState().after(plan(book(service(DEC_1, "HOME62")), NOV_30))
    [credit] = plan(book(service(DEC_1, "HOME62", end_date=DEC_15)), d(2026, 12, 10),
                    replace(RULES, tax_rate=D(20)), state).invoices
    assert lines(InvoicePlan((credit,))) == [(d(2026, 12, 16), DEC_31, D("-32.00"), D("-3.20"))]


def test_credit_of_62_00_billed_tax_inclusive_stays_inclusive_32_00_is_29_09_plus_2_91():
    inclusive = replace(RULES, prices_include_tax=True)
    state = BilledState().after(plan(book(service(DEC_1, "HOME62")), NOV_30, inclusive))
    [credit] = plan(book(service(DEC_1, "HOME62", end_date=DEC_15)), d(2026, 12, 10), RULES,
                    state).invoices
    assert lines(InvoicePlan((credit,))) == [(d(2026, 12, 16), DEC_31, D("-29.09"), D("-2.91"))]
    assert credit.billed[0].data == {
        "service_id": "S1", "period_start": "2026-12-01", "start": "2026-12-16",
        "end": "2026-12-31", "end_date": "2026-12-15", "days": 16, "full_days": 31,
        "amount": "-29.09", "tax": "-2.91", "tax_rate": "10"}


def test_end_date_dec_15_credits_all_of_jan_62_00_when_dec_16_to_31_was_credited_before():
    dec = BilledPeriod("S1", DEC_1, DEC_31, 31, D("62.00"), tax_rate=D(10),
                       invoice_number="INV-00001")
    jan = BilledPeriod("S1", d(2027, 1, 1), d(2027, 1, 31), 31, D("62.00"), tax_rate=D(10),
                       invoice_number="INV-00002")
    state = BilledState(periods={dec.key: dec, jan.key: jan}, credits=frozenset({dec.key}),
                        credit_ends={dec.key: DEC_15}, next_seq=3)
    p = plan(book(service(DEC_1, "HOME62", end_date=DEC_15)), d(2027, 1, 5), state=state)
    assert lines(p) == [(d(2027, 1, 1), d(2027, 1, 31), D("-62.00"), D("-6.20"))]


def test_no_credit_for_unused_days_of_dec_when_its_invoice_inv_00001_was_voided():
    [first] = plan(book(service(DEC_1, "HOME62")), NOV_30).invoices
    state = BilledState.from_billed([(b, "INV-00001") for b in first.billed], 2,
                                    voided=["INV-00001"])
    assert state.voided == frozenset({"INV-00001"})
    assert plan(book(service(DEC_1, "HOME62", end_date=DEC_15)), d(2026, 12, 10),
                state=state).invoices == ()


def test_setup_fee_0_50_is_a_line_of_1_x_0_50_at_10_pct_with_tax_0_05_for_service_s1():
    package = replace(HOME, setup_fee=D("0.50"))
    [invoice_] = plan(book(service(DEC_1), packages=(package,)), NOV_30).invoices
    setup = invoice_.invoice.lines[1]
    assert (setup.description, setup.service_id, setup.quantity, setup.unit_price,
            setup.amount, setup.tax_rate, setup.tax) == (
        "Setup fee: Home", "S1", D(1), D("0.50"), D("0.50"), D(10), D("0.05"))
    assert invoice_.billed[1] == Billed("setup", "S1",
                                        {"amount": "0.50", "tax": "0.05", "tax_rate": "10"})


def test_no_setup_fee_25_00_for_a_service_billed_before_its_package_had_one():
    state = BilledState().after(plan(book(service(DEC_1)), NOV_30))
    package = replace(HOME, setup_fee=D("25.00"))
    [jan] = plan(book(service(DEC_1), packages=(package,)), DEC_31, state=state).invoices
    assert [x.amount for x in jan.invoice.lines] == [D("60.00")]


def test_charge_of_20_00_is_a_line_of_1_x_20_00_at_10_pct_with_its_charge_id_ch1():
    charges = (Charge("CH1", "C1", NOV_30, "Router", D("20.00")),)
    [invoice_] = plan(book(charges=charges), NOV_30).invoices
    [x] = invoice_.invoice.lines
    assert (x.description, x.service_id, x.charge_id, x.quantity, x.unit_price, x.amount,
            x.tax_rate, x.tax) == ("Router", "", "CH1", D(1), D("20.00"), D("20.00"), D(10),
                                   D("2.00"))
    assert invoice_.billed == (Billed("charge", "CH1", {
        "date": "2026-11-30", "amount": "20.00", "tax": "2.00", "tax_rate": "10"}),)


def test_charge_of_11_00_with_prices_including_10_pct_tax_is_10_00_plus_1_00():
    charges = (Charge("CH1", "C1", NOV_30, "Router", D("11.00")),)
    rules = replace(RULES, prices_include_tax=True)
    [invoice_] = plan(book(charges=charges), NOV_30, rules).invoices
    assert (invoice_.invoice.subtotal, invoice_.invoice.tax, invoice_.invoice.total) == (
        D("10.00"), D("1.00"), D("11.00"))


def test_yen_charge_of_100_5_and_setup_fee_of_1000_5_round_half_up_to_101_and_1001():
    rules = BillingRules(currency="JPY")
    package = replace(HOME, price=D(6000), setup_fee=D("1000.5"))
    charges = (Charge("CH1", "C1", NOV_30, "Router", D("100.5")),)
    [invoice_] = plan(book(service(DEC_1), packages=(package,), charges=charges), NOV_30,
                      rules).invoices
    assert [x.amount for x in invoice_.invoice.lines] == [D(6000), D(1001), D(101)]


def test_charge_of_dec_10_waits_for_the_dec_31_invoice_while_a_service_ending_mar_31_bills_on():
    b = book(service(DEC_1, end_date=d(2027, 3, 31)),
             charges=(Charge("CH1", "C1", d(2026, 12, 10), "Cable", D("7.00")),))
    state = BilledState().after(plan(b, NOV_30))
    assert plan(b, d(2026, 12, 10), state=state).invoices == ()
    [jan] = plan(b, DEC_31, state=state).invoices
    assert [x.charge_id for x in jan.invoice.lines] == ["", "CH1"]


def test_charge_of_jan_5_after_the_only_service_ended_dec_31_is_invoiced_alone_on_jan_5():
    b = book(service(DEC_1, end_date=DEC_31),
             charges=(Charge("CH1", "C1", d(2027, 1, 5), "Cable", D("7.00")),))
    state = BilledState().after(plan(b, NOV_30))
    [alone] = plan(b, d(2027, 1, 5), state=state).invoices
    assert [x.charge_id for x in alone.invoice.lines] == ["CH1"]


def test_0_50_overdue_21_days_suspends_above_the_default_min_0_00():
    assert suspensions(21, total="0.50") == [("C1", D("0.50"))]


def test_an_invoice_paid_30_days_past_due_is_not_among_the_invoices_that_suspend():
    old = invoice("INV-00001", "60.00", after(-9))
    invoices = allocated([old, invoice("INV-00002")],
                         [Payment("P1", after(-9), "C1", D("60.00"), invoice_number="INV-00001")])
    result = plan_suspensions(invoices, [ANN], after(21), DEFAULT, {}, frozenset())
    assert [(s.invoice_numbers, s.keys) for s in result.suspend] == [
        (("INV-00002",), ("suspend/C1/INV-00002",))]


def test_a_tool_suspended_c1_does_not_stop_c2_from_being_suspended_on_day_21():
    invoices = allocated([invoice("INV-00001"), invoice("INV-00002", client="C2")])
    made = {"C1": ToolSuspension("C1", "suspend/C1/INV-00001", after(21))}
    result = plan_suspensions(invoices, [replace(ANN, status="suspended"), Client("C2", "Ben")],
                              after(21), DEFAULT, made, frozenset())
    assert [s.client_id for s in result.suspend] == ["C2"]


def test_60_00_invoice_with_20_00_paid_owes_40_00_and_nothing_when_void_held_or_paid():
    unallocated = replace(invoice(), paid=D("20.00"), balance=None)
    assert balance_of(unallocated) == D("40.00")
    assert balance_of(replace(unallocated, balance=D("12.00"))) == D("12.00")
    assert [balance_of(replace(unallocated, status=s)) for s in ("void", "held", "paid")] == [
        0, 0, 0]


def test_late_fee_on_a_0_50_balance_14_days_past_due_is_5_00():
    assert late_fees(14, total="0.50") == [("INV-00001", D("5.00"))]


def test_no_late_fee_when_credit_brings_the_clients_overall_balance_to_0_00():
    fees = plan_late_fees(allocated([invoice()]), [ANN], after(14), DEFAULT, frozenset(),
                          balances={"C1": D("0.00")})
    assert fees == []


def test_stages_configured_out_of_order_still_send_the_first_reminder_on_day_3():
    stages = tuple(reversed(DEFAULT.reminders))
    notices = plan_reminders(allocated([invoice()]), [ANN], after(3), stages, D(0),
                             {"INV-00001": frozenset({"due"})})
    assert [i.stage for n in notices for i in n.items] == ["first_reminder"]


def test_two_stages_on_day_3_the_one_configured_later_is_the_one_sent():
    stages = (ReminderStage(name="due", days=0), ReminderStage(name="call", days=3),
              ReminderStage(name="letter", days=3))
    notices = plan_reminders(allocated([invoice()]), [ANN], after(3), stages, D(0), {})
    assert [i.stage for n in notices for i in n.items] == ["letter"]


def test_reminders_for_c9_and_c10_go_out_c9_first_each_with_its_dec_15_due_date():
    clients = [Client("C10", "Ten"), Client("C9", "Nine")]
    invoices = allocated([invoice("INV-00001", client="C10"), invoice("INV-00002", client="C9")])
    notices = plan_reminders(invoices, clients, after(0), DEFAULT.reminders, D(0), {})
    assert [(n.client_id, n.items[0].due_date) for n in notices] == [("C9", DUE), ("C10", DUE)]


def test_c1_with_nothing_new_and_c2_with_credit_covering_it_do_not_stop_c3s_due_notice():
    clients = [ANN, Client("C2", "Ben"), Client("C3", "Cy")]
    invoices = allocated([invoice("INV-00001"), invoice("INV-00002", client="C2"),
                          invoice("INV-00003", client="C3")])
    notices = plan_reminders(invoices, clients, after(0), DEFAULT.reminders, D(0),
                             {"INV-00001": frozenset({"due"})},
                             balances={"C1": D("60.00"), "C2": D("0.00"), "C3": D("60.00")})
    assert [n.client_id for n in notices] == ["C3"]


def test_credit_line_reads_unused_dec_16_to_31_16_of_31_days_10_pct_off():
    state = BilledState().after(plan(book(service(DEC_1, "HOME62", discount_pct=D(10))),
                                     NOV_30))
    [credit] = plan(book(service(DEC_1, "HOME62", discount_pct=D(10), end_date=DEC_15)),
                    d(2026, 12, 10), state=state).invoices
    [line] = credit.invoice.lines
    assert line.description == ("Credit: Home 62 — unused Dec 16 – Dec 31, 2026 "
                                "(16 of 31 days, 10% off)")
    assert (line.amount, line.unit_price, line.quantity, line.tax_rate) == (
        D("-28.80"), D("-62.00"), D(1), D(10))


def test_a_billed_period_dec_1_to_15_of_31_days_reads_back_the_same_from_the_journal():
    billed = BilledPeriod("S1", DEC_1, DEC_15, 31, D("62.00"), D(2), D("10"), D("8.25"),
                          D("54.00"), D("4.46"), True, "INV-00001")
    assert BilledPeriod.from_data(billed.key, billed.to_data(), "INV-00001") == billed


def test_payment_applied_as_49_99_and_0_125_reads_inv_00001_49_99_and_inv_00002_0_125():
    state = PaymentState((("INV-00001", D("49.99")), ("INV-00002", D("0.125")),
                          ("INV-00003", D("5"))))
    assert state.applied_to_text == "INV-00001:49.99; INV-00002:0.125; INV-00003:5.00"


def test_dec_1_to_31_with_dec_1_to_30_billed_leaves_dec_31_alone():
    assert unbilled_parts(DEC_1, DEC_31, [(DEC_1, d(2026, 12, 30))]) == [(DEC_31, DEC_31)]


def test_yen_6001_for_15_of_30_days_is_3000_5_rounded_to_3001_with_8_pct_tax_240_08_to_240():
    rules = BillingRules(currency="JPY", tax_rate=D(8))
    package = replace(HOME, price=D(6001))
    assert lines(plan(book(service(NOV_16), packages=(package,)), NOV_16, rules)) == [
        (NOV_16, NOV_30, D(3001), D(240))]
    inclusive = apply_tax(D(3001), D(8), inclusive=True, currency="JPY")
    assert (inclusive.amount, inclusive.tax) == (D(2779), D(222))


def test_journal_row_with_only_its_key_s_1_2026_12_01_reads_as_one_day_of_service_s_1():
    read = BilledPeriod.from_data("S/1/2026-12-01", {"full_days": "x"}, "INV-00001")
    assert read == BilledPeriod("S/1", DEC_1, DEC_1, 1, D(0), D(1), invoice_number="INV-00001")
    dates_only = BilledPeriod.from_data("S1/2026-12-01", {"end": "2026-12-15"}, "")
    assert (dates_only.start, dates_only.end, dates_only.full_days) == (DEC_1, DEC_15, 15)


def test_a_charges_row_billed_on_nov_30_is_not_billed_again_on_dec_31():
    b = book(service(DEC_1), charges=(Charge("CH1", "C1", NOV_29, "Router", D("20.00")),))
    first = plan(b, NOV_30)
    [dec] = plan(b, DEC_31, state=BilledState().after(first)).invoices
    assert [x.charge_id for x in dec.invoice.lines] == [""]


def test_a_charge_dated_dec_5_first_in_the_tab_does_not_hold_back_one_dated_nov_20():
    charges = (Charge("CH1", "C1", d(2026, 12, 5), "Later", D("7.00")),
               Charge("CH2", "C1", d(2026, 11, 20), "Router", D("20.00")),
               Charge("", "C1", d(2026, 11, 20), "No id yet", D("3.00"),
                      origin=Origin(Layout("Charges", {"charge_id": 0}), 4)),
               Charge("CH3", "C1", d(2026, 11, 21), "Cable", D("5.00")))
    p = plan(book(charges=charges), NOV_30)
    assert [x.charge_id for x in p.invoices[0].invoice.lines] == ["CH2", "CH3"]
    assert [(x.where, x.message, x.fix) for x in p.problems] == [
        ("Charges!A4", "charge has no charge_id yet, so it is not billed this run",
         "the next run fills one and bills it")]


def test_two_services_due_dec_1_are_lines_1_and_2_of_one_invoice_of_120_00():
    b = book(service(DEC_1), service(DEC_1, sid="S2"))
    [invoice_] = plan(b, NOV_30).invoices
    assert [(x.line, x.service_id) for x in invoice_.invoice.lines] == [(1, "S1"), (2, "S2")]
    assert invoice_.invoice.subtotal == D("120.00")


def test_a_service_whose_package_gone_is_missing_bills_nothing():
    assert plan(book(service(DEC_1, "GONE")), NOV_30).invoices == ()


def test_a_charge_waits_for_s1_that_bills_on_even_though_s2_ended_dec_31():
    b = book(service(DEC_1, end_date=d(2027, 6, 30)), service(DEC_1, sid="S2", end_date=DEC_31),
             charges=(Charge("CH1", "C1", d(2026, 12, 10), "Cable", D("7.00")),))
    state = BilledState().after(plan(b, NOV_30))
    assert plan(b, d(2026, 12, 10), state=state).invoices == ()


def test_start_moved_to_dec_1_after_nov_10_to_30_was_billed_warns_for_s1_not_only_s2():
    first = plan(book(service(NOV_10), service(DEC_1, sid="S2")), d(2026, 11, 20))
    moved = book(service(DEC_1), service(DEC_1, sid="S2"))
    p = plan(moved, NOV_30, state=BilledState().after(first))
    assert len(p.problems) == 1 and "service S1 now bills from Dec 1, 2026" in p.problems[0].message


def test_a_refund_of_0_50_reopens_the_invoice_of_0_50_it_had_paid():
    small = invoice("INV-00001", "0.50")
    result = allocate([small], [Payment("P1", DEC_1, "C1", D("0.50")),
                                Payment("P2", d(2026, 12, 2), "C1", D("-0.50"))])
    state = result.invoices["INV-00001"]
    assert (state.paid, state.balance, state.status) == (D("0.00"), D("0.50"), "open")
    assert result.client_credit["C1"] == 0


# -- held invoices (WORKBOOK.md "Decided since": far outside what the client normally pays) -------

def test_7_monthly_periods_jun_to_dec_at_once_are_held_and_6_jul_to_dec_are_not():
    [seven] = plan(book(service(d(2026, 6, 1))), NOV_30).invoices
    assert hold_reason(seven, HoldRules()) == (
        "7 periods of service S1 at once (more than invoicing.hold_above_periods, 6)")
    [six] = plan(book(service(d(2026, 7, 1))), NOV_30).invoices
    assert hold_reason(six, HoldRules()) == ""


def test_601_00_before_tax_is_more_than_10_times_the_60_00_a_period_and_600_00_is_not():
    def held(extra: str) -> str:
        charges = (Charge("CH1", "C1", NOV_30, "Extra", D(extra)),)
        [planned] = plan(book(service(DEC_1), charges=charges), NOV_30).invoices
        return hold_reason(planned, HoldRules(above_periods=0))
    assert held("541.00") == ("$601.00 before tax is 10.0 times the $60.00 its services cost a "
                              "period (more than invoicing.hold_above_multiple, 10)")
    assert held("540.00") == ""


def test_recurring_price_of_2_x_60_00_at_10_pct_off_is_108_00_and_a_setup_fee_never_counts():
    package = replace(HOME, setup_fee=D("1000.00"))
    [planned] = plan(book(service(DEC_1, quantity=D(2), discount_pct=D(10)),
                          packages=(package,)), NOV_30).invoices
    assert recurring_price(planned) == D("108.00")
    assert hold_reason(planned, HoldRules()) == ""


def test_hold_above_amount_65_99_holds_a_66_00_invoice_and_66_00_does_not():
    [planned] = plan(book(service(DEC_1)), NOV_30).invoices
    assert hold_reason(planned, HoldRules(above_amount=D("66.00"))) == ""
    assert hold_reason(planned, HoldRules(above_amount=D("65.99"))) == (
        "the total $66.00 is above invoicing.hold_above_amount ($65.99)")


def test_60_00_naming_inv_00001_pays_it_in_full_on_dec_5_its_paid_date():
    result = allocate([invoice()], [Payment("P1", d(2026, 12, 5), "C1", D("60.00"),
                                            invoice_number="INV-00001")])
    assert (result.invoices["INV-00001"].status, result.invoices["INV-00001"].paid_on) == (
        "paid", d(2026, 12, 5))


def test_a_payment_of_dec_20_naming_inv_00001_paid_on_dec_5_leaves_its_paid_date_dec_5():
    result = allocate([invoice()], [
        Payment("P1", d(2026, 12, 5), "C1", D("60.00")),
        Payment("P2", d(2026, 12, 20), "C1", D("10.00"), invoice_number="INV-00001")])
    assert result.invoices["INV-00001"].paid_on == d(2026, 12, 5)
    assert (result.payments["P2"].applied, result.client_credit["C1"]) == ((), D("10.00"))


def test_a_credit_note_of_minus_20_00_and_a_zero_invoice_are_paid_on_their_issue_day_nov_30():
    credit_note = invoice("INV-00002", "-20.00")
    zero = invoice("INV-00003", "0.00")
    result = allocate([credit_note, zero], [])
    assert [(result.invoices[n].status, result.invoices[n].paid_on)
            for n in ("INV-00002", "INV-00003")] == [("paid", NOV_30), ("paid", NOV_30)]
    assert result.client_credit["C1"] == D("20.00")


def test_two_payments_rows_sharing_id_p1_of_10_00_and_5_00_count_as_one_of_15_00():
    result = allocate([invoice("INV-00001", "12.00")], [Payment("P1", DEC_1, "C1", D("10.00")),
                                                        Payment("P1", DEC_1, "C1", D("5.00"))])
    assert result.payments["P1"].applied == (("INV-00001", D("12.00")),)
    assert result.payments["P1"].unapplied == D("3.00")


def test_a_refund_of_0_50_takes_back_0_50_of_credit_before_reopening_any_invoice():
    result = allocate([invoice("INV-00001", "10.00")], [
        Payment("P1", DEC_1, "C1", D("10.50")), Payment("P2", d(2026, 12, 2), "C1", D("-0.50"))])
    assert (result.invoices["INV-00001"].status, result.client_credit["C1"]) == ("paid", 0)
    assert result.payments["P2"].applied == ()


def test_50_50_pays_49_99_on_the_oldest_and_the_last_0_51_on_the_next_not_as_credit():
    result = allocate(two_invoices(), [Payment("P1", d(2027, 1, 1), "C1", D("50.50"))])
    assert result.invoices["INV-00002"].paid == D("0.51")
    assert result.client_credit["C1"] == 0


def test_a_payment_of_exactly_1_00_shows_as_applied_inv_00001_1_00():
    result = allocate([invoice("INV-00001", "1.00")], [Payment("P1", DEC_1, "C1", D("1.00"))])
    assert result.payments["P1"].applied_to_text == "INV-00001:1.00"


def test_client_ids_10_a_and_b2_sort_digits_first_without_error():
    assert sorted(["B2", "A", "10"], key=natural_key) == ["10", "A", "B2"]


def test_a_charge_without_description_reads_charge_of_nov_30_2026():
    charges = (Charge("CH1", "C1", NOV_30, "", D("5.00")),)
    [invoice_] = plan(book(charges=charges), NOV_30).invoices
    assert invoice_.invoice.lines[0].description == "Charge of Nov 30, 2026"


def test_3_00_paying_invoices_of_2_00_and_1_00_shows_both_inv_00001_2_00_and_inv_00002_1_00():
    invoices = [invoice("INV-00001", "2.00"), invoice("INV-00002", "1.00", JAN_14)]
    result = allocate(invoices, [Payment("P1", d(2027, 1, 1), "C1", D("3.00"))])
    assert result.payments["P1"].applied_to_text == "INV-00001:2.00; INV-00002:1.00"
