"""A workbook no run can write stops the run before anything happens; one that is only busy
(open in Excel) defers the write, and says so honestly, today and on the next run."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ispsheets.scaffold import init_project

DAY = "2026-11-30"


def ispsheets(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "ispsheets", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("shop")
    init_project(folder, 4, dt.date(2026, 11, 20))
    return folder


@pytest.fixture
def shop(template, tmp_path) -> Path:
    folder = tmp_path / "shop"
    shutil.copytree(template, folder)
    return folder


def _nothing_done(folder: Path) -> None:
    assert not (folder / "outbox").exists() and not (folder / "invoices").exists()
    assert not (folder / "backups").exists() and not (folder / "reports").exists()
    journal = folder / "ispsheets.db"
    if journal.exists():
        with sqlite3.connect(journal) as db:
            assert db.execute("SELECT count(*) FROM invoices").fetchone() == (0,)


@pytest.mark.parametrize("suffix", [".xls", ".ods", ".xlsb", ".csv"])
def test_a_workbook_in_another_format_stops_the_run_before_billing_with_exit_2(shop, suffix):
    workbook = shop / f"isp{suffix}"
    (shop / "isp.xlsx").rename(workbook)
    config = shop / "config.yaml"
    config.write_text(config.read_text().replace("path: isp.xlsx", f"path: isp{suffix}"))
    for command in ("run", "send") if suffix == ".xls" else ("run",):
        result = ispsheets(shop, command, "--date", DAY)
        assert result.returncode == 2, (command, result.stderr)
        assert (f"isp{suffix}: is a {suffix} workbook: ispsheets reads it but writes only "
                ".xlsx — save it as .xlsx (File › Save As › Excel Workbook (.xlsx)) and set "
                "workbook.path") in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
    _nothing_done(shop)
    status = ispsheets(shop, "status", "--date", DAY)
    assert status.returncode == 2 and f"isp{suffix}: is a {suffix} workbook" in status.stdout


def test_an_xlsm_workbook_is_written_like_an_xlsx(shop):
    (shop / "isp.xlsx").rename(shop / "isp.xlsm")
    config = shop / "config.yaml"
    config.write_text(config.read_text().replace("path: isp.xlsx", "path: isp.xlsm"))
    result = ispsheets(shop, "run", "--date", DAY)
    assert result.returncode == 0, result.stderr
    assert "cells written" in result.stdout
    assert [p.suffix for p in (shop / "backups").glob("isp-*.xlsm")] == [".xlsm"]


def test_a_read_only_workbook_stops_the_run_before_billing_then_runs_once_writable(shop):
    workbook = shop / "isp.xlsx"
    workbook.chmod(0o444)
    result = ispsheets(shop, "run", "--date", DAY)
    assert result.returncode == 2
    assert "isp.xlsx: is read-only — make it writable" in result.stderr
    _nothing_done(shop)
    check = ispsheets(shop, "check")
    assert "error isp.xlsx: is read-only" in check.stderr
    workbook.chmod(0o644)
    again = ispsheets(shop, "run", "--date", DAY)
    assert again.returncode == 0, again.stderr
    assert "4 invoices issued" in again.stdout


def test_a_read_only_folder_stops_the_run_before_billing(shop):
    mode = stat.S_IMODE(shop.stat().st_mode)
    shop.chmod(0o555)
    try:
        result = ispsheets(shop, "run", "--date", DAY)
    finally:
        shop.chmod(mode)
    assert result.returncode == 2
    assert f"isp.xlsx: cannot be saved: its folder {shop.resolve()} is read-only" in \
        result.stderr
    _nothing_done(shop)


def test_a_read_only_backups_folder_stops_the_run_before_billing(shop):
    (shop / "backups").mkdir()
    (shop / "backups").chmod(0o555)
    result = ispsheets(shop, "run", "--date", DAY)
    assert result.returncode == 2
    assert "isp.xlsx: cannot be backed up: the folder" in result.stderr
    assert "or set workbook.backups to 0" in result.stderr
    assert not (shop / "outbox").exists()


def test_a_workbook_open_in_excel_defers_the_write_and_the_next_run_blames_nobody(shop):
    lock = shop / "~$isp.xlsx"
    lock.write_text("owner")
    busy = ispsheets(shop, "run", "--date", DAY)
    assert busy.returncode == 3
    summary = busy.stdout.split(f"{DAY}: ", 1)[1]
    assert "cells written" not in summary and "rows appended" not in summary
    # 22 rows: 4 invoices, their lines and Activity (with the welcome email of the new client)
    assert ("8 cells to write and 22 rows to append, deferred: isp.xlsx is open in Excel "
            "(~$isp.xlsx exists) (the next run writes them)") in summary
    lock.unlink()
    later = ispsheets(shop, "run", "--date", "2026-12-01")
    assert later.returncode == 0, later.stderr
    assert "missing" not in later.stderr and "deleted" not in later.stderr
    assert "warning" not in later.stderr
    assert "22 rows appended" in later.stdout
