"""Billing reads most services' billed periods as the days they billed only, and the others'
rows whole (`billing.archived.billed_state`): over random histories, also with billed rows
edited by hand in the journal (a service id or a day that is not the one its key names, a
number where a day should be), it plans exactly what reading every billed row whole plans.
The histories with the archive are in test_billed_archive_properties.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ispsheets.billing.archived import billed_state
from ispsheets.billing.invoicing import BillingRules, plan_invoices
from ispsheets.book.records import Book, Client, Package, Service
from ispsheets.journal import Journal
from tests.test_billed_archive_properties import NOW, apply_event, books, reference

D = Decimal
ONE_DAY = dt.timedelta(days=1)
EVENTS = ["none", "void", "rebill", "end", "end lately", "restart", "move start",
          "charges again", "edit", "edit", "edit"]
# what a hand edit may put in a period row's JSON
EDITS = st.tuples(st.sampled_from(["service_id", "start", "end"]),
                  st.sampled_from(["S0", "S1", "S2", "2027-03-01", "2027-06-15", "", None, 5,
                                   "not a day"]))


def edit_row(data: st.DataObject, journal: Journal) -> None:
    keys = [row[0] for row in journal._rows("SELECT key FROM billed WHERE kind = 'period' "
                                            "ORDER BY key")]
    if keys:
        key = data.draw(st.sampled_from(keys))
        field, value = data.draw(EDITS)
        with journal.transaction() as db:
            db.execute("UPDATE billed SET data = json_set(data, ?, json(?)) "
                       "WHERE kind = 'period' AND key = ?", (f"$.{field}", json.dumps(value),
                                                              key))


def plan_both(journal: Journal, book: Book, rules: BillingRules, day: dt.date) -> None:
    expected = plan_invoices(book, rules, day, reference(journal, []))
    planned = plan_invoices(book, rules, day, billed_state(journal, book))
    assert planned == expected
    with contextlib.suppress(sqlite3.IntegrityError):  # an edited row's key billed again
        journal.record_invoices([(p.invoice, p.seq, p.billed) for p in planned.invoices], NOW)


@pytest.mark.slow  # ~5 s
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book=books(), data=st.data(),
       rules=st.builds(BillingRules, billing_day=st.integers(1, 28),
                       generate_days_before=st.integers(0, 7)))
def test_days_only_and_rows_edited_by_hand_plan_what_all_rows_plan(
        book: Book, data: st.DataObject, rules: BillingRules) -> None:
    journal = Journal.memory()
    day = min(s.start_date for s in book.services) - 5 * ONE_DAY
    for _ in range(data.draw(st.integers(3, 12))):
        day += data.draw(st.sampled_from([1, 10, 31, 45, 90])) * ONE_DAY
        plan_both(journal, book, rules, day)
        billed = plan_invoices(book, rules, day, reference(journal, [])).charge_numbers()
        book = replace(book, charges=tuple(
            replace(c, invoice_number=billed.get(c.charge_id, c.invoice_number))
            for c in book.charges))
        event = data.draw(st.sampled_from(EVENTS))
        if event == "edit":
            edit_row(data, journal)
        else:
            book = apply_event(data, event, journal, book, day)


HOME = Package("HOME", "Home", D("30.00"), "monthly")
JAN_1 = dt.date(2027, 1, 1)


def test_a_service_ended_inside_a_billed_month_is_credited_and_one_moved_later_warned() -> None:
    """The two things only whole rows can tell: a credit for the days after a new end date,
    and the warning for days billed before a new start; every other service is days only."""
    clients = tuple(Client(f"C{i}", f"Client {i}") for i in range(3))
    services = tuple(Service(f"S{i}", f"C{i}", "HOME", JAN_1) for i in range(3))
    book = Book(packages=(HOME,), clients=clients, services=services)
    journal, rules = Journal.memory(), BillingRules()
    plan_both(journal, book, rules, dt.date(2026, 12, 31))  # January, for all three
    changed = replace(book, services=(replace(services[0], end_date=dt.date(2027, 1, 20)),
                                      replace(services[1], start_date=dt.date(2027, 1, 10)),
                                      services[2]))
    state = billed_state(journal, changed)
    assert set(state.covered) == {"S2"} and {p.service_id for p in state.periods.values()} \
        == {"S0", "S1"}
    plan = plan_invoices(changed, rules, dt.date(2027, 1, 31), state)
    assert plan == plan_invoices(changed, rules, dt.date(2027, 1, 31), reference(journal, []))
    assert [(i.invoice.client_id, [line.amount for line in i.invoice.lines])
            for i in plan.invoices] == [("C0", [D("-10.65")]),  # January 21-31 credited
                                        ("C1", [D("30.00")]), ("C2", [D("30.00")])]
    [warned] = plan.problems
    assert "S1 now bills from" in warned.message


def test_a_row_edited_to_name_another_service_is_read_whole_for_both() -> None:
    """S0's January row edited to say S1 (which starts in February): S0's January is unbilled
    again, and S1 is warned about days billed before its start, as from every row whole."""
    book = Book(packages=(HOME,), clients=(Client("C0", "Zero"), Client("C1", "One")),
                services=(Service("S0", "C0", "HOME", JAN_1),
                          Service("S1", "C1", "HOME", dt.date(2027, 2, 1))))
    journal, rules = Journal.memory(), BillingRules()
    plan_both(journal, book, rules, dt.date(2026, 12, 31))  # S0's January
    with journal.transaction() as db:
        db.execute("UPDATE billed SET data = json_set(data, '$.service_id', 'S1') "
                   "WHERE key = 'S0/2027-01-01'")
    day = dt.date(2027, 1, 15)
    plan = plan_invoices(book, rules, day, billed_state(journal, book))
    assert plan == plan_invoices(book, rules, day, reference(journal, []))
    assert [(i.invoice.client_id, [line.amount for line in i.invoice.lines])
            for i in plan.invoices] == [("C0", [D("30.00")])]
    [warned] = plan.problems
    assert "S1 now bills from" in warned.message
