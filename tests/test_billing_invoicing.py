"""The invoice planner, rule by rule, with the worked numbers of the contract."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

from ispsheets.billing.invoicing import (
    BilledPeriod,
    BilledState,
    BillingRules,
    InvoicePlan,
    plan_invoices,
)
from ispsheets.book.records import Book, Charge, Client, Layout, Origin, Package, Service
from ispsheets.config import Config
from ispsheets.journal import Journal

D = Decimal
d = dt.date
HOME100 = Package("HOME100", "Home 100", D("49.99"), "monthly", D(100), D(20), None)
HOME200 = Package("HOME200", "Home 200", D("79.99"), "monthly", D(200), D(50), D(500))
RULES = BillingRules(tax_rate=D(10))
SERVICES = Layout("Services", {"service_id": 0, "client_id": 1, "package_id": 2,
                               "start_date": 3, "end_date": 4})
CHARGES = Layout("Charges", {"charge_id": 0, "client_id": 1})
DEC_1, NOV_20 = d(2026, 12, 1), d(2026, 11, 20)


def service(service_id: str = "S1", start: dt.date = DEC_1, client: str = "C1",
            package: str = "HOME100", row: int = 2, **changes: object) -> Service:
    return replace(Service(service_id, client, package, start, origin=Origin(SERVICES, row)),
                   **changes)


def charge(charge_id: str, amount: str, day: dt.date = NOV_20, client: str = "C1",
           description: str = "Static IP setup", **changes: object) -> Charge:
    return replace(Charge(charge_id, client, day, description, D(amount),
                          origin=Origin(CHARGES, 2)), **changes)


def book(*services: Service, charges: tuple[Charge, ...] = (),
         clients: tuple[Client, ...] = (Client("C1", "Ann"),)) -> Book:
    return Book(packages=(HOME100, HOME200), clients=clients, services=services,
                charges=charges)


def plan(b: Book, today: dt.date, state: BilledState | None = None,
         rules: BillingRules = RULES, **kw: object) -> InvoicePlan:
    return plan_invoices(b, rules, today, state or BilledState(), **kw)  # type: ignore[arg-type]


def runs(b: Book, *days: dt.date, rules: BillingRules = RULES,
         state: BilledState | None = None) -> tuple[list[InvoicePlan], BilledState]:
    """Run on each day in turn, feeding each run's billed keys back as the next state."""
    state = state or BilledState()
    plans = []
    for day in days:
        result = plan_invoices(b, rules, day, state)
        plans.append(result)
        state = state.after(result)
    return plans, state


def amounts(p: InvoicePlan) -> list[list[tuple[str, Decimal, Decimal]]]:
    return [[(line.description, line.amount, line.tax) for line in i.invoice.lines]
            for i in p.invoices]


# -- periods and issue dates ----------------------------------------------------------------------

def test_nov_10_start_billing_day_1_49_99_monthly_bills_34_99_plus_3_50_tax():
    [invoice] = plan(book(service(start=d(2026, 11, 10))), d(2026, 11, 9)).invoices
    [line] = invoice.invoice.lines
    assert line.description == ("Home 100 (100/20 Mbps, unlimited) — Nov 10 – Nov 30, 2026 "
                                "(21 of 30 days)")
    assert (line.quantity, line.unit_price, line.amount, line.tax_rate, line.tax) == (
        D(1), D("49.99"), D("34.99"), D(10), D("3.50"))
    assert (invoice.invoice.subtotal, invoice.invoice.tax, invoice.invoice.total) == (
        D("34.99"), D("3.50"), D("38.49"))


def test_dec_1_period_is_billed_on_nov_30_not_nov_29_and_dated_the_run_day():
    b = book(service())
    assert plan(b, d(2026, 11, 29)).invoices == ()
    [planned] = plan(b, d(2026, 11, 30)).invoices
    invoice = planned.invoice
    assert (invoice.issue_date, invoice.due_date) == (d(2026, 11, 30), d(2026, 12, 15))
    assert (invoice.period_start, invoice.period_end) == (d(2026, 12, 1), d(2026, 12, 31))
    assert invoice.lines[0].description == (
        "Home 100 (100/20 Mbps, unlimited) — Dec 1 – Dec 31, 2026")
    assert [(b.kind, b.key) for b in planned.billed] == [("period", "S1/2026-12-01")]


