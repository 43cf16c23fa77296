"""The report file: tabs, money formats, frozen filtered headers, native charts, opens cleanly."""

from __future__ import annotations

import shutil
import subprocess
import zipfile

import openpyxl
import pytest

from ispsheets.reporting.workbook import report_path, write_report
from tests.test_reporting_tables import AS_OF, _scenario


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return write_report(_scenario(), tmp_path_factory.mktemp("reports"))


def test_report_is_named_after_its_date_and_has_every_tab(report):
    assert report == report_path(report.parent, AS_OF)
    assert report.name == "ispsheets-report-2026-12-31.xlsx"
    book = openpyxl.load_workbook(report)
    assert book.sheetnames == ["Summary", "Revenue", "Aging", "Outstanding", "Client history"]


def test_headers_are_frozen_and_filtered_and_money_is_formatted(report):
    book = openpyxl.load_workbook(report)
    aging = book["Aging"]
    assert aging.freeze_panes == "C2"
    assert aging.auto_filter.ref.startswith("A1:")
    assert [c.value for c in aging[1]][:7] == ["Client", "Name", "Current", "1-30", "31-60",
                                               "61-90", "90+"]
    assert "$" in aging["H2"].number_format and "#,##0.00" in aging["H2"].number_format
    assert aging["H2"].value == pytest.approx(130.00)
    outstanding = book["Outstanding"]
    assert outstanding.freeze_panes == "B2"
    assert outstanding["I2"].value == 91


def test_summary_has_targets_with_conditional_colours(report):
    book = openpyxl.load_workbook(report)
    summary = book["Summary"]
    names = [summary.cell(row, 1).value for row in range(5, 18)]
    assert "DSO (days)" in names and "Collection rate" in names
    rules = [rule for rng in summary.conditional_formatting for rule in rng.rules]
    assert len(rules) == 8  # two colours for each of the four metrics with a target


def test_charts_are_native_excel_charts(report):
    with zipfile.ZipFile(report) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        kinds = "".join(z.read(n).decode() for n in charts)
    assert len(charts) == 4  # packages stacked, tax and charges apart, collected, aging
    assert "<c:barChart>" in kinds and "<c:lineChart>" in kinds
    assert '<c:grouping val="stacked"/>' in kinds


def test_an_existing_report_of_the_same_day_is_replaced(report):
    again = write_report(_scenario(), report.parent)
    assert again == report
    assert sorted(p.name for p in report.parent.iterdir()) == [report.name]


@pytest.mark.skipif(not (shutil.which("libreoffice") or shutil.which("soffice")),
                    reason="LibreOffice is not installed")
def test_libreoffice_converts_the_report_to_pdf(report, tmp_path):
    office = shutil.which("libreoffice") or shutil.which("soffice")
    subprocess.run([office, "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path),
                    str(report)], check=True, capture_output=True, timeout=180)
    pdf = tmp_path / report.with_suffix(".pdf").name
    assert pdf.stat().st_size > 5000


def test_a_business_with_nothing_invoiced_yet_gets_a_report_without_empty_charts(tmp_path):
    import datetime as dt

    from ispsheets.reporting.inputs import ReportInput

    path = write_report(ReportInput(as_of=dt.date(2026, 12, 1), currency="USD"), tmp_path)
    book = openpyxl.load_workbook(path)
    assert book["Revenue"]["A3"].value is not None  # the month rows are still there
    with zipfile.ZipFile(path) as z:
        assert len([n for n in z.namelist() if n.startswith("xl/charts/chart")]) == 2


def _daily(first: str, days: int) -> list[str]:
    import datetime as dt

    start = dt.date.fromisoformat(first)
    return [f"ispsheets-report-{start + dt.timedelta(days=n)}.xlsx" for n in range(days)]


def test_old_daily_reports_go_but_each_months_last_and_other_files_stay():
    from ispsheets.reporting.workbook import reports_to_prune

    names = [*_daily("2026-09-02", 91), "notes.xlsx", "ispsheets-report-2026-13-01.xlsx.bak"]
    pruned = reports_to_prune(names, keep=31)
    kept = sorted(set(names) - set(pruned))
    assert len(pruned) == 91 - 31 - 2  # Sep 30 and Oct 31 stay as month ends
    assert kept[:4] == ["ispsheets-report-2026-09-30.xlsx", "ispsheets-report-2026-10-31.xlsx",
                        "ispsheets-report-2026-11-01.xlsx", "ispsheets-report-2026-11-02.xlsx"]
    assert "notes.xlsx" in kept and "ispsheets-report-2026-13-01.xlsx.bak" in kept
    assert reports_to_prune(names, keep=0) == []  # 0 keeps them all
    assert reports_to_prune(_daily("2026-11-01", 31), keep=31) == []


def test_unfinished_report_files_a_killed_run_left_go_after_an_hour(tmp_path):
    """A run killed while its report was written leaves the writer's temporary files
    (`.report-*.xlsx`, `.bulk-*.xlsx`, tens of MB at 20,000 clients): the next run's prune
    deletes them once they are an hour old; nothing else is touched."""
    import os
    import time

    from ispsheets.reporting.files import left_behind, prune_reports

    now = time.time()
    old, fresh = now - 3601, now - 60
    files = {".report-k2j3.xlsx": old, ".bulk-a1.xlsx": old, ".report-new.xlsx": fresh,
             ".report-x.xlsx.keep": old, "report-old.xlsx": old, "notes.xlsx": old,
             "ispsheets-report-2026-12-01.xlsx": old}
    for name, modified in files.items():
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (modified, modified))
    assert sorted(left_behind(files.items(), now)) == [".bulk-a1.xlsx", ".report-k2j3.xlsx"]
    prune_reports(tmp_path, 31, tmp_path / "ispsheets-report-2026-12-01.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        set(files) - {".bulk-a1.xlsx", ".report-k2j3.xlsx"})


def test_a_report_asked_for_an_old_date_is_not_pruned_at_once():
    from ispsheets.reporting.workbook import reports_to_prune

    names = [*_daily("2026-10-01", 62)]
    assert "ispsheets-report-2026-10-05.xlsx" in reports_to_prune(names, keep=31)
    assert "ispsheets-report-2026-10-05.xlsx" not in reports_to_prune(
        names, keep=31, written="ispsheets-report-2026-10-05.xlsx")
