"""A tab read a column at a time gives what reading it cell by cell gives: the same values, and
the same problems at the same cells."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from ispsheets.book.load import _ASK, _Cells, _ColumnReader, layout_of, load_tab
from ispsheets.book.parse import DateWindow
from ispsheets.book.reader import RawSheet
from ispsheets.book.schema import CLIENTS, INVOICES, PAYMENTS, SERVICES, Tab

TODAY = dt.date(2026, 11, 20)
WINDOW = DateWindow.around(TODAY)
VALUES = st.one_of(
    st.none(), st.sampled_from(["", " ", "  C001 ", "C001", "\tAnn\n", "monthly", " paid ",
                                "2026-11-02", "x", "ann@x.example", "49.99", "(5.00)"]),
    st.text(max_size=6), st.integers(-5, 40), st.floats(-10, 100, allow_nan=False),
    st.booleans(), st.dates(dt.date(1990, 1, 1), dt.date(2040, 1, 1)),
    st.decimals(-100, 100, places=2, allow_nan=False))


def _cell_by_cell(tab: Tab, rows: list[list[object]]) -> list[list[object]]:
    sheet = RawSheet(tab.name, [[c.name for c in tab.columns], *rows])
    layout, _ = layout_of(sheet, tab)
    out = []
    for number, row in enumerate(rows, start=2):
        cells = _Cells(layout, row, number, "MDY", [], WINDOW)
        out.append([cells.get(c, layout.columns.get(c.name)) for c in tab.columns])
    return out


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([CLIENTS, SERVICES, PAYMENTS, INVOICES]),
       st.lists(st.lists(VALUES, min_size=0, max_size=17), min_size=1, max_size=6))
def test_each_column_reads_as_its_cells_do(tab: Tab, rows: list[list[object]]) -> None:
    sheet = RawSheet(tab.name, [[c.name for c in tab.columns], *rows])
    layout, _ = layout_of(sheet, tab)
    numbered = list(enumerate(rows, start=2))
    expected = _cell_by_cell(tab, rows)
    for i, column in enumerate(tab.columns):
        reader = _ColumnReader(column, layout.columns.get(column.name), "MDY", WINDOW)
        got = reader.read(numbered)
        for at, (value, wanted) in enumerate(zip(got, (r[i] for r in expected), strict=True)):
            if value is _ASK:  # left for the cell-by-cell read, which reports it
                assert at in reader.asked
                continue
            assert at not in reader.asked
            assert (type(value), value) == (type(wanted), wanted), (column.name, rows[at])


def test_ids_and_text_are_trimmed_and_a_blank_required_cell_is_reported():
    header = [c.name for c in CLIENTS.columns]
    rows = [header, ["  C001 ", " Ann Ames\t", "ann@x.example"],
            ["C002", "   ", "bob@x.example"], ["C003", "Cy", "cy@x.example", " 555 "]]
    read = load_tab(RawSheet("Clients", rows), CLIENTS, "MDY", WINDOW)
    assert [(c.client_id, c.name, c.phone) for c in read.records] == [
        ("C001", "Ann Ames", ""), ("C003", "Cy", "555")]
    assert [(c.client_id, c.name) for c in read.skipped] == [("C002", "")]
    assert [str(p) for p in read.problems] == [
        "Clients!B3: name is blank — fill in the name"]
