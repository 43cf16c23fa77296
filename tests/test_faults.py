"""Disk full, permissions, corrupt files: the real command ends each with one
`where: what — fix` line and the documented exit code, never a traceback; and once the
cause is fixed, the next runs end where a business that never met the fault ends: the same
invoices, every email exactly once.

The faults are the machine's (see tests/faulty.py): the command runs in a process of its own
with one write edge failing as a full disk makes it fail.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ispsheets.scaffold import init_project
from tests.scenario import Business
from tests.test_crash_safety import CONFIG, _rows, _seen, _story

ROOT = Path(__file__).resolve().parent.parent
START, LAST = dt.date(2026, 11, 30), dt.date(2026, 12, 4)  # a payment and its receipt on Dec 3


def _faulty(folder: Path, fault: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "tests.faulty", fault, *args, "--config",
                           str(folder / "config.yaml")], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def ispsheets(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "ispsheets", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120)


def _no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    shown = result.stdout + result.stderr
    assert "Traceback" not in shown and "Logging error" not in shown, shown


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict[str, object]:
    business = Business.create(tmp_path_factory.mktemp("clean"), _rows(), CONFIG)
    _story(business, START, LAST)
    return _seen(business)


JOURNAL_FULL = ("/ispsheets.db: the journal could not be written (database or disk is full); "
                "the run stopped — free some disk space; nothing is lost: the next run "
                "completes what this one started (no email is sent twice)")
# fault, the day it strikes, exit code, the line the owner reads (on stderr)
FAULTS = [
    ("enospc:pdf", START, 3, "/invoices: invoice PDFs could not be written (No space left on "
     "device); the invoices without one were not emailed — free some disk space; the next run "
     "writes and emails them"),
    ("enospc:outbox", START, 3, "/outbox: emails cannot be written into the outbox (cannot "
     "write invoice_INV-00001-"),
    ("enospc:workbook", START, 3, "isp.xlsx: could not be written (No space left on device) — "
     "close any program using it and check free disk space; the next run writes everything"),
    ("enospc:report", START, 3, "/reports: today's report could not be written (No space left "
     "on device) — free some disk space; then `ispsheets report --date 2026-11-30` writes it"),
    ("enospc:log", START, 0, "/logs/ispsheets.log: cannot be written (No space left on device) "
     "— the run goes on without its log file"),
    ("journal-full:0", START, 3, JOURNAL_FULL),  # at the run's first write
    ("journal-full:20", START, 3, JOURNAL_FULL),  # two of three invoice emails written
    ("journal-readonly:20", START, 3, "/ispsheets.db: the journal could not be written "
     "(attempt to write a readonly database); the run stopped — let the user that runs "
     "ispsheets write there; nothing is lost"),
    ("bug", START, 3, "error ispsheets run: stopped by an unexpected error (ZeroDivisionError: "
     "division by zero) at ispsheets/runner.py:"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "day", "code", "line"), FAULTS, ids=[f[0] for f in FAULTS])
def test_a_fault_ends_in_one_line_and_once_fixed_nothing_is_lost_or_sent_twice(
        tmp_path, clean, fault, day, code, line):
    business = Business.create(tmp_path, _rows(), CONFIG)
    _story(business, START, day - dt.timedelta(days=1))
    failed = _faulty(tmp_path, fault, "run", "--date", day.isoformat())
    _no_traceback(failed)
    assert failed.returncode == code, failed.stderr
    assert line in failed.stderr
    assert failed.stderr.count("\nerror ") + failed.stderr.startswith("error ") <= 1  # once
    _story(business, day, LAST)  # the cause fixed, cron runs again: the same day first
    seen = _seen(business)
    assert seen == clean
    assert seen["mail files"] == len(set(seen["mails"]))  # no email twice


def test_an_unexpected_error_leaves_its_traceback_in_the_log_file(tmp_path):
    Business.create(tmp_path, _rows(), CONFIG)
    failed = _faulty(tmp_path, "bug", "run", "--date", START.isoformat())
    _no_traceback(failed)
    log = tmp_path / "logs" / "ispsheets.log"
    assert f"send {log} (it holds the details)" in failed.stderr
    text = log.read_text(encoding="utf-8")
    assert "Traceback" in text and "ZeroDivisionError: division by zero" in text


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("shop")
    init_project(folder, 3, dt.date(2026, 11, 20))
    return folder


@pytest.fixture
def shop(template, tmp_path) -> Path:
    folder = tmp_path / "shop"
    shutil.copytree(template, folder)
    return folder


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _not_a_zip(path: Path) -> None:
    path.write_text("client_id,name\nC1,Someone\n")


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _garbled_workbook_part(path: Path) -> None:
    with zipfile.ZipFile(path) as data:
        parts = {n: data.read(n) for n in data.namelist()}
    parts["xl/workbook.xml"] = b"<workbook><sheets><sheet name="
    with zipfile.ZipFile(path, "w") as out:
        for name, content in parts.items():
            out.writestr(name, content)


@pytest.mark.parametrize("damage", [_truncated, _not_a_zip, _empty, _garbled_workbook_part])
def test_a_corrupt_workbook_is_one_line_and_exit_2_for_every_command(shop, damage):
    damage(shop / "isp.xlsx")
    for command in ("run", "check", "status", "report") if damage is _truncated else ("run",):
        result = ispsheets(shop, command, "--date", "2026-11-30") if command != "check" else \
            ispsheets(shop, command)
        _no_traceback(result)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "isp.xlsx: cannot be read (" in result.stdout + result.stderr
        assert "— open it in Excel or LibreOffice and save it again as .xlsx" in \
            result.stdout + result.stderr
    assert not (shop / "outbox").exists()


def test_a_journal_that_cannot_be_opened_is_one_line_and_exit_2(shop):
    (shop / "ispsheets.db").mkdir()  # where the journal should be, something else is
    result = ispsheets(shop, "run", "--date", "2026-11-30")
    _no_traceback(result)
    assert result.returncode == 2
    assert "ispsheets.db: the journal cannot be opened (" in result.stderr
    assert "; nothing was done" in result.stderr
    status = ispsheets(shop, "status", "--date", "2026-11-30")
    _no_traceback(status)
    assert status.returncode == 2 and "the journal cannot be opened" in status.stdout


def test_a_lock_file_that_cannot_be_made_is_one_line_and_exit_2(shop):
    (shop / "ispsheets.lock").mkdir()
    result = ispsheets(shop, "run", "--date", "2026-11-30")
    _no_traceback(result)
    assert result.returncode == 2
    assert "ispsheets.lock: the run's lock file cannot be made (Is a directory)" in result.stderr


def test_a_log_folder_that_cannot_be_made_is_a_warning_and_the_run_goes_on(shop):
    (shop / "logs").write_text("not a folder")
    result = ispsheets(shop, "run", "--date", "2026-11-30")
    _no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert "logs/ispsheets.log: cannot be written (" in result.stderr
    assert "3 invoices issued" in result.stdout


def test_an_unexpected_error_with_no_log_file_leaves_its_traceback_in_a_file_of_its_own(
        tmp_path):
    Business.create(tmp_path, _rows(), CONFIG)
    failed = _faulty(tmp_path, "bug", "status", "--date", START.isoformat())  # status: no log
    _no_traceback(failed)
    assert failed.returncode == 3
    assert "error ispsheets status: stopped by an unexpected error (ZeroDivisionError" in \
        failed.stderr
    details = Path(failed.stderr.split("send ", 1)[1].split(" (it holds the details)")[0])
    try:
        assert "ZeroDivisionError: division by zero" in details.read_text(encoding="utf-8")
    finally:
        details.unlink()


def test_init_into_a_path_that_cannot_be_a_folder_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "a-file").write_text("")
    result = ispsheets(tmp_path, "init", "a-file/shop")
    _no_traceback(result)
    assert result.returncode == 2
    assert "a-file/shop/config.yaml: cannot be written (Not a directory)" in result.stderr


@pytest.mark.slow
def test_files_where_the_folders_should_be_are_named_and_once_moved_nothing_is_lost(tmp_path,
                                                                                     clean):
    business = Business.create(tmp_path, _rows(), CONFIG)
    for name in ("invoices", "reports"):
        (tmp_path / name).write_text("in the way")
    failed = ispsheets(tmp_path, "run", "--date", START.isoformat())
    _no_traceback(failed)
    assert failed.returncode == 3
    lines = [line for line in failed.stderr.splitlines() if line.startswith("error ")]
    assert [line.split(":")[0] for line in lines] == [
        f"error {tmp_path / name}" for name in ("invoices", "reports")]
    assert all("a file stands where ispsheets needs a folder: move or rename it" in line
               for line in lines)
    for name in ("invoices", "reports"):
        (tmp_path / name).unlink()
    _story(business, START, LAST)
    seen = _seen(business)
    assert seen == clean
    assert seen["mail files"] == len(set(seen["mails"]))
