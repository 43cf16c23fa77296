"""Whatever is in the cells, reading never raises: junk becomes problems at a `Tab!Cell`."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ispsheets.book.load import load_book
from ispsheets.book.reader import RawBook, RawSheet, read_xlsx
from ispsheets.book.records import Book
from ispsheets.book.schema import TABS

TODAY = dt.date(2026, 11, 25)
WHERE = re.compile(r"^(?P<tab>[A-Za-z]+)(?:!(?:[A-Z]+[1-9]\d*|(?P<row>[1-9]\d*):(?P=row)))?$")

TRICKY = ["00123", "C001", "C002", "HOME100", "S001", "$1,049.99", "(5.00)", "12,5", "yes",
          "No", "x", "monthly", "Semi-Annual", "weekly", "cancelled", "void", "2026-12-01",
          "12/01/2026", "31/31/2026", "=SUM(A1:A3)", "=1/0", "#DIV/0!", "#N/A", "1e309", "NaN",
          "inf", "-0", "∞", "🙂", "ann@example.com", "a@b", "ann@example.com; bob", " ", "\t",
          "8.25%", "0.0825", "−5", "9" * 40]


def cells(file_safe: bool = False) -> st.SearchStrategy[object]:
    text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=24)
    values: list[st.SearchStrategy[object]] = [
        st.none(), st.just(""), text, st.sampled_from(TRICKY),
        st.integers(min_value=-(10**20), max_value=10**20),
        st.floats(allow_nan=not file_safe, allow_infinity=not file_safe),
        st.booleans(),
        st.dates(min_value=dt.date(1900, 3, 1)) if file_safe else st.dates(),
        st.datetimes(min_value=dt.datetime(1900, 3, 1)) if file_safe else st.datetimes(),
        st.times(), st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=9)),
    ]
    if not file_safe:
        values.append(st.integers())  # arbitrarily large
    return st.one_of(*values)


def header_text(name: str) -> st.SearchStrategy[str]:
    """A schema header as an owner might spell it."""
    return st.sampled_from([name, name.upper(), name.replace("_", " ").title(),
                            name.replace("_", "-")])


@st.composite
def sheets(draw: st.DrawFn, file_safe: bool = False) -> dict[str, list[list[object]]]:
    book: dict[str, list[list[object]]] = {}
    for tab in TABS:
        if draw(st.integers(0, 9)) == 0:
            continue  # a missing tab now and then
        names = [c.name for c in tab.columns if draw(st.integers(0, 7))]  # some columns gone
        header: list[object] = [draw(header_text(n)) for n in names]
        header = draw(st.permutations(header))
        if draw(st.booleans()):
            header.insert(draw(st.integers(0, len(header))), "notes")
        rows = draw(st.lists(st.lists(cells(file_safe), max_size=len(header) + 2), max_size=6))
        book[tab.name] = [header, *rows]
    return book


def assert_sound(book: Book, sheet_names: list[str]) -> None:
    for problem in book.problems:
        m = WHERE.match(problem.where)
        assert m, problem
        assert m["tab"] in sheet_names or "!" not in problem.where, problem
        assert problem.message and str(problem)
    for package in book.packages:
        assert isinstance(package.price, Decimal) and package.price >= 0
        assert package.interval in ("monthly", "quarterly", "semiannual", "annual")
    for client in book.clients:
        assert client.client_id and isinstance(client.client_id, str)
        assert client.billing_day is None or 1 <= client.billing_day <= 28
    known = {c.client_id for c in book.clients}
    for service in book.services:
        assert isinstance(service.start_date, dt.date)
        assert service.client_id in known
        assert service.quantity > 0
    for record in (*book.charges, *book.payments):
        assert isinstance(record.amount, Decimal) and record.client_id in known


@pytest.mark.slow  # 5 s on a quiet 2-core machine, 36 s on a busy one
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sheets())
def test_any_junk_in_any_cell_gives_problems_never_an_exception(
        tabs: dict[str, list[list[object]]]) -> None:
    raw = RawBook({name: RawSheet(name, rows) for name, rows in tabs.items()})
    for order in ("MDY", "DMY"):
        book = load_book(raw, order, today=TODAY)  # type: ignore[arg-type]
        assert_sound(book, list(tabs))


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(sheets(file_safe=True))
def test_junk_through_a_real_xlsx_file_never_raises(tmp_path: Path,
                                                    tabs: dict[str, list[list[object]]]) -> None:
    wb = openpyxl.Workbook()
    wb.active.title = "Notes"  # an owner's own tab, kept and ignored
    for name, rows in tabs.items():
        sheet = wb.create_sheet(name)
        for row in rows:
            sheet.append(row)  # "=..." text becomes a formula with no cached value
    path = tmp_path / "fuzz.xlsx"
    wb.save(path)
    raw = read_xlsx(path)
    assert raw.names == ["Notes", *tabs]
    book = load_book(raw, "MDY", today=TODAY)
    assert_sound(book, list(tabs))
