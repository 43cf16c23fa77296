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
import xlsxwriter

from ispsheets.book.records import Client
from ispsheets.reporting import bulk, metrics, tables, workbook
from ispsheets.reporting.inputs import ReportInput, first_shown, month_start, service_month
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


# -- the reference: the Aging and Outstanding tabs as the code before the splice wrote them,
# every cell by xlsxwriter (copied unchanged but for the names it calls workbook's by)

def _old_aging(book, f, data):
    sheet = workbook._printable(book.add_worksheet("Aging"), 0)
    rows = tables.aging(data)
    names = ["Client", "Name", *tables.BUCKETS, "Total", "Oldest invoice", "Oldest due",
             "Status", "Last payment"]
    workbook._header(sheet, 0, names, f.header, [12, 26, 13, 13, 13, 13, 13, 14, 15, 12, 12, 13])
    for n, r in enumerate(rows, start=1):
        sheet.write_string(n, 0, r.client_id)
        sheet.write_string(n, 1, r.name)
        for col, name in enumerate(tables.BUCKETS, start=2):
            sheet.write_number(n, col, workbook._num(r.buckets[name]), f.money)
        sheet.write_number(n, 7, workbook._num(r.total), f.money)
        sheet.write_string(n, 8, r.oldest_invoice)
        sheet.write_datetime(n, 9, dt.datetime.combine(r.oldest_due, dt.time()), f.date)
        sheet.write_string(n, 10, r.status)
        if r.last_payment:
            sheet.write_datetime(n, 11, dt.datetime.combine(r.last_payment, dt.time()), f.date)
    total_row = len(rows) + 1
    sheet.write_string(total_row, 0, "Total", f.bold)
    for col in range(2, 8):
        letter = xlsxwriter.utility.xl_col_to_name(col)
        value = sum((r.total if col == 7 else r.buckets[tables.BUCKETS[col - 2]] for r in rows),
                    Decimal("0"))
        sheet.write_formula(total_row, col, f"=SUBTOTAL(9,{letter}2:{letter}{total_row})",
                            f.money_bold, workbook._num(value))
    sheet.freeze_panes(1, 2)
    sheet.autofilter(0, 0, max(1, len(rows)), len(names) - 1)
    chart = book.add_chart({"type": "bar", "subtype": "stacked"})
    for col, name in enumerate(tables.BUCKETS, start=2):
        chart.add_series({"name": name, "categories": ["Aging", total_row, 0, total_row, 0],
                          "values": ["Aging", total_row, col, total_row, col]})
    chart.set_title({"name": "Receivables by age"})
    chart.set_x_axis({"min": 0})  # a bar chart's x axis is its value axis
    chart.set_size({"width": 640, "height": 220})
    sheet.insert_chart(total_row + 2, 0, chart)  # under the table, whole on a page of its own
    sheet.set_h_pagebreaks([total_row + 1])


def _old_outstanding(book, f, data):
    sheet = workbook._printable(book.add_worksheet("Outstanding"), 0)
    rows = tables.outstanding(data)
    names = ["Invoice", "Client", "Name", "Issued", "Due", "Total", "Paid", "Balance",
             "Days overdue", "Reminder stage"]
    workbook._header(sheet, 0, names, f.header, [13, 12, 26, 12, 12, 13, 13, 13, 10, 18])
    for n, r in enumerate(rows, start=1):
        sheet.write_string(n, 0, r.invoice_number)
        sheet.write_string(n, 1, r.client_id)
        sheet.write_string(n, 2, r.name)
        sheet.write_datetime(n, 3, dt.datetime.combine(r.issue_date, dt.time()), f.date)
        sheet.write_datetime(n, 4, dt.datetime.combine(r.due_date, dt.time()), f.date)
        sheet.write_number(n, 5, workbook._num(r.total), f.money)
        sheet.write_number(n, 6, workbook._num(r.paid), f.money)
        sheet.write_number(n, 7, workbook._num(r.balance), f.money)
        sheet.write_number(n, 8, r.days_overdue)
        sheet.write_string(n, 9, r.reminder_stage)
    sheet.freeze_panes(1, 1)
    sheet.autofilter(0, 0, max(1, len(rows)), len(names) - 1)


def _cell_by_cell(monkeypatch, data, folder):
    """The report with the Aging and Outstanding written the long way (the reference above)."""
    with monkeypatch.context() as patch:
        patch.setattr(workbook, "_aging", _old_aging)
        patch.setattr(workbook, "_outstanding", _old_outstanding)
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


def test_a_live_invoice_whose_figure_is_dated_the_first_day_shown_counts_once():
    """Issued before the months shown, due on their first day: its archived figure is read
    with the months shown (by its day), so it is not read again as one dated before them."""
    from tests.test_report_archived import AS_OF, _archive, _everything, _paid, _report, _settled

    data = _history(1)
    start = first_shown(AS_OF)
    edge = _paid("INV-DUE-FIRST", "C1", start - dt.timedelta(days=15), start, D("70.00"),
                 "due the first")
    data = replace(data, invoices=(*data.invoices, edge),
                   paid_on={**data.paid_on, "INV-DUE-FIRST": start + dt.timedelta(days=3)})
    journal = _archive(data, set(_settled(data)), set())
    assert _report(_everything(data, journal)) == _report(data)