def test_generate_5_days_before_bills_dec_1_on_nov_26():
    rules = replace(RULES, generate_days_before=5)
    assert plan(book(service()), d(2026, 11, 25), rules=rules).invoices == ()
    assert len(plan(book(service()), d(2026, 11, 26), rules=rules).invoices) == 1


def test_billing_day_15_client_bills_dec_15_to_jan_14_for_49_99():
    client = Client("C1", "Ann", billing_day=15)
    result = plan(book(service(start=d(2026, 12, 15)), clients=(client,)), d(2026, 12, 14))
    assert amounts(result) == [[(
        "Home 100 (100/20 Mbps, unlimited) — Dec 15, 2026 – Jan 14, 2027", D("49.99"),
        D("5.00"))]]
    assert result.invoices[0].invoice.period_end == d(2027, 1, 14)


def test_config_billing_day_28_start_feb_29_2028_bills_28_of_29_days_48_27():
    rules = replace(RULES, billing_day=28)
    [invoice] = plan(book(service(start=d(2028, 2, 29))), d(2028, 2, 28), rules=rules).invoices
    [line] = invoice.invoice.lines
    assert line.amount == D("48.27")  # 49.99 × 28 / 29 = 48.2662
    assert line.description.endswith("Feb 29 – Mar 27, 2028 (28 of 29 days)")


def test_quarterly_149_97_from_nov_10_bills_21_of_91_days_34_61_then_dec_to_feb():
    quarterly = Package("Q", "Home 100 quarterly", D("149.97"), "quarterly")
    b = replace(book(service(start=d(2026, 11, 10), package="Q")), packages=(quarterly,))
    [invoice] = plan(b, d(2026, 11, 30)).invoices
    assert [(x.period_start, x.period_end, x.amount) for x in invoice.invoice.lines] == [
        (d(2026, 11, 10), d(2026, 11, 30), D("34.61")),  # 149.97 × 21 / 91 = 34.608
        (d(2026, 12, 1), d(2027, 2, 28), D("149.97"))]


def test_annual_599_from_jan_31_bills_1_of_365_days_1_64_then_feb_1_2027_to_jan_31_2028():
    annual = Package("A", "Home 100 annual", D("599"), "annual")
    b = replace(book(service(start=d(2027, 1, 31), package="A")), packages=(annual,))
    [invoice] = plan(b, d(2027, 1, 31)).invoices
    assert [(x.period_start, x.period_end, x.amount) for x in invoice.invoice.lines] == [
        (d(2027, 1, 31), d(2027, 1, 31), D("1.64")),  # of the year Feb 1, 2026 - Jan 31, 2027
        (d(2027, 2, 1), d(2028, 1, 31), D("599.00"))]


def test_missed_runs_oct_1_start_first_run_dec_5_bills_oct_nov_dec_on_one_invoice_dated_dec_5():
    [planned] = plan(book(service(start=d(2026, 10, 1))), d(2026, 12, 5)).invoices
    invoice = planned.invoice
    assert [(x.period_start, x.amount) for x in invoice.lines] == [
        (d(2026, 10, 1), D("49.99")), (d(2026, 11, 1), D("49.99")), (d(2026, 12, 1), D("49.99"))]
    assert (invoice.issue_date, invoice.due_date) == (d(2026, 12, 5), d(2026, 12, 20))
    assert (invoice.period_start, invoice.period_end) == (d(2026, 10, 1), d(2026, 12, 31))
    assert invoice.total == D("164.97")  # 3 × (49.99 + 5.00)


def test_rerun_on_the_same_day_with_the_first_runs_state_bills_nothing():
    b = book(service(start=d(2026, 10, 1)), charges=(charge("CH1", "25"),))
    first, state = runs(b, d(2026, 12, 5))
    assert len(first[0].invoices) == 1
    assert plan(b, d(2026, 12, 5), state) == InvoicePlan()


def test_daily_runs_bill_each_month_once_on_the_day_before_it_starts():
    days = [d(2026, 11, 25) + dt.timedelta(days=i) for i in range(70)]
    plans, _ = runs(book(service()), *days)
    issued = [(p.invoices[0].invoice.issue_date, p.invoices[0].invoice.period_start)
              for p in plans if p.invoices]
    assert issued == [(d(2026, 11, 30), d(2026, 12, 1)), (d(2026, 12, 31), d(2027, 1, 1)),
                      (d(2027, 1, 31), d(2027, 2, 1))]


