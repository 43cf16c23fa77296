"""The report's shortcuts write the same cells as the long way: the Aging and Outstanding rows
spliced in as XML against xlsxwriter cell by cell, the spliced columns of one kind against the
cell-by-cell XML, the Summary's billed figures against a sum over every line.
(`bench/report_alone.py compare` does the same between two codes on a benchmark's run.)"""

from __future__ import annotations

import datetime as dt
import random
import re
import zipfile
from dataclasses import replace
from decimal import Decimal

import openpyxl
import pytest

from ispsheets.book.records import Client
from ispsheets.reporting import bulk, metrics, workbook
from ispsheets.reporting.inputs import ReportInput, month_start, service_month
from tests.test_report_archived import _history
from tests.test_reporting_tables import _scenario

D = Decimal
NAMES = ["Ann & <Bob>", "  spaced  ", "", '=HYPERLINK("x")', "Ünïcode €", "two\nlines",
         "tab\there", "0042", "C0001"]


def _named(data: ReportInput) -> ReportInput:
    """`data` with its clients named the hard ways (escapes, spaces, blank, a formula, digits)."""
    return replace(data, clients=tuple(replace(c, name=NAMES[n % len(NAMES)])
                                       for n, c in enumerate(data.clients)))


def _cells(path):
    book = openpyxl.load_workbook(path)
    return {name: [[(c.value, c.data_type, c.number_format) for c in row]
                   for row in book[name].iter_rows()] for name in book.sheetnames}


def _dimensions(path):
    with zipfile.ZipFile(path) as z:
        return [re.search(rb'<dimension ref="([^"]*)"', z.read(n))[1] for n in sorted(z.namelist())
                if n.startswith("xl/worksheets/sheet")]


def _cell_by_cell(monkeypatch, data, folder):
    """The report with every table written by xlsxwriter, cell by cell (the long way)."""
    with monkeypatch.context() as patch:
        patch.setattr(workbook, "_spliceable", lambda rows: False)
        return workbook.write_report(data, folder)


@pytest.mark.parametrize("data", [_named(_scenario()), _named(_history(1)), _named(_history(7)),
                                  replace(_scenario(), invoices=(), payments=())])
def test_spliced_tables_hold_the_cells_xlsxwriter_writes(monkeypatch, tmp_path, data):
    spliced = workbook.write_report(data, tmp_path / "new")
    long_way = _cell_by_cell(monkeypatch, data, tmp_path / "old")
    new, old = _cells(spliced), _cells(long_way)
    assert list(new) == ["Summary", "Revenue", "Aging", "Outstanding", "Client history"]
    assert new == old
    assert _dimensions(spliced) == _dimensions(long_way)  # the Aging's total row counted
    if data.invoices:
        assert len(new["Aging"]) > 3 and len(new["Outstanding"]) > 2


@pytest.mark.parametrize("name", ["bell\x07", "_x0041_", "<r>rich</r>", "cr\rhere",
                                  "x" * 17000])
def test_a_text_xlsxwriter_writes_its_own_way_keeps_its_table_cell_by_cell(monkeypatch,
                                                                           tmp_path, name):
    data = _scenario()
    clients = (replace(data.clients[1], name=name), *data.clients[2:], data.clients[0])
    data = replace(data, clients=clients)
    assert not workbook._spliceable([("C2", name)])
    assert workbook._spliceable([("C2", "Bob & Co")])
    new = _cells(workbook.write_report(data, tmp_path / "new"))
    assert new == _cells(_cell_by_cell(monkeypatch, data, tmp_path / "old"))


def _values(rng: random.Random, kind: str) -> list:
    if kind == "text":
        return [rng.choice([*NAMES, "PAY-1 (card)", "a&b", "<x>", " lead", "trail "])
                for _ in range(60)]
    if kind == "date":
        return [dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(-900, 900))
                for _ in range(60)]
    if kind == "money":
        return [D(rng.choice(["0", "0.00", "-10.00", "54.99", "1E+1", "1049.995", "-0.00"]))
                for _ in range(60)]
    if kind == "ints":
        return [rng.randrange(-5, 400) for _ in range(60)]
    mixed = _values(rng, "text") + _values(rng, "date") + _values(rng, "money") + [None] * 20
    mixed += [dt.datetime(2026, 5, 1, 12), True, 2.5]
    rng.shuffle(mixed)
    return mixed[:60]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("kind", ["text", "date", "money", "ints", "mixed"])
def test_a_column_of_one_kind_is_written_as_cell_by_cell(seed, kind):
    values = _values(random.Random(seed), kind)
    numbers = range(2, 2 + len(values))
    for style in (b"", b"4"):
        s = f' s="{style.decode()}"' if style else ""
        assert bulk._column("E", style, numbers, values) == [
            bulk._cell("E", s, n, v) for n, v in zip(numbers, values, strict=True)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_billed_for_service_in_is_the_sum_over_every_line_of_the_month(seed):
    data = _history(seed)
    months = {month_start(dt.date(2025, 1, 1) + dt.timedelta(days=d)) for d in range(0, 800, 20)}
    for month in sorted(months):
        long_way = sum((line.amount + line.tax for i in data.live_invoices
                        if i.issue_date <= data.as_of for line in i.lines
                        if service_month(i, line) == month), D("0"))
        got = metrics.billed_for_service_in(data, month)
        assert (got, str(got)) == (long_way, str(long_way))


def test_a_clients_name_only_in_the_aging_is_spliced_like_the_rest(tmp_path):
    """(the hand-checked tab: a name and the money formats, read back)"""
    data = replace(_scenario(), clients=(Client("C1", "Ann", autopay=True),
                                         Client("C2", "Bob & <Co>"), *_scenario().clients[2:]))
    sheet = openpyxl.load_workbook(workbook.write_report(data, tmp_path))["Aging"]
    rows = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    assert rows["C2"][1].value == "Bob & <Co>"
    assert rows["C2"][7].value == pytest.approx(130.00)
    assert "$" in rows["C2"][7].number_format
    assert rows["Total"][7].value is not None
