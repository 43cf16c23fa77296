"""Periods, proration, tax and numbering: the small rules the invoice planner is made of."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ispsheets.billing.numbering import format_number
from ispsheets.billing.periods import (
    Grid,
    Period,
    add_months,
    anchor,
    first_billable_day,
    issue_date,
    service_periods,
    unbilled_parts,
)
from ispsheets.billing.proration import charged_days, prorated_amount
from ispsheets.billing.tax import apply_tax, line_rate

D = Decimal
d = dt.date


def _periods(first: dt.date, billing_day: int, months: int, last_start: dt.date,
             end: dt.date | None = None) -> list[tuple[dt.date, dt.date, int, int]]:
    return [(p.start, p.end, p.days, p.full_days)
            for p in service_periods(first, billing_day, months, end, last_start)]


def test_jan_31_plus_one_month_is_feb_28_and_feb_29_in_a_leap_year():
    assert add_months(d(2027, 1, 31), 1) == d(2027, 2, 28)
    assert add_months(d(2028, 1, 31), 1) == d(2028, 2, 29)
    assert add_months(d(2027, 1, 15), -2) == d(2026, 11, 15)


def test_anchor_is_the_first_billing_day_on_or_after_the_start():
    assert anchor(d(2026, 11, 10), 1) == d(2026, 12, 1)
    assert anchor(d(2026, 12, 1), 1) == d(2026, 12, 1)
    assert anchor(d(2026, 12, 16), 15) == d(2027, 1, 15)
    assert anchor(d(2026, 12, 31), 28) == d(2027, 1, 28)


def test_billed_through_nov_30_starts_billing_dec_1_and_never_before_start_date():
    assert first_billable_day(d(2025, 6, 1), d(2026, 11, 30)) == d(2026, 12, 1)
    assert first_billable_day(d(2026, 11, 10), None) == d(2026, 11, 10)
    assert first_billable_day(d(2026, 11, 10), d(2026, 10, 1)) == d(2026, 11, 10)


@pytest.mark.parametrize(("months", "end", "days"), [
    (1, d(2026, 12, 31), 31),
    (3, d(2027, 2, 28), 90),
    (6, d(2027, 5, 31), 182),
    (12, d(2027, 11, 30), 365),
])
def test_billing_day_1_full_period_from_dec_1_for_each_interval(months, end, days):
    assert _periods(d(2026, 12, 1), 1, months, d(2026, 12, 1)) == [(d(2026, 12, 1), end, days,
                                                                    days)]


def test_nov_10_start_billing_day_1_monthly_is_21_of_30_days_then_dec_1_to_dec_31():
    assert _periods(d(2026, 11, 10), 1, 1, d(2027, 1, 1)) == [
        (d(2026, 11, 10), d(2026, 11, 30), 21, 30),
        (d(2026, 12, 1), d(2026, 12, 31), 31, 31),
        (d(2027, 1, 1), d(2027, 1, 31), 31, 31)]


def test_nov_10_start_quarterly_first_partial_is_21_of_the_91_days_sep_1_to_nov_30():
    first, second = service_periods(d(2026, 11, 10), 1, 3, None, d(2026, 12, 1))
    assert first == Period(d(2026, 11, 10), d(2026, 11, 30), d(2026, 9, 1), d(2026, 11, 30))
    assert (first.days, first.full_days) == (21, 91)
    assert (second.start, second.end) == (d(2026, 12, 1), d(2027, 2, 28))


def test_billing_day_15_monthly_runs_dec_15_to_jan_14():
    assert _periods(d(2026, 12, 15), 15, 1, d(2027, 1, 15)) == [
        (d(2026, 12, 15), d(2027, 1, 14), 31, 31),
        (d(2027, 1, 15), d(2027, 2, 14), 31, 31)]


def test_billing_day_28_runs_jan_28_to_feb_27_then_feb_28_to_mar_27():
    assert _periods(d(2027, 1, 28), 28, 1, d(2027, 2, 28)) == [
        (d(2027, 1, 28), d(2027, 2, 27), 31, 31),
        (d(2027, 2, 28), d(2027, 3, 27), 28, 28)]


def test_feb_29_2028_start_billing_day_28_is_28_of_29_days_feb_28_to_mar_27():
    [period] = service_periods(d(2028, 2, 29), 28, 1, None, d(2028, 2, 29))
    assert (period.start, period.end) == (d(2028, 2, 29), d(2028, 3, 27))
    assert (period.full_start, period.full_end) == (d(2028, 2, 28), d(2028, 3, 27))
    assert (period.days, period.full_days) == (28, 29)


def test_annual_period_over_feb_29_2028_has_366_days():
    [period] = service_periods(d(2027, 3, 1), 1, 12, None, d(2027, 3, 1))
    assert (period.end, period.full_days) == (d(2028, 2, 29), 366)


def test_jan_31_start_billing_day_1_is_a_one_day_period_of_31():
    assert _periods(d(2027, 1, 31), 1, 1, d(2027, 2, 1)) == [
        (d(2027, 1, 31), d(2027, 1, 31), 1, 31),
        (d(2027, 2, 1), d(2027, 2, 28), 28, 28)]


def test_end_date_jan_10_cuts_the_last_period_to_10_of_31_days():
    assert _periods(d(2026, 12, 1), 1, 1, d(2027, 3, 1), end=d(2027, 1, 10)) == [
        (d(2026, 12, 1), d(2026, 12, 31), 31, 31),
        (d(2027, 1, 1), d(2027, 1, 10), 10, 31)]


def test_start_and_end_inside_one_month_nov_10_to_nov_20_is_11_of_30_days():
    assert _periods(d(2026, 11, 10), 1, 1, d(2027, 1, 1), end=d(2026, 11, 20)) == [
        (d(2026, 11, 10), d(2026, 11, 20), 11, 30)]


def test_grid_extends_backwards_from_the_anchor():
    grid = Grid(d(2026, 12, 15), 1)
    assert grid.full_period(d(2026, 12, 14)) == (d(2026, 11, 15), d(2026, 12, 14))
    assert grid.full_period(d(2026, 12, 15)) == (d(2026, 12, 15), d(2027, 1, 14))
    assert grid.full_period(d(2025, 3, 1)) == (d(2025, 2, 15), d(2025, 3, 14))


def test_dec_1_period_is_issued_nov_30_with_one_day_before():
    assert issue_date(d(2026, 12, 1), 1) == d(2026, 11, 30)
    assert issue_date(d(2026, 12, 1), 0) == d(2026, 12, 1)


def test_unbilled_parts_of_dec_15_to_jan_14_after_dec_1_to_dec_31_is_jan_1_to_jan_14():
    billed = [(d(2026, 12, 1), d(2026, 12, 31))]
    assert unbilled_parts(d(2026, 12, 15), d(2027, 1, 14), billed) == [
        (d(2027, 1, 1), d(2027, 1, 14))]
    assert unbilled_parts(d(2026, 12, 1), d(2026, 12, 31), billed) == []
    assert unbilled_parts(d(2026, 11, 1), d(2027, 1, 31), billed) == [
        (d(2026, 11, 1), d(2026, 11, 30)), (d(2027, 1, 1), d(2027, 1, 31))]


def test_49_99_for_21_of_30_days_is_34_99():
    assert prorated_amount(D("49.99"), D(1), D(0), 21, 30, "USD") == D("34.99")


def test_half_cent_rounds_up_0_05_for_15_of_30_days_is_0_03():
    assert prorated_amount(D("0.05"), D(1), D(0), 15, 30, "USD") == D("0.03")


def test_two_units_at_30_with_10_pct_off_for_a_full_period_is_54_00():
    assert prorated_amount(D("30"), D(2), D(10), 31, 31, "USD") == D("54.00")


def test_prorate_no_charges_the_full_30_days_for_21_used():
    assert charged_days(21, 30, prorate=False) == 30
    assert charged_days(21, 30, prorate=True) == 21


def test_yen_rounds_to_whole_units_1000_for_21_of_30_days_is_700():
    assert prorated_amount(D("1000"), D(1), D(0), 21, 30, "JPY") == D("700")


def test_exclusive_tax_10_pct_on_34_99_is_3_50():
    line = apply_tax(D("34.99"), D(10), inclusive=False, currency="USD")
    assert (line.amount, line.tax, line.gross) == (D("34.99"), D("3.50"), D("38.49"))


def test_inclusive_tax_10_pct_in_54_99_is_5_00_on_49_99():
    line = apply_tax(D("54.99"), D(10), inclusive=True, currency="USD")
    assert (line.amount, line.tax, line.gross) == (D("49.99"), D("5.00"), D("54.99"))


def test_inclusive_tax_on_a_negative_credit_mirrors_the_charge():
    line = apply_tax(D("-54.99"), D(10), inclusive=True, currency="USD")
    assert (line.amount, line.tax) == (D("-49.99"), D("-5.00"))


def test_tax_exempt_client_pays_0_pct_and_blank_rate_uses_the_default():
    assert line_rate(True, D("8.25"), D(10)) == 0
    assert line_rate(False, None, D(10)) == 10
    assert line_rate(False, D("8.25"), D(10)) == D("8.25")


def test_number_42_formats_as_inv_00042():
    assert format_number("INV-{seq:05d}", 42) == "INV-00042"
    assert format_number("{seq}", 7) == "7"