def test_billed_through_nov_30_bills_from_dec_1_with_no_setup_fee():
    fee = replace(HOME100, setup_fee=D("50"))
    b = replace(book(service(start=d(2025, 3, 1), billed_through=d(2026, 11, 30))),
                packages=(fee,))
    [invoice] = plan(b, d(2026, 11, 30)).invoices
    assert [(x.period_start, x.amount) for x in invoice.invoice.lines] == [
        (d(2026, 12, 1), D("49.99"))]


def test_billed_through_nov_20_bills_nov_21_to_30_as_10_of_30_days_16_66():
    b = book(service(start=d(2025, 3, 1), billed_through=d(2026, 11, 20)))
    [invoice] = plan(b, d(2026, 11, 21)).invoices
    assert [(x.period_start, x.period_end, x.amount) for x in invoice.invoice.lines] == [
        (d(2026, 11, 21), d(2026, 11, 30), D("16.66"))]  # 49.99 × 10 / 30 = 16.663


def test_end_date_jan_10_bills_10_of_31_days_16_13_and_nothing_after():
    b = book(service(end_date=d(2027, 1, 10)))
    plans, _ = runs(b, d(2026, 11, 30), d(2026, 12, 31), d(2027, 1, 31), d(2027, 2, 28))
    assert [amounts(p) for p in plans][1] == [[(
        "Home 100 (100/20 Mbps, unlimited) — Jan 1 – Jan 10, 2027 (10 of 31 days)",
        D("16.13"), D("1.61"))]]
    assert plans[2].invoices == () and plans[3].invoices == ()


# -- prices and tax -------------------------------------------------------------------------------

def test_prices_include_tax_54_99_at_10_pct_is_49_99_plus_5_00():
    rules = replace(RULES, prices_include_tax=True)
    gross = replace(HOME100, price=D("54.99"))
    [invoice] = plan(replace(book(service()), packages=(gross,)), d(2026, 11, 30),
                     rules=rules).invoices
    assert (invoice.invoice.subtotal, invoice.invoice.tax, invoice.invoice.total) == (
        D("49.99"), D("5.00"), D("54.99"))


def test_tax_exempt_client_pays_49_99_with_0_tax():
    exempt = Client("C1", "School", tax_exempt=True)
    [invoice] = plan(book(service(), clients=(exempt,)), d(2026, 11, 30)).invoices
    assert (invoice.invoice.tax, invoice.invoice.total) == (D("0.00"), D("49.99"))
    assert invoice.invoice.lines[0].tax_rate == 0


def test_package_tax_rate_8_25_overrides_the_default_10_on_49_99_giving_4_12():
    taxed = replace(HOME100, tax_rate=D("8.25"))
    [invoice] = plan(replace(book(service()), packages=(taxed,)), d(2026, 11, 30)).invoices
    assert (invoice.invoice.lines[0].tax_rate, invoice.invoice.tax) == (D("8.25"), D("4.12"))


def test_two_units_at_override_price_30_with_10_pct_off_bill_54_00():
    s = service(quantity=D(2), price=D("30.00"), discount_pct=D(10))
    [invoice] = plan(book(s), d(2026, 11, 30)).invoices
    [line] = invoice.invoice.lines
    assert (line.quantity, line.unit_price, line.amount, line.tax) == (
        D(2), D("30.00"), D("54.00"), D("5.40"))
    assert line.description.endswith("Dec 1 – Dec 31, 2026 (10% off)")


def test_package_with_a_500_gb_cap_shows_it_in_the_description():
    [invoice] = plan(book(service(package="HOME200")), d(2026, 11, 30)).invoices
    assert invoice.invoice.lines[0].description.startswith("Home 200 (200/50 Mbps, 500 GB) — ")


# -- setup fees, charges and credits --------------------------------------------------------------

