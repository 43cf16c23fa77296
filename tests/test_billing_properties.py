"""Properties of the planner over random services and random run calendars.

Each run feeds its billed keys back as the next run's state, as the journal does. The checks use
an oracle written independently of `billing/periods.py`: a day is worth
`price × quantity × (100 − discount) / 100 / days of the full period it lies in`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from ispsheets.billing.invoicing import BilledState, BillingRules, InvoicePlan, plan_invoices
from ispsheets.book.records import Book, Client, InvoiceLine, Package, Service

D = Decimal
ONE_DAY = dt.timedelta(days=1)
CENT = D("0.01")
MONTHS = {"monthly": 1, "quarterly": 3, "semiannual": 6, "annual": 12}
TRICKY_DAYS = [dt.date(2028, 2, 29), dt.date(2028, 2, 28), dt.date(2027, 1, 31),
               dt.date(2027, 12, 31), dt.date(2028, 3, 1), dt.date(2027, 2, 28),
               dt.date(2027, 1, 1), dt.date(2027, 1, 28)]

dates = st.one_of(st.dates(dt.date(2027, 1, 1), dt.date(2029, 6, 30)), st.sampled_from(TRICKY_DAYS))
money = st.integers(1, 99_999).map(lambda cents: D(cents) / 100)


@st.composite
def services(draw: st.DrawFn, number: int) -> tuple[Service, Package, Client]:
    interval = draw(st.sampled_from(list(MONTHS)))
    package = Package(f"P{number}", f"Plan {number}", draw(money), interval)
    client = Client(f"C{number}", f"Client {number}",
                    billing_day=draw(st.one_of(st.none(), st.integers(1, 28),
                                               st.sampled_from([1, 15, 28]))))
    start = draw(dates)
    end = draw(st.one_of(st.none(), st.integers(0, 800).map(lambda n: start + n * ONE_DAY)))
    billed_through = draw(st.one_of(st.none(),
                                    st.integers(-30, 90).map(lambda n: start + n * ONE_DAY)))
    service = Service(f"S{number}", client.client_id, package.package_id, start, end,
                      quantity=D(draw(st.sampled_from(["1", "2", "3", "0.5"]))),
                      price=draw(st.one_of(st.none(), money)),
                      discount_pct=D(draw(st.sampled_from(["0", "0", "10", "12.5", "100"]))),
                      billed_through=billed_through)
    return service, package, client


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Book, BillingRules, list[dt.date]]:
    drawn = [draw(services(i)) for i in range(draw(st.integers(1, 3)))]
    book = Book(packages=tuple(p for _, p, _ in drawn), clients=tuple(c for _, _, c in drawn),
                services=tuple(s for s, _, _ in drawn))
    rules = BillingRules(billing_day=draw(st.integers(1, 28)),
                         generate_days_before=draw(st.integers(0, 7)),
                         tax_rate=draw(st.sampled_from([D(0), D(10), D("8.25")])))
    first = min(s.start_date for s in book.services) + draw(st.integers(-40, 60)) * ONE_DAY
    gaps = draw(st.lists(st.one_of(st.just(1), st.integers(1, 70)), min_size=1, max_size=25))
    run_days = [first]
    for gap in gaps:
        run_days.append(run_days[-1] + gap * ONE_DAY)
    return book, rules, run_days


def run_all(book: Book, rules: BillingRules, days: list[dt.date],
            state: BilledState | None = None) -> tuple[list[InvoicePlan], BilledState]:
    state = state or BilledState()
    plans = []
    for day in days:
        plan = plan_invoices(book, rules, day, state)
        plans.append(plan)
        state = state.after(plan)
    return plans, state


# -- the oracle -------------------------------------------------------------------------------

def _month_start(anchor: dt.date, months: int) -> dt.date:
    index = anchor.year * 12 + anchor.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, anchor.day)


def first_day(service: Service) -> dt.date:
    if service.billed_through is None:
        return service.start_date
    return max(service.start_date, service.billed_through + ONE_DAY)


def grid_periods(service: Service, billing_day: int, months: int):
    """Full periods (start, end) from the one holding the first billable day, onwards."""
    first = first_day(service)
    anchor = first
    while anchor.day != billing_day:
        anchor += ONE_DAY
    k = 0
    while _month_start(anchor, k * months) > first:
        k -= 1
    while True:
        yield _month_start(anchor, k * months), _month_start(anchor, (k + 1) * months) - ONE_DAY
        k += 1


def days_value(service: Service, package: Package, days: int, full_days: int) -> Decimal:
    price = package.price if service.price is None else service.price
    return price * service.quantity * (100 - service.discount_pct) * days / (100 * full_days)


def expected_days(service: Service, client: Client, package: Package, rules: BillingRules,
                  last_run: dt.date) -> list[tuple[dt.date, dt.date, int]]:
    """(start, end, full period days) of every segment due by the last run."""
    billing_day = client.billing_day or rules.billing_day
    first, end = first_day(service), service.end_date
    last_start = last_run + rules.generate_days_before * ONE_DAY
    result = []
    for full_start, full_end in grid_periods(service, billing_day, MONTHS[package.interval]):
        start = max(first, full_start)
        stop = full_end if end is None else min(full_end, end)
        if start > last_start or start > stop:
            break
        result.append((start, stop, (full_end - full_start).days + 1))
    return result


def exact_value(service: Service, client: Client, package: Package, rules: BillingRules,
                start: dt.date, stop: dt.date) -> Decimal:
    """What days `start`-`stop` are worth, by the oracle's grid."""
    billing_day = client.billing_day or rules.billing_day
    total = D(0)
    for full_start, full_end in grid_periods(service, billing_day, MONTHS[package.interval]):
        if full_start > stop:
            return total
        overlap = (min(stop, full_end) - max(start, full_start)).days + 1
        if overlap > 0:
            total += days_value(service, package, overlap, (full_end - full_start).days + 1)
    return total


