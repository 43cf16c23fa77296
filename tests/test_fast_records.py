"""Records made and copied by `fast_records` are the records their constructor and
`dataclasses.replace` make: equal field by field, same hash, same repr, same pickle."""

from __future__ import annotations

import dataclasses
import datetime as dt
import pickle
import sys
from decimal import Decimal

import pytest

from ispsheets.book.fast_records import copier, maker, plain_record
from ispsheets.book.records import Invoice, InvoiceLine, Layout, Origin
from ispsheets.journal import JournalInvoice
from ispsheets.payments.allocate import InvoiceState, PaymentState

DAY = dt.date(2026, 3, 1)
LINE = ("INV-00007", 2, "S-3", "Home 100 — Mar 2026", DAY, dt.date(2026, 3, 31),
        Decimal("1"), Decimal("59.99"), Decimal("59.99"), Decimal("0.1"), Decimal("6.00"),
        "")


def same(made: object, built: object) -> None:
    assert type(made) is type(built)
    assert made == built and hash(made) == hash(built) and repr(made) == repr(built)
    assert list(made.__dict__.items()) == list(built.__dict__.items())  # in field order
    assert pickle.loads(pickle.dumps(made)) == built


def test_a_line_made_from_all_its_fields_is_the_constructors():
    same(maker(InvoiceLine)(*LINE), InvoiceLine(*LINE))


FIRST = ("invoice_number", "client_id", "issue_date", "period_start", "period_end",
         "due_date", "subtotal", "tax", "total")


def test_an_invoice_made_from_some_fields_takes_the_rest_defaults():
    line = InvoiceLine(*LINE)
    values = ("INV-00007", "C-1", DAY, DAY, dt.date(2026, 3, 31), dt.date(2026, 3, 15),
              Decimal("59.99"), Decimal("6.00"), Decimal("65.99"))
    same(maker(Invoice, *FIRST, "status", "lines")(*values, "void", (line,)),
         Invoice(*values, status="void", lines=(line,)))
    same(maker(Invoice, *FIRST)(*values), Invoice(*values))
    same(maker(Invoice, "lines", *reversed(FIRST))(line, *reversed(values)),
         Invoice(*values, lines=line))


def test_a_record_made_from_some_fields_takes_no_more_memory_than_a_built_one_read():
    """Its fields go in in field order, so its dict shares its keys with the class's others
    (a dict in another order is twice the size: 60 MB more at 20,000 clients)."""
    values = ("INV-00007", "C-1", DAY, DAY, DAY, DAY, Decimal("1"), Decimal("0"), Decimal("1"))
    made, built = maker(Invoice, *FIRST, "status")(*values, "void"), Invoice(*values)
    assert sys.getsizeof(made.__dict__) == sys.getsizeof(built.__dict__)
    copied = copier(Invoice)(built, paid=Decimal("1"))
    assert sys.getsizeof(copied.__dict__) == sys.getsizeof(built.__dict__)


@pytest.mark.parametrize("cls, values", [
    (InvoiceState, (Decimal("10.00"), Decimal("0.00"), "paid", DAY)),
    (InvoiceState, (Decimal("0.00"), Decimal("5.00"), "open", None)),
    (PaymentState, ((("INV-1", Decimal("5.00")),), Decimal("1.50"))),
    (JournalInvoice, (Invoice("INV-1", "C-1", DAY, None, None, DAY, Decimal("1"),
                              Decimal("0"), Decimal("1")), 1, False)),
])
def test_allocation_states_made_are_the_constructors(cls, values):
    same(maker(cls)(*values), cls(*values))


def test_a_wrong_count_of_values_or_an_unknown_or_missing_field_raises():
    make = maker(InvoiceLine)
    with pytest.raises(ValueError):
        make(*LINE[:-1])
    with pytest.raises(ValueError):
        make(*LINE, "one too many")
    partly = maker(Invoice, *FIRST, "status")
    values = ("INV-1", "C-1", DAY, None, None, DAY, Decimal("1"), Decimal("0"), Decimal("1"))
    with pytest.raises(ValueError):
        partly(*values)
    with pytest.raises(ValueError):
        partly(*values, "open", "one too many")
    with pytest.raises(TypeError):
        maker(InvoiceLine, "colour")
    with pytest.raises(TypeError):
        maker(Invoice, *FIRST[1:])  # no invoice_number: it has no default
    with pytest.raises(TypeError):
        maker(Invoice, *FIRST, "total")


def test_a_copy_is_replace():
    invoice = Invoice("INV-1", "C-1", DAY, None, None, DAY, Decimal("9.00"), Decimal("0"),
                      Decimal("9.00"), lines=(InvoiceLine(*LINE),))
    copy = copier(Invoice)
    for changes in ({}, {"paid": Decimal("4.00"), "balance": Decimal("5.00"),
                         "status": "partial"}, {"sent_at": dt.datetime(2026, 3, 2, 7)}):
        made = copy(invoice, **changes)
        same(made, dataclasses.replace(invoice, **changes))
        assert made is not invoice
    assert invoice.paid == Decimal("0")  # the original is left as it was
    with pytest.raises(TypeError):
        copy(invoice, stauts="paid")


def test_a_record_with_post_init_or_default_factory_keeps_its_constructor():
    assert not plain_record(Layout)  # __post_init__ makes its mapping read-only
    same(maker(Layout)("Payments", {"amount": 3}, 2), Layout("Payments", {"amount": 3}, 2))
    assert copier(Layout) is dataclasses.replace
    assert plain_record(Origin)

    @dataclasses.dataclass(frozen=True)
    class Listed:
        name: str
        items: list[int] = dataclasses.field(default_factory=list)

    made = maker(Listed, "name")("a")
    assert made == Listed("a") and made.items is not maker(Listed, "name")("b").items
