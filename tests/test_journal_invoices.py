"""The journal's invoices read back exactly as recorded, lines and all, even where many lines
share their days and amounts (the reader parses each distinct text once)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispsheets.book.records import Invoice, InvoiceLine
from ispsheets.journal import Journal

NOW = dt.datetime(2026, 11, 30, 6, 0)
DAYS = [None, dt.date(2026, 12, 1), dt.date(2026, 12, 31), dt.date(2027, 1, 1)]
AMOUNTS = ["0", "0.00", "1", "1.0", "49.99", "-10.00", "10"]


def exact(invoice: Invoice) -> tuple[object, ...]:
    """Every field, Decimals by their text (1.0 and 1.00 are equal, but not the same cell)."""
    def show(value: object) -> object:
        return (type(value).__name__, str(value)) if isinstance(value, Decimal) else value
    return (*map(show, invoice.__dict__.values()),
            tuple(tuple(map(show, line.__dict__.values())) for line in invoice.lines))


@st.composite
def line_of(draw: st.DrawFn, number: str, index: int) -> InvoiceLine:
    amount = st.sampled_from(AMOUNTS).map(Decimal)
    return InvoiceLine(number, index, draw(st.sampled_from(["S1", "S2", ""])),
                       draw(st.sampled_from(["Home 100", "Setup — Dec 1 – Dec 31, 2026"])),
                       draw(st.sampled_from(DAYS)), draw(st.sampled_from(DAYS)),
                       draw(amount), draw(amount), draw(amount), draw(amount), draw(amount),
                       draw(st.sampled_from(["", "CH-7"])))


@st.composite
def invoices(draw: st.DrawFn) -> list[Invoice]:
    result = []
    for seq in range(1, draw(st.integers(1, 6)) + 1):
        number = f"INV-{seq:05d}"
        lines = tuple(draw(line_of(number, i)) for i in range(1, draw(st.integers(0, 3)) + 1))
        total = Decimal(draw(st.sampled_from(AMOUNTS)))
        result.append(Invoice(number, draw(st.sampled_from(["C1", "C2"])),
                              dt.date(2026, 11, 30), draw(st.sampled_from(DAYS)),
                              draw(st.sampled_from(DAYS)), dt.date(2026, 12, 15), total,
                              Decimal("0.00"), total, lines=lines))
    return result


@settings(max_examples=60, deadline=None)
@given(invoices())
def test_invoices_read_back_exactly_as_recorded(recorded):
    journal = Journal.memory()
    journal.record_invoices([(invoice, seq, []) for seq, invoice in enumerate(recorded, 1)],
                            NOW)
    read = [r.invoice for r in journal.invoices()]
    assert list(map(exact, read)) == list(map(exact, recorded))
    assert read == recorded
    assert [r.invoice for r in journal.invoices()] == recorded  # again, from what it decoded
    one = journal.invoice(recorded[-1].invoice_number)
    assert one is not None and exact(one.invoice) == exact(recorded[-1])


@settings(max_examples=30, deadline=None)
@given(invoices(), st.integers(1, 4))
def test_invoices_read_a_few_at_a_time_read_back_the_same(recorded, at_once):
    """Decoded `DECODED_AT_ONCE` at a time (the memory of the stored lines), the invoices are
    every one, in order, exactly as recorded; a second read gives the same ones again, as
    decoded (each row's key, texts shared, still matches the row)."""
    import ispsheets.journal as journal_module

    journal = Journal.memory()
    journal.record_invoices([(invoice, seq, []) for seq, invoice in enumerate(recorded, 1)],
                            NOW)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(journal_module, "DECODED_AT_ONCE", at_once)
        first = journal.invoices()
        again = journal.invoices()
    for read in (first, again):
        assert [exact(r.invoice) for r in read] == list(map(exact, recorded))
    # the rows did not change: the second read is the invoices decoded by the first
    assert all(a is b for a, b in zip(first, again, strict=True))