def test_setup_fee_50_follows_the_first_period_line_once_and_never_again():
    fee = replace(HOME100, setup_fee=D("50"))
    b = replace(book(service(start=d(2026, 11, 10))), packages=(fee,))
    plans, _ = runs(b, d(2026, 12, 5), d(2026, 12, 31))
    first, second = (p.invoices[0].invoice for p in plans)
    assert [(x.description, x.amount) for x in first.lines][:2] == [
        ("Home 100 (100/20 Mbps, unlimited) — Nov 10 – Nov 30, 2026 (21 of 30 days)",
         D("34.99")),
        ("Setup fee: Home 100", D("50.00"))]
    assert len(first.lines) == 3
    assert [x.description for x in second.lines] == [
        "Home 100 (100/20 Mbps, unlimited) — Jan 1 – Jan 31, 2027"]
    assert [b.kind for b in plans[0].invoices[0].billed] == ["period", "setup", "period"]


def test_charge_25_and_credit_minus_10_untaxed_ride_on_the_next_invoice():
    b = book(service(), charges=(charge("CH1", "25"),
                                 charge("CH2", "-10", description="Outage credit",
                                        taxable=False)))
    assert plan(b, d(2026, 11, 25)).invoices == ()  # the service bills again: charges wait
    [planned] = plan(b, d(2026, 11, 30)).invoices
    invoice = planned.invoice
    assert [(x.description, x.amount, x.tax, x.charge_id) for x in invoice.lines[1:]] == [
        ("Static IP setup", D("25.00"), D("2.50"), "CH1"),
        ("Outage credit", D("-10.00"), D("0.00"), "CH2")]
    assert invoice.total == D("49.99") + D("5.00") + D("25.00") + D("2.50") - D("10.00")
    assert invoice.period_start == d(2026, 12, 1)


def test_charge_dated_after_the_run_day_or_already_numbered_is_not_billed():
    b = book(service(), charges=(charge("CH1", "25", day=d(2026, 12, 1)),
                                 charge("CH2", "5", invoice_number="INV-00007")))
    [invoice] = plan(b, d(2026, 11, 30)).invoices
    assert len(invoice.invoice.lines) == 1


def test_charge_without_an_id_is_held_with_a_warning():
    b = book(service(), charges=(charge("", "25"),))
    result = plan(b, d(2026, 11, 30))
    assert len(result.invoices[0].invoice.lines) == 1
    [problem] = result.problems
    assert problem.where == "Charges!A2" and not problem.is_error


def test_late_fee_5_00_for_a_client_whose_service_ended_is_a_charges_only_invoice():
    b = book(service(end_date=d(2026, 12, 31)),
             charges=(charge("CH9", "5", day=d(2027, 1, 20), description="Late fee for INV-00001",
                             taxable=False),))
    _, state = runs(b, d(2026, 11, 30))
    [planned] = plan(b, d(2027, 1, 20), state).invoices
    invoice = planned.invoice
    assert [(x.description, x.amount, x.tax) for x in invoice.lines] == [
        ("Late fee for INV-00001", D("5.00"), D("0.00"))]
    assert (invoice.period_start, invoice.period_end, invoice.total) == (None, None, D("5.00"))
    assert [(b.kind, b.key) for b in planned.billed] == [("charge", "CH9")]


def test_client_with_no_service_gets_a_credit_note_of_minus_20():
    b = book(charges=(charge("CH1", "-20", description="Goodwill credit", taxable=False),))
    [invoice] = plan(b, d(2026, 11, 30)).invoices
    assert invoice.invoice.total == D("-20.00")


def test_package_change_dec_15_credits_17_of_31_days_27_41_and_bills_home_200_43_87():
    old = service(end_date=d(2026, 12, 14))
    new = service("S2", start=d(2026, 12, 15), package="HOME200", row=3)
    _, state = runs(book(service()), d(2026, 11, 30))  # Dec 1 - Dec 31 invoiced as INV-00001
    [planned] = plan(book(old, new), d(2026, 12, 15), state).invoices
    invoice = planned.invoice
    assert [(x.service_id, x.description, x.amount, x.tax) for x in invoice.lines] == [
        ("S2", "Home 200 (200/50 Mbps, 500 GB) — Dec 15 – Dec 31, 2026 (17 of 31 days)",
         D("43.87"), D("4.39")),  # 79.99 × 17 / 31 = 43.866
        ("S1", "Credit: Home 100 — unused Dec 15 – Dec 31, 2026 (17 of 31 days)",
         D("-27.41"), D("-2.74"))]  # 49.99 × 17 / 31 = 27.414
    assert (invoice.period_start, invoice.period_end) == (d(2026, 12, 15), d(2026, 12, 31))
    assert [(b.kind, b.key) for b in planned.billed] == [("period", "S2/2026-12-15"),
                                                         ("credit", "S1/2026-12-01")]


