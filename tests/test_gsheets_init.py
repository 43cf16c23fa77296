"""`ispsheets init --google-sheet KEY` builds the starter workbook in an empty shared sheet."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ispsheets.book.schema import CLIENTS, INVOICES, SERVICES, TABS
from ispsheets.book.template import INSTRUCTIONS
from ispsheets.scaffold import InitError, init_google_sheet
from tests.fake_sheets import FakeSheets
from tests.gsheets_harness import clean_fake, new_key


@pytest.fixture
def fake() -> FakeSheets:
    return clean_fake()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ispsheets", *args], cwd=cwd,
                          env={**os.environ, "COLUMNS": "200"}, capture_output=True, text=True,
                          timeout=120)


def test_init_fills_an_empty_sheet_in_one_request_and_check_passes(tmp_path, fake):
    key = new_key()
    fake.create(key, "Prairie Net books", {"Sheet1": []})
    start = len(fake.requests)
    result = _cli("init", str(tmp_path / "isp"), "--google-sheet",
                  f"https://docs.google.com/spreadsheets/d/{key}/edit#gid=0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "filled the Google Sheet 'Prairie Net books'" in result.stdout
    assert Counter(fake.kinds()[start:]) == {"get": 1, "values:batchGet": 1, "batchUpdate": 1}
    book = fake.books[key]
    assert [s.title for s in book.sheets] == [INSTRUCTIONS, *(t.name for t in TABS)]
    for tab in TABS:
        sheet = fake.sheet(key, tab.name)
        assert fake.values(key, tab.name) == [[c.name for c in tab.columns]]
        assert sheet.frozen_rows == 1 and sheet.columns == len(tab.columns)
    services = fake.sheet(key, SERVICES.name)
    start_col = [c.name for c in SERVICES.columns].index("start_date")
    assert services.format_at(5, start_col) == {"type": "DATE", "pattern": "yyyy-mm-dd"}
    status_col = [c.name for c in CLIENTS.columns].index("status")
    [(where, rule)] = [v for v in fake.sheet(key, CLIENTS.name).validations
                       if v[0]["startColumnIndex"] == status_col]
    assert [v["userEnteredValue"] for v in rule["condition"]["values"]] == \
        ["active", "suspended", "cancelled"]
    assert rule["strict"] is False and where["startRowIndex"] == 1
    client_ref = [v for v in fake.sheet(key, SERVICES.name).validations
                  if v[1]["condition"]["type"] == "ONE_OF_RANGE"]
    assert client_ref[0][1]["condition"]["values"][0]["userEnteredValue"] == "='Clients'!$A$2:$A"
    config = (tmp_path / "isp" / "config.yaml").read_text()
    assert f'google_sheet: "{key}"' in config and "path: isp.xlsx" not in config
    checked = _cli("check", cwd=tmp_path / "isp")
    assert checked.returncode == 0, checked.stderr
    assert "0 clients, 0 services, 0 packages read; 0 error(s)" in checked.stdout


def test_init_with_demo_rows_writes_them_in_a_second_request_and_they_bill(tmp_path, fake):
    key = new_key()
    fake.create(key, "Demo", {"Sheet1": []})
    start = len(fake.requests)
    init_google_sheet(tmp_path, key, "", 5, dt.date(2026, 11, 20))
    assert Counter(fake.kinds()[start:])["values:batchUpdate"] == 1
    assert len(fake.values(key, CLIENTS.name)) == 6
    result = _cli("run", "--date", "2026-11-30", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(fake.values(key, INVOICES.name)) > 1


def test_init_refuses_a_sheet_that_has_data_and_writes_nothing(tmp_path, fake):
    key = new_key()
    fake.create(key, "Mine", {"Sheet1": [], "Customers": [["", "Ann", "555-0101"]]})
    start = len(fake.requests)
    with pytest.raises(InitError) as error:
        init_google_sheet(tmp_path, key, "", None, dt.date(2026, 11, 20))
    assert "the sheet already has data (tab Customers), nothing was written" in str(error.value)
    assert "batchUpdate" not in fake.kinds()[start:]
    assert not (tmp_path / "config.yaml").exists()
    assert fake.values(key, "Customers") == [["", "Ann", "555-0101"]]
