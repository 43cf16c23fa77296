"""Allocation invariants over random invoices and payments (hypothesis)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ispsheets.book.records import Invoice, Payment
from ispsheets.payments.allocate import allocate

START = dt.date(2026, 1, 1)
CLIENTS = ("C1", "C2", "C3")
ZERO = Decimal("0")


def cents(low: int, high: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low, high).map(lambda c: Decimal(c).scaleb(-2))


@st.composite
def books(draw: st.DrawFn) -> tuple[list[Invoice], list[Payment]]:
    invoices = []
    for seq in range(1, draw(st.integers(0, 8)) + 1):
        issued = START + dt.timedelta(days=draw(st.integers(0, 120)))
        total = draw(st.one_of(cents(1, 20000), cents(1, 20000), cents(-5000, 0)))
        invoices.append(Invoice(
            f"INV-{seq:05d}", draw(st.sampled_from(CLIENTS)), issued, None, None,
            issued + dt.timedelta(days=draw(st.integers(0, 30))), total, ZERO, total,
            status=draw(st.sampled_from(["open"] * 5 + ["void"]))))
    numbers = [i.invoice_number for i in invoices] + ["", "", "INV-99999"]
    payments = []
    for seq in range(1, draw(st.integers(0, 10)) + 1):
        amount = draw(st.one_of(cents(1, 25000), cents(1, 25000), cents(-25000, 0)))
        payments.append(Payment(
            f"P{seq}", START + dt.timedelta(days=draw(st.integers(-10, 150))),
            draw(st.sampled_from(CLIENTS)), amount, invoice_number=draw(st.sampled_from(numbers))))
    return invoices, payments


FAST = settings(max_examples=150, deadline=None)


@FAST
@given(books())
def test_no_allocation_exceeds_its_payment(book):
    invoices, payments = book
    allocation = allocate(invoices, payments)
    for p in payments:
        state = allocation.payments[p.payment_id]
        applied = sum((a for _, a in state.applied), ZERO)
        assert applied + state.unapplied == p.amount
        if p.amount >= 0:
            assert all(a > 0 for _, a in state.applied)
            assert 0 <= state.unapplied <= p.amount
        else:
            assert all(a < 0 for _, a in state.applied)
            assert p.amount <= state.unapplied <= 0


@FAST
@given(books())
def test_no_invoice_is_paid_beyond_its_total_and_no_balance_is_negative(book):
    invoices, payments = book
    allocation = allocate(invoices, payments)
    for i in invoices:
        state = allocation.invoices[i.invoice_number]
        assert state.balance >= 0
        assert state.paid >= 0
        if i.status == "void":
            assert (state.status, state.paid, state.balance) == ("void", 0, 0)
        elif i.total > 0:
            assert state.paid + state.balance == i.total
            expected = "paid" if state.balance == 0 else "partial" if state.paid else "open"
            assert state.status == expected
            assert (state.paid_on is None) == (state.balance > 0)


@FAST
@given(books())
def test_invoices_minus_payments_equal_client_balances_to_the_cent(book):
    invoices, payments = book
    allocation = allocate(invoices, payments)
    billed = sum((i.total for i in invoices if i.status != "void"), ZERO)
    received = sum((p.amount for p in payments), ZERO)
    assert billed - received == sum(allocation.client_balances.values(), ZERO)
    per_client: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for i in invoices:
        if i.status != "void":
            per_client[i.client_id] += i.total
    for p in payments:
        per_client[p.client_id] -= p.amount
    for client, expected in per_client.items():
        assert allocation.client_balances[client] == expected


@FAST
@given(books())
def test_what_payments_applied_to_an_invoice_is_what_it_shows_as_paid(book):
    invoices, payments = book
    allocation = allocate(invoices, payments)
    with_notes = {i.client_id for i in invoices if i.total < 0 and i.status != "void"}
    applied: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for state in allocation.payments.values():
        for number, amount in state.applied:
            applied[number] += amount
    for i in invoices:
        if i.client_id not in with_notes:
            assert applied[i.invoice_number] == allocation.invoices[i.invoice_number].paid


@FAST
@given(books(), st.randoms(use_true_random=False))
def test_permuting_payments_and_invoices_never_changes_the_result(book, random):
    invoices, payments = book
    expected = allocate(invoices, payments)
    shuffled_payments, shuffled_invoices = list(payments), list(invoices)
    random.shuffle(shuffled_payments)
    random.shuffle(shuffled_invoices)
    again = allocate(shuffled_invoices, shuffled_payments)
    assert again == expected
    assert {k: s.applied_to_text for k, s in again.payments.items()} == {
        k: s.applied_to_text for k, s in expected.payments.items()}


@FAST
@given(books())
def test_positive_credit_only_exists_when_nothing_is_open(book):
    invoices, payments = book
    allocation = allocate(invoices, payments)
    for client, credit in allocation.client_credit.items():
        if credit > 0:
            assert all(allocation.invoices[i.invoice_number].balance == 0
                       for i in invoices if i.client_id == client)