def test_credit_for_a_cancelled_client_goes_out_alone_as_minus_27_41_plus_tax():
    _, state = runs(book(service()), d(2026, 11, 30))
    cancelled = Client("C1", "Ann", status="cancelled")
    b = book(service(end_date=d(2026, 12, 14)), clients=(cancelled,))
    [invoice] = plan(b, d(2026, 12, 20), state).invoices
    assert (invoice.invoice.subtotal, invoice.invoice.tax, invoice.invoice.total) == (
        D("-27.41"), D("-2.74"), D("-30.15"))


def test_credit_is_given_once_and_moving_the_end_date_again_only_warns():
    _, state = runs(book(service()), d(2026, 11, 30))
    _, state = runs(book(service(end_date=d(2026, 12, 14))), d(2026, 12, 15), state=state)
    moved = plan(book(service(end_date=d(2026, 12, 20))), d(2026, 12, 21), state)
    assert moved.invoices == ()
    [problem] = moved.problems
    assert problem.where == "Services!E2" and not problem.is_error
    assert "already credited" in problem.message
    assert plan(book(service(end_date=d(2026, 12, 14))), d(2026, 12, 21), state) == InvoicePlan()


def test_no_credit_for_days_of_a_voided_invoice():
    _, state = runs(book(service()), d(2026, 11, 30))
    state = replace(state, voided=frozenset({"INV-00001"}))
    assert plan(book(service(end_date=d(2026, 12, 14))), d(2026, 12, 20), state).invoices == ()


def test_prorate_no_bills_the_full_49_99_for_nov_10_to_30_and_credits_nothing():
    flat = replace(HOME100, prorate=False)
    b = replace(book(service(start=d(2026, 11, 10))), packages=(flat,))
    plans, state = runs(b, d(2026, 11, 30))
    assert [line.amount for line in plans[0].invoices[0].invoice.lines] == [D("49.99"),
                                                                            D("49.99")]
    assert plans[0].invoices[0].invoice.lines[0].description.endswith("Nov 10 – Nov 30, 2026")
    ended = replace(b, services=(service(start=d(2026, 11, 10), end_date=d(2026, 12, 14)),))
    assert plan(ended, d(2026, 12, 20), state).invoices == ()


def test_rules_prorate_no_applies_when_the_package_leaves_it_blank():
    rules = replace(RULES, prorate=False)
    [invoice] = plan(book(service(start=d(2026, 11, 10))), d(2026, 11, 9), rules=rules).invoices
    assert invoice.invoice.subtotal == D("49.99")


# -- never twice ----------------------------------------------------------------------------------

def test_billing_day_moved_to_15_after_dec_billed_bills_jan_1_to_14_as_14_of_31_days_22_58():
    _, state = runs(book(service()), d(2026, 11, 30))
    moved = book(service(), clients=(Client("C1", "Ann", billing_day=15),))
    [invoice] = plan(moved, d(2027, 1, 14), state).invoices
    assert [(x.period_start, x.period_end, x.amount) for x in invoice.invoice.lines] == [
        (d(2027, 1, 1), d(2027, 1, 14), D("22.58")),  # 49.99 × 14 / 31 = 22.576
        (d(2027, 1, 15), d(2027, 2, 14), D("49.99"))]


def test_start_date_moved_earlier_bills_only_the_new_days_nov_20_to_30():
    _, state = runs(book(service()), d(2026, 11, 30))
    [invoice] = plan(book(service(start=d(2026, 11, 20))), d(2026, 12, 2), state).invoices
    assert [(x.period_start, x.period_end, x.amount) for x in invoice.invoice.lines] == [
        (d(2026, 11, 20), d(2026, 11, 30), D("18.33"))]  # 49.99 × 11 / 30 = 18.330


def test_start_date_moved_later_after_billing_warns_and_credits_nothing():
    _, state = runs(book(service()), d(2026, 11, 30))
    result = plan(book(service(start=d(2026, 12, 10))), d(2026, 12, 12), state)
    assert result.invoices == ()
    [problem] = result.problems
    assert problem.where == "Services!D2" and "Dec 1 – Dec 9, 2026" in problem.message


