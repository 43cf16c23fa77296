"""Property: whatever the tool writes, calamine (the tool's reader) reads back exactly."""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ispsheets.book.changes import AppendRow, ChangeSet, SetCell, Value
from ispsheets.book.reader import read_xlsx
from ispsheets.book.xlsx_backend import apply_changes
from ispsheets.book.xlsx_cells import stored_text

KEYS = [f"K{i}" for i in range(6)] + ["00123"]
SET_COLUMNS = ["balance", "stripe_customer_id", "status"]
ACTIVITY = ["timestamp", "action", "client_id", "invoice_number", "detail"]

# Text with what breaks naive writers: XML specials, control characters XML cannot hold,
# Excel's own _xHHHH_ escapes, carriage returns, formula starts, spaces at the ends, emoji.
pieces = st.sampled_from(["=", "+", "-", "@", "=HYPERLINK(\"x\")", "&amp;", "<t>", "]]>",
                          "_x0041_", "_x005F_", "_x", "\r\n", "\r", "\n", "\t", " ", "\x00",
                          "\x01", "\x1f", "\x7f", "\ufffe", "\uffff", "\ud800", "😀", "é", "0"])
texts = st.lists(st.one_of(pieces, st.text(max_size=8)), max_size=6).map("".join)
values: st.SearchStrategy[Value] = st.one_of(
    st.none(),
    texts,
    st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False),
    st.integers(min_value=-10**15, max_value=10**15),
    st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(9999, 12, 31)),
    st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(9999, 12, 31))
    .map(lambda d: d.replace(microsecond=0)),
)
sets = st.lists(st.tuples(st.sampled_from([*KEYS, "missing"]), st.sampled_from(SET_COLUMNS),
                          values), max_size=8)
appends = st.lists(st.dictionaries(st.sampled_from(ACTIVITY), values, min_size=1), max_size=6)


@pytest.fixture(scope="module")
def base_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("base") / "book.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    money = wb.add_format({"num_format": "#,##0.00"})
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, ["client_id", "name", "balance", "stripe_customer_id", "status"])
    for r, key in enumerate(KEYS, start=1):
        ws.write_string(r, 0, key)
        ws.write_string(r, 1, f"name {r}")
        ws.write_number(r, 2, r, money)
    wb.add_worksheet("Activity").write_row(0, 0, ACTIVITY)
    wb.close()
    return path


def expected(value: Value) -> object:
    """What the reader gives for a written value."""
    if value is None:
        return ""
    if isinstance(value, str):
        return stored_text(value)
    return value


def same(read: object, value: Value) -> bool:
    want = expected(value)
    if isinstance(want, Decimal):
        return isinstance(read, (int, float)) and Decimal(repr(read)) == want
    if type(want) is dt.date and isinstance(read, dt.datetime):
        return read == dt.datetime.combine(want, dt.time())
    if type(want) is dt.datetime and type(read) is dt.date:
        return want == dt.datetime.combine(read, dt.time())
    return type(read) is type(want) and read == want


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sets=sets, appends=appends)
def test_values_written_read_back_exactly(base_book: Path, sets: list, appends: list):
    with tempfile.TemporaryDirectory() as folder:
        book = Path(folder) / "book.xlsx"
        book.write_bytes(base_book.read_bytes())
        changes = ChangeSet(sets=tuple(SetCell("Clients", k, c, v) for k, c, v in sets),
                            appends=tuple(AppendRow("Activity", row) for row in appends))
        result = apply_changes(book, changes, backup_dir=Path(folder) / "b", keep_backups=0,
                               expected_fingerprint=None, now=dt.datetime(2026, 2, 1))
        sheets = read_xlsx(book).sheets
    assert sorted(s.key for s in result.missing_keys) == sorted(k for k, _, _ in sets
                                                                 if k == "missing")
    clients = sheets["Clients"].rows
    header = clients[0]
    final = {(k, c): v for k, c, v in sets if k != "missing"}
    for (key, column), value in final.items():
        row = clients[KEYS.index(key) + 1]
        cell = row[header.index(column)] if header.index(column) < len(row) else ""
        assert same(cell, value), (key, column, value, cell)
    activity = sheets["Activity"].rows
    header = activity[0]
    wanted = [r for r in appends]
    while wanted and all(expected(v) == "" for v in wanted[-1].values()):
        wanted.pop()  # the reader drops trailing blank rows
    assert len(activity) == len(wanted) + 1
    for row, values_of_row in zip(activity[1:], wanted, strict=True):
        for column, value in values_of_row.items():
            index = header.index(column)
            cell = row[index] if index < len(row) else ""
            assert same(cell, value), (column, value, cell)
