"""The fake Sheets v4 service answers unmodified gspread the way Google does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import gspread
import pytest
from gspread.exceptions import APIError

from ispsheets.book.gsheets_api import _EmulatorSession
from tests.fake_sheets import FakeSheets

KEY = "1FakeSheetKey_abcdefghij"


@pytest.fixture
def fake() -> Iterator[FakeSheets]:
    with FakeSheets() as service:
        service.create(KEY, "Prairie Net", {"Clients": [["client_id", "name"], ["C1", "Ann"]]})
        yield service


@pytest.fixture
def sheet(fake: FakeSheets) -> gspread.Spreadsheet:
    client = gspread.Client(auth=None, session=_EmulatorSession(fake.host))  # type: ignore[arg-type]
    return client.open_by_key(KEY)


def test_spreadsheets_get_lists_tabs_with_grid_properties(sheet: gspread.Spreadsheet) -> None:
    meta = sheet.fetch_sheet_metadata()
    props = meta["sheets"][0]["properties"]
    assert meta["properties"]["title"] == "Prairie Net"
    assert props["title"] == "Clients"
    assert props["gridProperties"] == {"rowCount": 1000, "columnCount": 26}


def test_raw_keeps_a_formula_as_text_user_entered_makes_it_one(
        fake: FakeSheets, sheet: gspread.Spreadsheet) -> None:
    sheet.values_batch_update({"valueInputOption": "RAW", "data": [
        {"range": "Clients!B2", "values": [["=IMPORTXML(\"http://x\",\"//a\")"]]}]})
    sheet.values_batch_update({"valueInputOption": "USER_ENTERED", "data": [
        {"range": "Clients!C2:E2", "values": [["=1+1", "2026-12-01", "49.99"]]}]})
    raw = fake.cell(KEY, "Clients", 1, 1)
    assert raw is not None and raw.formula is None and raw.value.startswith("=IMPORTXML")
    formula = fake.cell(KEY, "Clients", 1, 2)
    assert formula is not None and formula.formula == "=1+1"
    date = fake.cell(KEY, "Clients", 1, 3)
    assert date is not None and date.value == 46357 and date.number_format["type"] == "DATE"
    got = sheet.values_batch_get(["Clients!B2:E2"], params={
        "valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"})
    assert got["valueRanges"][0]["values"] == [[raw.value, "#NAME?", 46357, 49.99]]


def test_batch_get_returns_serial_dates_and_trims_blank_ends(fake: FakeSheets,
                                                           sheet: gspread.Spreadsheet) -> None:
    fake.put(KEY, "Clients", 3, 2, dt.date(2026, 12, 1))
    got = sheet.values_batch_get(["'Clients'", "Clients!1:1", "Clients!Z:Z"], params={
        "valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"})
    whole, header, empty = got["valueRanges"]
    assert whole["values"] == [["client_id", "name"], ["C1", "Ann"], [], ["", "", 46357]]
    assert header["values"] == [["client_id", "name"]]
    assert "values" not in empty and empty["range"] == "'Clients'!Z1:Z1000"


def test_writing_past_the_last_row_is_a_400_until_the_tab_grows(
        fake: FakeSheets, sheet: gspread.Spreadsheet) -> None:
    body = {"valueInputOption": "RAW", "data": [{"range": "Clients!A1001", "values": [["x"]]}]}
    with pytest.raises(APIError) as error:
        sheet.values_batch_update(body)
    assert error.value.response.status_code == 400
    assert "exceeds grid limits. Max rows: 1000" in error.value.error["message"]
    sheet_id = sheet.fetch_sheet_metadata()["sheets"][0]["properties"]["sheetId"]
    sheet.batch_update({"requests": [{"appendDimension": {
        "sheetId": sheet_id, "dimension": "ROWS", "length": 5}}]})
    sheet.values_batch_update(body)
    assert fake.values(KEY, "Clients")[1000] == ["x"]


def test_a_batch_update_is_all_or_nothing(fake: FakeSheets, sheet: gspread.Spreadsheet) -> None:
    with pytest.raises(APIError):
        sheet.batch_update({"requests": [{"addSheet": {"properties": {"title": "New"}}},
                                         {"addSheet": {"properties": {"title": "Clients"}}}]})
    assert [s["properties"]["title"] for s in sheet.fetch_sheet_metadata()["sheets"]] == \
        ["Clients"]


def test_the_ten_million_cell_limit_is_a_400(sheet: gspread.Spreadsheet) -> None:
    sheet_id = sheet.fetch_sheet_metadata()["sheets"][0]["properties"]["sheetId"]
    with pytest.raises(APIError) as error:
        sheet.batch_update({"requests": [{"appendDimension": {
            "sheetId": sheet_id, "dimension": "ROWS", "length": 400_000}}]})
    assert "above the limit of 10000000 cells" in error.value.error["message"]


def test_append_writes_after_the_table_and_grows_it(fake: FakeSheets,
                                                    sheet: gspread.Spreadsheet) -> None:
    sheet.values_append("Clients!A1", {"valueInputOption": "RAW"},
                        {"values": [["C2", "Bob"]]})
    assert fake.values(KEY, "Clients")[2] == ["C2", "Bob"]


def test_not_shared_answers_403_in_googles_words(fake: FakeSheets) -> None:
    fake.unshare(KEY)
    client = gspread.Client(auth=None, session=_EmulatorSession(fake.host))  # type: ignore[arg-type]
    with pytest.raises(APIError) as error:
        client.http_client.fetch_sheet_metadata(KEY)
    assert error.value.response.status_code == 403
    assert error.value.error == {"code": 403, "message": "The caller does not have permission",
                                 "status": "PERMISSION_DENIED"}


def test_injected_429_answers_once(fake: FakeSheets, sheet: gspread.Spreadsheet) -> None:
    fake.fail(429, kind="values:batchGet")
    with pytest.raises(APIError) as error:
        sheet.values_batch_get(["Clients!A1"])
    assert error.value.error["status"] == "RESOURCE_EXHAUSTED"
    assert sheet.values_batch_get(["Clients!A1"])["valueRanges"][0]["values"] == [["client_id"]]


def test_a_request_above_ten_megabytes_is_a_400(sheet: gspread.Spreadsheet) -> None:
    body = {"valueInputOption": "RAW",
            "data": [{"range": "Clients!A1", "values": [["x" * 11_000_000]]}]}
    with pytest.raises(APIError) as error:
        sheet.values_batch_update(body)
    assert error.value.error["message"] == \
        "Request payload size exceeds the limit: 10485760 bytes."
