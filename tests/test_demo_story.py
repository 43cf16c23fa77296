"""`ispsheets demo`: a quarter played day by day tells the whole story, with no problem."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal

import pytest

from ispsheets.book.load import load_book
from ispsheets.book.reader import read_xlsx
from ispsheets.story import play

TODAY = dt.date(2026, 11, 25)
pytestmark = pytest.mark.slow  # the quarter: 11 s


@pytest.fixture(scope="module")
def quarter(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo") / "demo"
    return folder, play(folder, 12, 90, TODAY)


def test_every_day_of_the_quarter_ran_cleanly(quarter):
    _, reports = quarter
    assert len(reports) == 91
    assert [r.exit_code for r in reports] == [0] * 91


def test_the_quarter_shows_fees_a_suspension_and_a_reconnection(quarter):
    folder, reports = quarter
    totals: Counter[str] = Counter()
    for report in reports:
        totals.update(report.counts)
    assert totals["invoices issued"] >= 36  # 12 clients × 3 months
    assert totals["late fees added"] >= 1
    assert totals["clients suspended"] >= 1 and totals["clients reconnected"] >= 1
    book = load_book(read_xlsx(folder / "isp.xlsx"))
    paid = [i for i in book.invoices if i.status == "paid"]
    assert len(paid) > len(book.invoices) / 2  # most clients pay
    halves = {(i.client_id, (i.total / 2).quantize(Decimal("0.01"), ROUND_HALF_UP))
              for i in book.invoices}
    assert any((p.client_id, p.amount) in halves for p in book.payments)  # a partial payer
    assert (folder / "reports" / f"ispsheets-report-{TODAY.isoformat()}.xlsx").is_file()
    assert len(list((folder / "invoices").glob("*.pdf"))) == len(book.invoices)
    assert (folder / "logo.png").is_file()


def test_the_demo_command_refuses_an_existing_folder(quarter):
    folder, _ = quarter
    result = subprocess.run([sys.executable, "-m", "ispsheets", "demo", str(folder)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "already exists" in result.stderr
