"""Every command of the contract through the real console entry point, as cron and owners run it."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ispsheets.book.changes import ChangeSet, SetCell
from ispsheets.scaffold import init_project
from tests.scenario import Business

COMMANDS = ("init", "check", "run", "invoice", "send", "reconcile", "remind", "report",
            "status", "rebill", "demo", "recover-journal")


def ispsheets(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run([sys.executable, "-m", "ispsheets", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("shop")
    init_project(folder, 12, dt.date(2026, 11, 20))
    return folder


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself(tmp_path, command):
    result = ispsheets(command, "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "Usage: ispsheets " + command in result.stdout
    if command not in ("init", "demo", "rebill"):
        assert "--config" in result.stdout


def test_top_level_help_lists_every_command_and_the_exit_codes(tmp_path):
    result = ispsheets("--help", cwd=tmp_path)
    assert all(command in result.stdout for command in COMMANDS)
    assert "3 the workbook could not be written" in " ".join(result.stdout.split())


def test_dry_run_prints_the_plan_and_exits_0(shop):
    result = ispsheets("run", "--dry-run", "--date", "2026-11-20", cwd=shop)
    assert result.returncode == 0, result.stderr
    assert "Invoices that would be issued on 2026-11-20" in result.stdout
    assert "dry run, nothing changed:" in result.stdout
    assert not (shop / "ispsheets.db").exists() and not (shop / "outbox").exists()


def test_a_dry_run_logs_what_would_happen_as_a_dry_run(tmp_path):
    init_project(tmp_path, 3, dt.date(2026, 11, 20))
    dry = ispsheets("run", "--dry-run", "--date", "2026-11-30", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    lines = (tmp_path / "logs" / "ispsheets.log").read_text(encoding="utf-8").splitlines()
    assert sum(" INFO dry-run: invoice_issued " in line for line in lines) == 3
    assert all(" dry-run: " in line for line in lines)
    ispsheets("run", "--date", "2026-11-30", cwd=tmp_path)
    real = (tmp_path / "logs" / "ispsheets.log").read_text(encoding="utf-8").splitlines()
    assert sum(" INFO invoice_issued " in line for line in real[len(lines):]) == 3


def test_check_run_and_status_count_problems_the_same_way(tmp_path):
    import openpyxl

    init_project(tmp_path, 5, dt.date(2026, 11, 20))
    book = openpyxl.load_workbook(tmp_path / "isp.xlsx")
    book["Services"]["D2"] = "2026-02-30"  # start_date: 2 errors (the date, the row skipped)
    book["Services"]["C3"] = "NOPE"  # package_id
    book["Clients"]["C2"] = None  # email: a warning
    clients = book["Clients"]
    autopay = next(c.column for c in clients[1] if c.value == "autopay")
    for r in range(2, clients.max_row + 1):  # autopay = yes has its own warning (no effect yet)
        clients.cell(r, autopay).value = "no"
    book.save(tmp_path / "isp.xlsx")
    counted = "2 error(s) (2 rows skipped), 1 warning(s)"
    check = ispsheets("check", cwd=tmp_path)
    assert check.returncode == 1
    assert check.stdout.strip().endswith(f"packages read; {counted}")
    dry = ispsheets("run", "--dry-run", "--date", "2026-11-30", cwd=tmp_path)
    assert dry.returncode == 1
    assert dry.stdout.strip().splitlines()[-1].endswith(f"; {counted} listed above")
    status = ispsheets("status", "--date", "2026-11-30", cwd=tmp_path)
    assert f"{counted} in the workbook: run `ispsheets check`" in status.stdout


def test_a_workbook_open_in_excel_exits_3_but_report_still_works(tmp_path):
    init_project(tmp_path, 5, dt.date(2026, 11, 20))
    (tmp_path / "~$isp.xlsx").write_text("owner")
    blocked = ispsheets("run", "--date", "2026-11-20", cwd=tmp_path)
    assert blocked.returncode == 3
    assert "isp.xlsx: is open in Excel" in blocked.stderr
    report = ispsheets("report", "--date", "2026-11-20", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "reports" / "ispsheets-report-2026-11-20.xlsx").is_file()


def test_status_shows_balances_and_what_the_next_run_will_do(tmp_path):
    business = Business.create(tmp_path, _two_clients())
    business.run(dt.date(2026, 11, 30))
    business.run(dt.date(2026, 12, 20))
    result = ispsheets("status", "--date", "2026-12-22", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [" ".join(line.replace("│", " ").replace("┃", " ").split())
             for line in result.stdout.splitlines()]
    assert "Outstanding $99.98" in lines and "Overdue $99.98" in lines
    assert "A Client A active 1 7 $49.99" in lines  # 7 days past the Dec 15 due date
    assert "What the run of 2026-12-22 will do" in lines
    assert "reminder A second_reminder: INV-00001" in lines
    assert result.stderr == ""


def test_status_without_a_date_shows_the_next_run_after_runs_made_with_date(tmp_path):
    """Runs made with --date up to Jul 5 (later than today): the next run is Jul 6's, when
    both clients are 21 days past their Jun 15 due date and are suspended."""
    rows = _two_clients()
    rows["Services"] = [(*row[:3], dt.date(2030, 6, 1), *row[4:]) for row in rows["Services"]]
    business = Business.create(tmp_path, rows)
    business.run(dt.date(2030, 5, 31))
    business.run(dt.date(2030, 7, 5))
    result = ispsheets("status", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [" ".join(line.replace("│", " ").replace("┃", " ").split())
             for line in result.stdout.splitlines()]
    assert lines[0].endswith("runs were made with --date up to 2030-07-05: below, the business "
                             "after the run of 2030-07-06 and what it will do.")
    assert "What the run of 2030-07-06 will do" in lines
    assert [line.split()[:2] for line in lines if line.startswith("suspend ")] == [
        ["suspend", "A"], ["suspend", "B"]]


def test_a_dry_run_that_would_remind_does_not_say_nothing_to_do(tmp_path):
    business = Business.create(tmp_path, _two_clients())
    business.run(dt.date(2026, 11, 30))
    result = ispsheets("run", "--dry-run", "--date", "2026-12-18", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "dry run, nothing changed: in the plan above: reminder 2")


def test_the_next_run_is_today_then_tomorrow_once_today_has_run(tmp_path):
    from ispsheets.status import next_run_day

    business = Business.create(tmp_path, _two_clients())
    nov_30, dec_1 = dt.date(2026, 11, 30), dt.date(2026, 12, 1)
    assert next_run_day(business.config, nov_30) == nov_30  # no journal yet
    business.run(nov_30)
    assert next_run_day(business.config, nov_30) == dec_1
    assert next_run_day(business.config, dt.date(2026, 11, 20)) == dec_1  # ran ahead with --date
    assert next_run_day(business.config, dt.date(2026, 12, 9)) == dt.date(2026, 12, 9)
    business.run(dt.date(2026, 12, 9))
    assert next_run_day(business.config, dt.date(2026, 12, 9)) == dt.date(2026, 12, 10)


def test_rebill_refuses_an_invoice_that_is_not_void(tmp_path):
    business = Business.create(tmp_path, _two_clients())
    business.run(dt.date(2026, 11, 30))
    result = ispsheets("rebill", "INV-00001", cwd=tmp_path)
    assert result.returncode == 2
    assert "INV-00001: INV-00001 is not a voided invoice" in result.stderr
    business.edit(ChangeSet(sets=(SetCell("Invoices", "INV-00001", "status", "void"),)))
    business.run(dt.date(2026, 12, 1))
    again = ispsheets("rebill", "INV-00001", cwd=tmp_path)
    assert again.returncode == 0 and "1 billed item(s) released" in again.stdout


def test_a_run_ends_its_process_with_the_summary_and_the_log_complete(tmp_path):
    """The command ends its process at once (`end_process`), after flushing what it wrote."""
    init_project(tmp_path, 3, dt.date(2026, 11, 20))
    result = ispsheets("run", "--date", "2026-11-30", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2026-11-30: 3 invoices issued" in result.stdout
    assert "report: " in result.stdout  # the summary's last line
    log = (tmp_path / "logs" / "ispsheets.log").read_text(encoding="utf-8")
    assert log.count(" invoice_sent ") == 3
    summary = next(line for line in result.stdout.splitlines() if line.startswith("2026-11-30"))
    assert log.rstrip().splitlines()[-1].endswith(f"INFO done, exit 0: {summary}")
    assert not (tmp_path / "ispsheets.lock").exists()  # removed when the run ended


def test_a_second_run_while_one_is_busy_exits_3(tmp_path):
    from ispsheets.lock import run_lock

    init_project(tmp_path, 3, dt.date(2026, 11, 20))
    with run_lock(tmp_path / "ispsheets.lock"):
        result = ispsheets("run", "--date", "2026-11-20", cwd=tmp_path)
    assert result.returncode == 3
    assert "another ispsheets run is busy" in result.stderr


def _two_clients() -> dict[str, list[tuple[object, ...]]]:
    from decimal import Decimal

    from tests.scenario import row

    return {
        "Packages": [row("Packages", package_id="HOME", name="Home 100",
                         price=Decimal("49.99"), interval="monthly")],
        "Clients": [row("Clients", client_id=c, name=f"Client {c}", email=f"{c.lower()}@x.example")
                    for c in ("A", "B")],
        "Services": [row("Services", service_id=f"S-{c}", client_id=c, package_id="HOME",
                         start_date=dt.date(2026, 12, 1)) for c in ("A", "B")],
    }


def test_the_summary_reads_in_the_singular_for_one():
    from ispsheets.steps.cycle import counted

    assert counted(1, "clients reconnected") == "1 client reconnected"
    assert counted(1, "late fees added") == "1 late fee added"
    assert counted(0, "invoices issued") == "0 invoices issued"
    assert counted(12, "emails sent") == "12 emails sent"