# -- numbering and clients ------------------------------------------------------------------------

def test_three_clients_are_numbered_inv_00042_to_44_in_client_id_order():
    clients = (Client("C2", "Bo"), Client("C1", "Ann"), Client("C3", "Cy"))
    b = book(service("S1", client="C2"), service("S2", client="C1"), service("S3", client="C3"),
             clients=clients)
    result = plan(b, d(2026, 11, 30), BilledState(next_seq=42))
    assert [(p.invoice.invoice_number, p.seq, p.invoice.client_id) for p in result.invoices] == [
        ("INV-00042", 42, "C1"), ("INV-00043", 43, "C2"), ("INV-00044", 44, "C3")]
    assert all(x.invoice_number == p.invoice.invoice_number
               for p in result.invoices for x in p.invoice.lines)


def test_client_c9_is_numbered_before_c10_in_natural_order_as_everywhere_else():
    clients = (Client("C10", "Bo"), Client("C9", "Ann"), Client("C100", "Cy"))
    b = book(*(service(f"S-{c.client_id}", client=c.client_id) for c in clients),
             clients=clients)
    result = plan(b, d(2026, 11, 30))
    assert [(p.invoice.invoice_number, p.invoice.client_id) for p in result.invoices] == [
        ("INV-00001", "C9"), ("INV-00002", "C10"), ("INV-00003", "C100")]


def test_skipped_client_gets_nothing_and_the_others_stay_contiguous():
    clients = (Client("C1", "Ann"), Client("C2", "Bo"), Client("C3", "Cy"))
    b = book(service("S1", client="C1"), service("S2", client="C2"), service("S3", client="C3"),
             charges=(charge("CH1", "5", client="C2"),), clients=clients)
    result = plan(b, d(2026, 11, 30), skip_clients=frozenset({"C2"}))
    assert [(p.invoice.invoice_number, p.invoice.client_id) for p in result.invoices] == [
        ("INV-00001", "C1"), ("INV-00002", "C3")]


def test_charge_numbers_map_each_billed_charge_to_its_invoice():
    b = book(service(), charges=(charge("CH1", "25"),))
    assert plan(b, d(2026, 11, 30)).charge_numbers() == {"CH1": "INV-00001"}


# -- the journal round trip and config ------------------------------------------------------------

def test_state_rebuilt_from_a_real_journal_bills_nothing_twice_and_continues_at_inv_00002():
    journal = Journal.memory()
    b = book(service(start=d(2026, 11, 10)), charges=(charge("CH1", "25"),))
    first = plan(b, d(2026, 11, 30), BilledState(next_seq=journal.peek_seq("invoice")))
    journal.record_invoices([(p.invoice, p.seq, p.billed) for p in first.invoices],
                            dt.datetime(2026, 11, 30, 6))
    state = BilledState.from_billed(journal.billed(), journal.peek_seq("invoice"))
    assert state == BilledState().after(first)
    assert state.periods["S1/2026-11-10"] == BilledPeriod(
        "S1", d(2026, 11, 10), d(2026, 11, 30), 30, D("49.99"), D(1), D(0), D(10), D("34.99"),
        D("3.50"), False, "INV-00001")
    assert plan(b, d(2026, 11, 30), state) == InvoicePlan()
    [next_invoice] = plan(b, d(2026, 12, 31), state).invoices
    assert next_invoice.invoice.invoice_number == "INV-00002"


def test_rules_from_config_take_invoicing_settings_and_currency():
    config = Config.model_validate({"workbook": {"path": "isp.xlsx"}, "currency": "eur",
                                    "invoicing": {"billing_day": 15, "tax_rate": "8.25",
                                                  "prices_include_tax": True}})
    assert BillingRules.from_config(config) == BillingRules(
        billing_day=15, tax_rate=D("8.25"), prices_include_tax=True, currency="EUR")


def test_billed_amounts_parsed_once_per_text_keep_their_own_digits():
    from ispsheets.billing.invoicing import _decimal

    assert str(_decimal(1)) == "1" and str(_decimal(1.0)) == "1.0"  # one cache, two keys
    assert str(_decimal("49.99")) == "49.99" and _decimal(None) == 0
