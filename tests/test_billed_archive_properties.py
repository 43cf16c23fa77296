"""Billing from the live invoices plus the archive's summary plans exactly what billing from every
billed row plans, over random services and random histories: any invoices archived (and the
summary written, now or by a later backfill), voided, rebilled, restored; services ended (also
back into archived months), restarted, their start moved; charges shown again without their
invoice number, as an older restored workbook would.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ispsheets.archive.checkpoint import Frozen, freeze
from ispsheets.billing.archived import ArchivedService, billed_state, merge_ranges
from ispsheets.billing.invoicing import BilledPeriod, BilledState, BillingRules, plan_invoices
from ispsheets.billing.periods import service_periods
from ispsheets.book.records import Book, Charge, Client, Package, Service
from ispsheets.journal import ArchivedRow, Journal
from ispsheets.payments.allocate import Allocation

D = Decimal
ONE_DAY = dt.timedelta(days=1)
NOW = dt.datetime(2030, 1, 1, 12, 0)
MONTHS = {"monthly": 1, "quarterly": 3, "annual": 12}

dates = st.dates(dt.date(2027, 1, 1), dt.date(2027, 12, 31))
money = st.integers(1, 99_999).map(lambda cents: D(cents) / 100)


@st.composite
def books(draw: st.DrawFn) -> Book:
    packages, clients, services, charges = [], [], [], []
    for i in range(draw(st.integers(1, 3))):
        package = Package(f"P{i}", f"Plan {i}", draw(money),
                          draw(st.sampled_from(["monthly", "monthly", "quarterly", "annual"])),
                          setup_fee=draw(st.sampled_from([D(0), D(50)])))
        client = Client(f"C{i}", f"Client {i}",
                        billing_day=draw(st.one_of(st.none(), st.integers(1, 28))))
        start = draw(dates)
        length = draw(st.one_of(st.none(), st.integers(0, 500)))
        end = None if length is None else start + length * ONE_DAY
        services.append(Service(f"S{i}", client.client_id, package.package_id, start, end,
                                discount_pct=D(draw(st.sampled_from(["0", "10"])))))
        packages.append(package)
        clients.append(client)
        for k in range(draw(st.integers(0, 2))):
            charges.append(Charge(f"CH{i}-{k}", client.client_id, draw(dates), "Router",
                                  draw(money)))
    return Book(packages=tuple(packages), clients=tuple(clients), services=tuple(services),
                charges=tuple(charges))


EVENTS = ["none", "archive", "archive", "archive all", "archive all", "archive unfrozen",
          "backfill", "void", "rebill", "restore", "restore and rebill", "freeze live",
          "freeze live and rebill", "end", "end lately", "restart", "move start", "charges again"]


def reference(journal: Journal, extra_voided: list[str]) -> BilledState:
    """The from-scratch state: every billed row the journal holds."""
    return BilledState.from_billed(journal.billed(), journal.peek_seq("invoice"),
                                   [*journal.voided_numbers(), *extra_voided])


def numbers(journal: Journal, where: str) -> list[str]:
    return [row[0] for row in journal._rows(f"SELECT number FROM invoices WHERE {where} "
                                            "ORDER BY seq")]


def archive(journal: Journal, chosen: list[str], frozen: bool) -> None:
    journal.begin_archive([ArchivedRow("Invoices", n, 2027, {}) for n in chosen], NOW)
    if frozen:
        freeze_numbers(journal, chosen)


def freeze_numbers(journal: Journal, chosen: list[str]) -> None:
    invoices = [j.invoice for n in chosen if (j := journal.invoice(n)) is not None]
    freeze(journal, Frozen(invoices, (), Allocation()))


def apply_event(data: st.DataObject, event: str, journal: Journal, book: Book,
                day: dt.date) -> Book:
    """One thing that may happen between two runs (on `day`)."""
    live = numbers(journal, "archived = 0")
    if event == "archive all":
        archive(journal, live, frozen=True)
    elif event == "archive" and live:
        archive(journal, data.draw(st.lists(st.sampled_from(live), unique=True)), frozen=True)
    elif event == "archive unfrozen":  # keyed, and killed before the checkpoint is written
        unfrozen = numbers(journal, "archived = 0 AND frozen = 0")  # (frozen: frozen again)
        if unfrozen:
            archive(journal, data.draw(st.lists(st.sampled_from(unfrozen), unique=True)),
                    frozen=False)
    elif event == "backfill":
        freeze_numbers(journal, journal.unfrozen_archived())
    elif event in ("void", "rebill") and live:
        number = data.draw(st.sampled_from(live))
        journal.void(number, NOW)
        if event == "rebill":
            journal.release_billed(number)
    elif event.startswith("restore"):
        archived = numbers(journal, "archived = 1")
        if archived:
            number = data.draw(st.sampled_from(archived))
            journal.set_archive_state([("Invoices", number)], "restored", NOW)
            if event.endswith("rebill"):
                journal.void(number, NOW)
                journal.release_billed(number)
    elif event.startswith("freeze live") and live:
        number = data.draw(st.sampled_from(live))
        freeze_numbers(journal, [number])  # keyed to move, then not moved
        if event.endswith("rebill"):
            journal.void(number, NOW)
            journal.release_billed(number)
    elif event in ("end", "end lately", "restart", "move start"):
        index = data.draw(st.integers(0, len(book.services) - 1))
        service = book.services[index]
        if event == "end lately":
            service = replace(service, end_date=max(service.start_date, day - data.draw(
                st.integers(0, 60)) * ONE_DAY))
        elif event == "end":
            service = replace(service, end_date=service.start_date
                              + data.draw(st.integers(0, 400)) * ONE_DAY)
        elif event == "restart":
            service = replace(service, end_date=None)
        else:
            service = replace(service, start_date=service.start_date
                              + data.draw(st.integers(1, 120)) * ONE_DAY)
        services = list(book.services)
        services[index] = service
        book = replace(book, services=tuple(services))
    elif event == "charges again":
        book = replace(book, charges=tuple(replace(c, invoice_number="") for c in book.charges))
    return book


@pytest.mark.slow  # ~5 s
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book=books(), data=st.data(),
       rules=st.builds(BillingRules, billing_day=st.integers(1, 28),
                       generate_days_before=st.integers(0, 7),
                       tax_rate=st.sampled_from([D(0), D(10)])))
def test_billing_from_live_rows_and_summary_plans_what_all_rows_plan(
        book: Book, data: st.DataObject, rules: BillingRules) -> None:
    journal = Journal.memory()
    day = min(s.start_date for s in book.services) - 5 * ONE_DAY
    for _ in range(data.draw(st.integers(3, 16))):
        day += data.draw(st.sampled_from([1, 10, 31, 45, 90])) * ONE_DAY
        expected = plan_invoices(book, rules, day, reference(journal, []))
        planned = plan_invoices(book, rules, day, billed_state(journal, book))
        assert planned == expected
        journal.record_invoices([(p.invoice, p.seq, p.billed) for p in planned.invoices], NOW)
        billed_charges = planned.charge_numbers()
        book = replace(book, charges=tuple(
            replace(c, invoice_number=billed_charges.get(c.charge_id, c.invoice_number))
            for c in book.charges))
        book = apply_event(data, data.draw(st.sampled_from(EVENTS)), journal, book, day)


def test_a_summary_is_the_same_whatever_the_order_and_repeats_of_its_invoices() -> None:
    def period(start: dt.date, end: dt.date, number: str) -> BilledPeriod:
        return BilledPeriod("S1", start, end, (end - start).days + 1, D(30), invoice_number=number)

    jan = period(dt.date(2027, 1, 1), dt.date(2027, 1, 31), "INV-1")
    feb = period(dt.date(2027, 2, 1), dt.date(2027, 2, 28), "INV-2")
    apr = period(dt.date(2027, 4, 1), dt.date(2027, 4, 30), "INV-3")
    one = ArchivedService().merged([jan, feb], {}).merged([apr], {}).merged([feb], {})
    other = ArchivedService().merged([apr], {}).merged([feb, jan], {})
    assert one == other == ArchivedService().merged([feb, apr], {}).merged([jan], {})
    assert one.ranges == ((jan.start, feb.end), (apr.start, apr.end))
    assert one.last == apr and one.before_last_end == feb.end
    assert ArchivedService.from_data(one.to_data()) == one
    assert merge_ranges([(apr.start, apr.end), (jan.start, jan.end), (feb.start, feb.end)]) \
        == one.ranges


@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 5)), max_size=8))
def test_merged_ranges_cover_exactly_the_days_of_the_ranges(spans: list[tuple[int, int]]) -> None:
    base = dt.date(2027, 1, 1)
    ranges = [(base + s * ONE_DAY, base + (s + n) * ONE_DAY) for s, n in spans]
    merged = merge_ranges(ranges)

    def days(rs: tuple[tuple[dt.date, dt.date], ...] | list[tuple[dt.date, dt.date]]) -> set:
        return {s + k * ONE_DAY for s, e in rs for k in range((e - s).days + 1)}

    assert days(merged) == days(ranges)
    assert all(a_end + ONE_DAY < b_start for (_, a_end), (b_start, _) in pairwise(merged))


@given(st.lists(st.integers(1, 40), min_size=1, max_size=10), st.data())
def test_a_summary_does_not_depend_on_how_its_invoices_were_batched(
        lengths: list[int], data: st.DataObject) -> None:
    start, periods = dt.date(2027, 1, 1), []
    for i, length in enumerate(lengths):
        end = start + (length - 1) * ONE_DAY
        periods.append(BilledPeriod("S1", start, end, length, D(30), invoice_number=f"INV-{i}"))
        start = end + data.draw(st.integers(1, 3)) * ONE_DAY
    shuffled = data.draw(st.permutations(periods))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(periods)), max_size=4)))
    summary = ArchivedService()
    for a, b in pairwise([0, *cuts, len(periods)]):
        summary = summary.merged(shuffled[a:b], {})
    whole = ArchivedService().merged(periods, {})
    assert summary == whole
    assert whole.last == periods[-1]
    assert whole.before_last_end == (periods[-2].end if len(periods) > 1 else None)


# -- the invoices that come back from the archive ------------------------------------------

JAN_1 = dt.date(2027, 1, 1)
HOME = Package("HOME", "Home", D("31.00"), "monthly", setup_fee=D("10"))


def _one_service(end: dt.date | None = None) -> Book:
    return Book(packages=(HOME,), clients=(Client("C1", "One"),),
                services=(Service("S1", "C1", "HOME", JAN_1, end),))


def _run_both(journal: Journal, book: Book, day: dt.date) -> list[tuple[str, D]]:
    """Plan with both states, assert they agree, record; the lines (description, amount)."""
    rules = BillingRules()
    expected = plan_invoices(book, rules, day, reference(journal, []))
    planned = plan_invoices(book, rules, day, billed_state(journal, book))
    assert planned == expected
    journal.record_invoices([(p.invoice, p.seq, p.billed) for p in planned.invoices], NOW)
    return [(line.description, line.amount) for p in planned.invoices
            for line in p.invoice.lines]


def test_a_restored_invoice_voided_and_rebilled_is_billed_again_and_summarized_anew() -> None:
    journal, book = Journal.memory(), _one_service()
    _run_both(journal, book, dt.date(2026, 12, 31))  # INV-00001: January and the setup fee
    _run_both(journal, book, dt.date(2027, 1, 31))  # INV-00002: February
    archive(journal, ["INV-00001", "INV-00002"], frozen=True)
    journal.set_archive_state([("Invoices", "INV-00001")], "restored", NOW)
    journal.void("INV-00001", NOW)
    journal.release_billed("INV-00001")
    ended = _one_service(end=dt.date(2027, 1, 15))
    again = _run_both(journal, ended, dt.date(2027, 2, 1))  # INV-00003
    assert [amount for _, amount in again] == [D("15.00"), D("-31.00")]  # Jan 1-15; February
    archive(journal, ["INV-00003"], frozen=True)
    assert ArchivedService.from_data(journal.archived_billed_of("service", ["S1"])["S1"]) \
        .ranges == ((JAN_1, dt.date(2027, 1, 15)), (dt.date(2027, 2, 1), dt.date(2027, 2, 28)))
    restarted = _run_both(journal, book, dt.date(2027, 2, 2))
    assert [amount for _, amount in restarted] == [D("16.00")]  # January 16-31


def test_an_invoice_frozen_in_the_workbook_then_rebilled_leaves_no_stale_summary() -> None:
    journal, book = Journal.memory(), _one_service()
    _run_both(journal, book, dt.date(2026, 12, 31))
    freeze_numbers(journal, ["INV-00001"])  # keyed, then not moved
    journal.void("INV-00001", NOW)
    journal.release_billed("INV-00001")
    ended = _one_service(end=dt.date(2027, 1, 20))
    assert [a for _, a in _run_both(journal, ended, dt.date(2027, 1, 2))] == \
        [D("20.00"), D("10.00")]  # January 1-20 again, and the setup fee
    archive(journal, ["INV-00001", "INV-00002"], frozen=True)
    assert ArchivedService.from_data(journal.archived_billed_of("service", ["S1"])["S1"]) \
        .ranges == ((JAN_1, dt.date(2027, 1, 20)),)
    restarted = _one_service()
    assert [a for _, a in _run_both(journal, restarted, dt.date(2027, 1, 21))] == [D("11.00")]


@given(first=dates, billing_day=st.integers(1, 28), months=st.sampled_from([1, 3, 6, 12]),
       end=st.one_of(st.none(), st.integers(0, 900)), skip=st.integers(0, 900),
       horizon=st.integers(0, 900))
def test_periods_from_a_later_day_are_the_same_periods_without_the_ones_before(
        first: dt.date, billing_day: int, months: int, end: int | None, skip: int,
        horizon: int) -> None:
    end_date = None if end is None else first + end * ONE_DAY
    last = first + horizon * ONE_DAY
    every = list(service_periods(first, billing_day, months, end_date, last))
    from_day = first + skip * ONE_DAY
    later = list(service_periods(first, billing_day, months, end_date, last, from_day))
    assert later == [p for p in every if p.full_end >= from_day]  # from its full period on


def test_a_single_unbilled_day_between_billed_ranges_is_still_billed() -> None:
    jan_30, feb_1 = dt.date(2027, 1, 30), dt.date(2027, 2, 1)
    feb = BilledPeriod("S1", feb_1, dt.date(2027, 2, 28), 28, D("31.00"), invoice_number="I2")
    for state in (BilledState(covered={"S1": ((JAN_1, jan_30),)}, periods={feb.key: feb}),
                  BilledState(covered={"S1": ((JAN_1, jan_30), (feb_1, feb.end))})):
        plan = plan_invoices(_one_service(), BillingRules(), dt.date(2027, 2, 10), state)
        [invoice] = plan.invoices
        assert [(line.period_start, line.period_end, line.amount)
                for line in invoice.invoice.lines] \
            == [(dt.date(2027, 1, 31), dt.date(2027, 1, 31), D("1.00"))]