def lines_by_kind(plans: list[InvoicePlan]) -> dict[tuple[str, str], list[InvoiceLine]]:
    kinds: dict[tuple[str, str], list[InvoiceLine]] = defaultdict(list)
    for plan in plans:
        for planned in plan.invoices:
            for billed, line in zip(planned.billed, planned.invoice.lines, strict=True):
                kinds[billed.kind, line.service_id].append(line)
    return kinds


# -- the properties ---------------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_every_due_day_is_billed_once_at_its_prorated_price_within_a_cent_per_line(scenario):
    book, rules, days = scenario
    plans, _ = run_all(book, rules, days)
    kinds = lines_by_kind(plans)
    for service in book.services:
        package, client = book.package_map()[service.package_id], book.client_map()[
            service.client_id]
        lines = sorted(kinds["period", service.service_id], key=lambda x: x.period_start)
        billed = [(x.period_start, x.period_end) for x in lines]
        for (_, prev_end), (start, _) in pairwise(billed):
            assert start == prev_end + ONE_DAY  # no day twice, no gap
        expected = expected_days(service, client, package, rules, days[-1])
        if expected:
            assert billed[0][0] == expected[0][0] and billed[-1][1] == expected[-1][1]
        else:
            assert billed == []
        for line in lines:
            exact = exact_value(service, client, package, rules, line.period_start,
                                line.period_end)
            assert abs(line.amount - exact) <= D("0.005")
            assert line.tax == (line.amount * line.tax_rate / 100).quantize(
                CENT, rounding=ROUND_HALF_UP)
        total_exact = sum((exact_value(service, client, package, rules, s, e)
                           for s, e, _ in expected), D(0))
        assert abs(sum((x.amount for x in lines), D(0)) - total_exact) <= CENT * max(1, len(lines))


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_numbers_are_contiguous_and_each_total_is_the_sum_of_its_lines(scenario):
    book, rules, days = scenario
    plans, state = run_all(book, rules, days)
    invoices = [p for plan in plans for p in plan.invoices]
    assert [p.seq for p in invoices] == list(range(1, len(invoices) + 1))
    assert [p.invoice.invoice_number for p in invoices] == [f"INV-{p.seq:05d}" for p in invoices]
    assert state.next_seq == len(invoices) + 1
    for plan, day in zip(plans, days, strict=True):
        assert len({p.invoice.client_id for p in plan.invoices}) == len(plan.invoices)
        for planned in plan.invoices:
            invoice = planned.invoice
            assert invoice.issue_date == day
            assert invoice.subtotal == sum((x.amount for x in invoice.lines), D(0))
            assert invoice.tax == sum((x.tax for x in invoice.lines), D(0))
            assert invoice.total == invoice.subtotal + invoice.tax
    keys = [(b.kind, b.key) for p in invoices for b in p.billed]
    assert len(keys) == len(set(keys))
    # Re-running the last day with the final state bills nothing more.
    assert plan_invoices(book, rules, days[-1], state).invoices == ()


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.data())
def test_end_date_set_later_nets_billed_minus_credited_to_the_days_of_service(scenario, data):
    book, rules, days = scenario
    cut = data.draw(st.integers(0, len(days) - 1))
    plans, state = run_all(book, rules, days[:cut])
    ended = tuple(
        replace(s, end_date=s.start_date + data.draw(st.integers(0, 400)) * ONE_DAY)
        for s in book.services)
    book = replace(book, services=ended)
    later, _ = run_all(book, rules, days[cut:], state)
    kinds = lines_by_kind(plans + later)
    for service in book.services:
        package, client = book.package_map()[service.package_id], book.client_map()[
            service.client_id]
        lines = kinds["period", service.service_id] + kinds["credit", service.service_id]
        expected = expected_days(service, client, package, rules, days[-1])
        exact = sum((exact_value(service, client, package, rules, s, e) for s, e, _ in expected),
                    D(0))
        net = sum((x.amount for x in lines), D(0))
        assert abs(net - exact) <= CENT * max(1, len(lines))
