"""`workbook.report_tab`: the report's summary also in a Report tab of the Google Sheet,
replaced each run, in the write-back's own request; a note in `check` for an .xlsx."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal

import pytest
import yaml

from ispsheets.problems import ExitCode
from tests.fake_sheets import FakeSheets
from tests.gsheets_harness import clean_fake
from tests.scenario import Business
from tests.test_gsheets_backend import CLIENTS, NOV_30, _rows


@pytest.fixture
def fake() -> FakeSheets:
    return clean_fake()


def _report_tab_on(business: Business) -> None:
    config = business.folder / "config.yaml"
    data = yaml.safe_load(config.read_text())
    data["workbook"]["report_tab"] = True
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    business.reload_config()


def _metrics(fake: FakeSheets, key: str) -> dict[str, object]:
    rows = fake.values(key, "Report")
    start = rows.index(["Metric", "Value", "Target", "How it is computed"])
    return {r[0]: r[1] for r in rows[start + 1:] if r}


def test_the_summary_goes_to_the_report_tab_in_the_same_request_and_is_replaced(tmp_path,
                                                                                fake):
    business = Business.create(tmp_path, _rows(*CLIENTS), backend="gsheets")
    _report_tab_on(business)
    key = business.sheet_key
    start = len(fake.requests)
    assert business.run(NOV_30).exit_code is ExitCode.OK
    assert fake.kinds()[start:] == ["get", "values:batchGet", "values:batchGet", "batchUpdate",
                                    "values:batchUpdate"]  # no request more
    rows = fake.values(key, "Report")
    assert rows[1] == ["As of", "2026-11-30"]
    first = _metrics(fake, key)
    invoiced = next(v for k, v in first.items() if k.startswith("Invoiced November 2026"))
    assert Decimal(str(invoiced)) == sum(i.total for i in business.invoices().values()) > 0
    assert first["Outstanding"] == invoiced

    business.pay("C01", "54.11", dt.date(2026, 12, 2))
    fake.sheet(key, "Report").rows = 100  # the owner added rows, and typed below the summary
    fake.put(key, "Report", 30, 0, "an owner's note below the summary")
    assert business.run(dt.date(2026, 12, 2)).exit_code is ExitCode.OK
    assert fake.values(key, "Report")[1] == ["As of", "2026-12-02"]
    after = _metrics(fake, key)
    assert Decimal(str(after["Outstanding"])) == Decimal(str(invoiced)) - Decimal("54.11")
    assert "an owner's note below the summary" not in str(fake.values(key, "Report"))

    start = len(fake.requests)  # the same day again: nothing else to write
    assert business.run(dt.date(2026, 12, 2)).exit_code is ExitCode.OK
    assert fake.kinds()[start:] == ["get", "values:batchGet", "values:batchUpdate"]
    assert _metrics(fake, key) == after


def test_off_by_default_no_report_tab(tmp_path, fake):
    business = Business.create(tmp_path, _rows("C01"), backend="gsheets")
    assert business.run(NOV_30).exit_code is ExitCode.OK
    assert fake.books[business.sheet_key].find("Report") is None


def test_an_xlsx_workbook_ignores_it_and_check_says_so(tmp_path):
    business = Business.create(tmp_path, _rows("C01"), backend="xlsx")
    _report_tab_on(business)
    result = subprocess.run([sys.executable, "-m", "ispsheets", "check", "--config",
                             str(business.folder / "config.yaml")],
                            env={**os.environ, "COLUMNS": "200"}, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if "workbook.report_tab" in line]
    assert len(notes) == 1 and "ignored for an .xlsx workbook" in notes[0]
    assert business.run(NOV_30).exit_code is ExitCode.OK
