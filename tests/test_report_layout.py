"""The report a bookkeeper opens after a real run: months from the first invoice, revenue by
service month beside revenue by issue date, charts that stack packages and start at zero, pages
that print whole, text that wraps, and the workbook's file permissions."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import stat
import subprocess
import zipfile
from decimal import Decimal
from xml.sax.saxutils import unescape

import openpyxl
import pytest

import ispsheets.steps.report as report_step
from tests.scenario import Business, row

D = Decimal
DAY = dt.date(2026, 12, 1)
PACKAGES = ("Home 100", "Biz 500")


def _business(folder):
    rows = {
        "Packages": [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                         interval="monthly", tax_rate=D("10")),
                     row("Packages", package_id="BIZ", name="Biz 500", price=D("300.00"),
                         interval="monthly", tax_rate=D("10"))],
        "Clients": [row("Clients", client_id=c, name=f"Client {c}", email=f"{c.lower()}@x.example")
                    for c in ("A1", "B2")],
        "Services": [row("Services", service_id="S-A1", client_id="A1", package_id="HOME",
                         start_date=dt.date(2026, 11, 1)),
                     row("Services", service_id="S-B2", client_id="B2", package_id="BIZ",
                         start_date=dt.date(2026, 11, 1))],
        "Charges": [row("Charges", charge_id="CH1", client_id="A1", date=dt.date(2026, 10, 25),
                        description="Router", amount=D("30.00"))],
    }
    return Business.create(folder, rows)


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """November's invoices issued Oct 31, December's on Nov 30; the report of Dec 1."""
    business = _business(tmp_path_factory.mktemp("biz"))
    for day in (dt.date(2026, 10, 31), dt.date(2026, 11, 30), DAY):
        report = business.run(day)
    assert report.exit_code == 0, report.problems
    return business, report.report_file


def _column_a(sheet):
    return [sheet.cell(r, 1).value for r in range(1, sheet.max_row + 1)]


def _table(sheet, title):
    """{month: {column: value}} of the table under `title` on the Revenue tab."""
    titles = _column_a(sheet)
    top = titles.index(title) + 1  # 1-based row of the title
    header = [c.value for c in sheet[top + 2]]
    rows = {}
    for r in range(top + 3, sheet.max_row + 1):
        month = sheet.cell(r, 1).value
        if month is None:
            break
        key = month if month == "Total" else month.date()
        rows[key] = {h: sheet.cell(r, n + 1).value for n, h in enumerate(header) if h}
        if month == "Total":
            break
    return rows


ISSUE = "Invoiced by month × package (by issue date)"
SERVICE = "Billed by service month × package (by service month)"


def test_revenue_starts_at_the_first_invoices_month(ran):
    _, path = ran
    revenue = openpyxl.load_workbook(path)["Revenue"]
    assert revenue["A1"].value == ISSUE
    assert revenue["A4"].value.date() == dt.date(2026, 10, 1)  # first invoice: Oct 31
    assert list(_table(revenue, ISSUE)) == [dt.date(2026, 10, 1), dt.date(2026, 11, 1),
                                            dt.date(2026, 12, 1), "Total"]


def test_december_billed_on_november_30_is_in_december_by_service_month(ran):
    business, path = ran
    book = openpyxl.load_workbook(path)
    revenue = book["Revenue"]
    by_issue, by_service = _table(revenue, ISSUE), _table(revenue, SERVICE)
    nov, dec = dt.date(2026, 11, 1), dt.date(2026, 12, 1)
    # by issue date: December's 349.99 + 10 % tax is November's, December has nothing
    assert by_issue[dec]["Total"] == 0
    assert by_issue[nov]["Home 100"] == pytest.approx(49.99)
    # by service month: December's own service, with its tax, in December
    assert by_service[dec]["Home 100"] == pytest.approx(49.99)
    assert by_service[dec]["Biz 500"] == pytest.approx(300.00)
    assert by_service[dec]["Tax"] == pytest.approx(35.00)
    assert by_service[dec]["Total"] == pytest.approx(384.99)
    # the router charge (no service period) stays in its invoice's month, October
    assert by_service[dt.date(2026, 10, 1)]["Charges & credits"] == pytest.approx(30.00)
    # the same money both ways: every live invoice's total
    invoiced = float(sum(i.total for i in business.invoices().values()))
    assert by_issue["Total"]["Total"] == pytest.approx(invoiced)
    assert by_service["Total"]["Total"] == pytest.approx(invoiced)
    summary = {r[0].value: r[1].value for r in book["Summary"].iter_rows(min_row=5)}
    assert summary["Invoiced December 2026 (by issue date)"] == 0
    assert summary["Billed for December 2026 (by service month)"] == pytest.approx(384.99)


def _charts(path):
    with zipfile.ZipFile(path) as z:
        return [z.read(n).decode() for n in sorted(z.namelist())
                if re.fullmatch(r"xl/charts/chart\d+\.xml", n)]


def _series_names(xml):
    names = re.findall(r"<c:tx><c:strRef><c:f>[^<]*</c:f><c:strCache><c:ptCount val=\"1\"/>"
                       r"<c:pt idx=\"0\"><c:v>([^<]*)</c:v>", xml)
    return [unescape(n) for n in names]


def test_packages_are_stacked_and_tax_and_charges_have_their_own_chart(ran):
    _, path = ran
    charts = _charts(path)
    titled = {re.search(r"<a:t>([^<]*)</a:t>", xml)[1]: xml for xml in charts}
    packages = titled["Packages invoiced by month (before tax)"]
    assert '<c:grouping val="stacked"/>' in packages
    assert sorted(_series_names(packages)) == sorted(PACKAGES)
    apart = titled["Tax and one-off charges invoiced by month"]
    assert '<c:grouping val="clustered"/>' in apart
    assert _series_names(apart) == ["Charges & credits", "Tax"]


def test_every_value_axis_starts_at_zero(ran):
    _, path = ran
    charts = _charts(path)
    assert len(charts) == 4  # packages, tax and charges, collected, aging
    for xml in charts:
        value_axis = re.search(r"<c:valAx>.*?</c:valAx>", xml, re.S)[0]
        assert '<c:min val="0"/>' in value_axis, xml[:300]


def test_tables_print_one_page_wide_with_the_charts_under_them_on_their_own_pages(ran):
    _, path = ran
    book = openpyxl.load_workbook(path)
    for name in ("Summary", "Revenue", "Aging"):
        sheet = book[name]
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, name
        assert sheet.page_setup.fitToWidth in (None, 1), name  # 1 is the file format's default
        assert sheet.page_setup.fitToHeight == 0, name  # as many pages tall as it takes
    with zipfile.ZipFile(path) as z:
        for sheet_xml, drawing in (("sheet2", "drawing1"), ("sheet3", "drawing2")):
            xml = z.read(f"xl/worksheets/{sheet_xml}.xml").decode()
            breaks = [int(b) for b in re.findall(r'<brk id="(\d+)"', xml)]
            anchors = [int(a) for a in re.findall(
                r"<xdr:from><xdr:col>\d+</xdr:col><xdr:colOff>\d+</xdr:colOff><xdr:row>(\d+)",
                z.read(f"xl/drawings/{drawing}.xml").decode())]
            last_row = max(int(r) for r in re.findall(r'<row r="(\d+)"', xml))
            assert breaks and min(anchors) >= last_row  # every chart under the tables
            assert breaks[0] == min(anchors) - 1  # a page starts a row above the charts


def test_summary_text_is_one_clean_wrapped_line_per_metric(ran):
    _, path = ran
    summary = openpyxl.load_workbook(path)["Summary"]
    texts = [summary.cell(r, 4).value for r in range(5, summary.max_row + 1)]
    assert texts and all(texts)
    for n, text in enumerate(texts, start=5):
        assert "  " not in text and "\n" not in text, text  # no docstring indentation
        assert summary.cell(n, 4).alignment.wrap_text
    mrr = texts[0]
    assert "÷ months in their interval" in mrr
    assert summary.row_dimensions[5].height >= 30  # two lines: the row is as tall as its text
    assert summary.column_dimensions["D"].width <= 75  # no text running off the page


def test_report_files_have_the_workbooks_permissions(tmp_path):
    business = _business(tmp_path)
    old = os.umask(0o022)
    try:
        business.run(dt.date(2026, 10, 31))
        assert stat.S_IMODE(business.workbook.stat().st_mode) == 0o644
        report = business.run(DAY).report_file
        assert stat.S_IMODE(os.stat(report).st_mode) == 0o644
        business.workbook.chmod(0o640)  # the owner shares the folder with a group only
        report = business.run(dt.date(2026, 12, 2)).report_file
        assert stat.S_IMODE(os.stat(report).st_mode) == 0o640
    finally:
        os.umask(old)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_report_written_by_the_forked_child_has_the_workbooks_permissions(tmp_path,
                                                                             monkeypatch):
    monkeypatch.setattr(report_step, "FORK_FROM_INVOICES", 0)  # as for 5,000+ invoices
    business = _business(tmp_path)
    business.run(dt.date(2026, 10, 31))
    business.workbook.chmod(0o604)
    report = business.run(DAY)
    assert report.exit_code == 0
    assert stat.S_IMODE(os.stat(report.report_file).st_mode) == 0o604
    revenue = openpyxl.load_workbook(report.report_file)["Revenue"]
    assert SERVICE in _column_a(revenue)


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("soffice"), reason="LibreOffice is not installed")
def test_libreoffice_prints_the_report_with_readable_pages(ran, tmp_path):
    """Summary on one page, Revenue's tables on one and its charts on the next two, Aging's
    table and its chart on pages of their own."""
    pypdf = pytest.importorskip("pypdf")
    _, path = ran
    subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path),
                    path], check=True, capture_output=True, timeout=180)
    pages = pypdf.PdfReader(tmp_path / (os.path.basename(path)[:-5] + ".pdf")).pages
    texts = [p.extract_text() for p in pages]
    sheets = [t.split(" Page ")[0] for t in texts]  # the footer: the tab's name, first
    assert sheets == ["Summary", "Revenue", "Revenue", "Revenue", "Aging", "Aging",
                      "Outstanding", "Client history"]
    assert "÷ months in their interval" in " ".join(texts[0].split())
    # each chart on the page its break starts (LibreOffice also puts a clipped, invisible copy
    # of an object near a break into the page before's text, so "only there" is not testable
    # from the text: the rendered PNGs were looked at instead)
    for page, title in ((2, "Packages invoiced by month (before tax)"),
                        (2, "Tax and one-off charges invoiced by month"),
                        (3, "Collected by month"), (5, "Receivables by age")):
        assert title in texts[page], title
    assert "Receivables by age" not in texts[4]  # not on the page of the Aging table
    assert "Packages invoiced" in texts[2] and "\n0\n" in texts[2]  # its axis from 0
    assert "Receivables by age" in texts[5] and "Total\n0 " in texts[5]
