"""The journal's copies beside the workbook backups, and its page check skipped only while the
file is exactly as the last command left it.

What an owner sees: after many runs the backups folder holds the workbook's backups and only
the newest `workbook.journal_copies` journal copies; the newest copy put back works; a journal
damaged between two runs still stops the next one (exit 2) before anything is sent.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ispsheets.cli import app
from ispsheets.journal import Journal, JournalUnreadable
from ispsheets.journal_copies import prune_journal_copies, start_journal_copy
from ispsheets.journal_seal import FULL_CHECK_EVERY_S, seal_path, still_sealed, write_seal
from tests.scenario import Business, row
from tests.scenario import outbox_bytes as _outbox
from tests.scenario import twin as _copy
from tests.test_cli_commands import ispsheets

D = Decimal
DAYS = tuple(dt.date(2026, 12, 1) + dt.timedelta(days=n) for n in range(0, 60, 5))


def _rows() -> dict[str, list[tuple[object, ...]]]:
    packages = [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                    interval="monthly", tax_rate=D("10"))]
    clients = [row("Clients", client_id=f"C{n}", name=f"Client {n}",
                   email=f"c{n}@example.com", status="active") for n in range(1, 4)]
    services = [row("Services", service_id=f"S{n}", client_id=f"C{n}", package_id="HOME",
                    start_date=dt.date(2026, 12, 1)) for n in range(1, 4)]
    return {"Packages": packages, "Clients": clients, "Services": services}


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Business:
    """Twelve runs, each writing the workbook (a payment or an invoice), ten backups kept."""
    business = Business.create(tmp_path_factory.mktemp("copies"), _rows())
    text = (business.folder / "config.yaml").read_text(encoding="utf-8")
    (business.folder / "config.yaml").write_text(text.replace("backups: 2", "backups: 10"),
                                                 encoding="utf-8")
    business.reload_config()
    assert business.config.workbook.journal_copies == 2  # the default
    for n, day in enumerate(DAYS):
        business.pay("C1", "1.00", day, payment_id=f"P{n}")
        assert business.run(day).exit_code == 0
    return business


# -- copies ------------------------------------------------------------------------------------


def test_ten_backups_keep_only_the_two_newest_journal_copies_and_the_newest_is_current(shop):
    backups = shop.folder / "backups"
    workbooks = sorted(backups.glob("isp-*.xlsx"))
    copies = sorted(backups.glob("isp-*.ispsheets.db"))
    assert len(workbooks) == 10
    assert [p.name.removesuffix(".ispsheets.db") for p in copies] == \
        [p.stem for p in workbooks[-2:]]
    assert not list(backups.glob(".*.tmp"))  # no temporary file left
    # each copy kept has its chunk digests beside it (the next copy rewrites the oldest in
    # place), and no copy gone has any
    assert sorted(p.name for p in backups.glob(".*")) == sorted(
        f".{p.name}.chunks" for p in copies)
    newest = Journal.open(copies[-1])
    journal = Journal.open(shop.config.journal_path)
    try:
        assert newest.last_write() == journal.last_write()
        assert newest.invoice_numbers() == journal.invoice_numbers()
    finally:
        newest.close()
        journal.close()


def test_the_newest_copy_put_back_runs_on_as_if_nothing_happened(shop, tmp_path):
    intact, lost = _copy(shop, tmp_path / "intact"), _copy(shop, tmp_path / "lost")
    newest = sorted((lost.folder / "backups").glob("isp-*.ispsheets.db"))[-1]
    for path in lost.folder.glob("ispsheets.db*"):
        path.unlink()
    shutil.copy(newest, lost.config.journal_path)
    day = DAYS[-1] + dt.timedelta(days=31)

    assert intact.run(day).exit_code == lost.run(day).exit_code == 0

    assert _outbox(lost) == _outbox(intact)
    assert lost.sheet("Invoices") == intact.sheet("Invoices")


def test_journal_copies_zero_makes_none(tmp_path):
    business = Business.create(tmp_path / "none", _rows(), config="")
    text = (business.folder / "config.yaml").read_text(encoding="utf-8")
    (business.folder / "config.yaml").write_text(
        text.replace("backups: 2", "backups: 3\n  journal_copies: 0"), encoding="utf-8")
    business.reload_config()
    for day in DAYS[:3]:
        assert business.run(day).exit_code == 0
    assert list((business.folder / "backups").glob("isp-*.xlsx"))
    assert not list((business.folder / "backups").glob("*.ispsheets.db"))


def test_prune_keeps_the_newest_by_the_time_in_the_name(tmp_path):
    names = ["isp-20261201-060000", "isp-20261201-060000-2", "isp-20261202-060000",
             "isp-20261130-235959"]
    for name in names:
        (tmp_path / f"{name}.xlsx").write_bytes(b"x")
        (tmp_path / f"{name}.ispsheets.db").write_bytes(b"j")
    (tmp_path / "isp-20261129-060000.ispsheets.db").write_bytes(b"j")  # its backup is gone
    (tmp_path / ".isp-20261128-060000.ispsheets.db.tmp").write_bytes(b"j")  # a killed run's

    removed = prune_journal_copies(tmp_path, "ispsheets.db", keep=2)

    assert sorted(p.name for p in removed) == [".isp-20261128-060000.ispsheets.db.tmp",
                                               "isp-20261129-060000.ispsheets.db",
                                               "isp-20261130-235959.ispsheets.db",
                                               "isp-20261201-060000.ispsheets.db"]
    assert sorted(p.name for p in tmp_path.glob("*.db")) == [
        "isp-20261201-060000-2.ispsheets.db", "isp-20261202-060000.ispsheets.db"]
    assert len(list(tmp_path.glob("*.xlsx"))) == 4  # workbook backups are not its business


def test_prune_deletes_even_the_newest_copy_once_its_workbook_backup_is_gone(tmp_path):
    (tmp_path / "isp-20261201-060000.xlsx").write_bytes(b"x")
    for stamp in ("20261201-060000", "20261202-060000"):
        (tmp_path / f"isp-{stamp}.ispsheets.db").write_bytes(b"j")

    removed = prune_journal_copies(tmp_path, "ispsheets.db", keep=2)

    assert [p.name for p in removed] == ["isp-20261202-060000.ispsheets.db"]


def _count(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM sequences").fetchone()[0])
    finally:
        db.close()


def test_the_copy_is_the_journal_as_the_write_left_it_while_the_run_writes_on(tmp_path):
    path = tmp_path / "ispsheets.db"
    journal = Journal.open(path)
    for n in range(200):
        journal.set_sequence(f"before-{n}", n)
    backup = tmp_path / "backups" / "isp-20261201-060000.xlsx"
    backup.parent.mkdir()
    backup.write_bytes(b"x")

    finish = start_journal_copy(journal, backup, keep=2)
    pinned = path.read_bytes()
    for batch in range(3):  # more than a checkpoint's worth of pages, while the copy runs
        with journal.transaction():
            for n in range(1000):
                journal.set_sequence(f"after-{batch}-{n}-" + "x" * 1500, n)
    journal._db.execute("PRAGMA wal_checkpoint(PASSIVE)")  # folds nothing past the pin
    assert path.read_bytes() == pinned
    assert finish() is None

    copy = backup.with_name("isp-20261201-060000.ispsheets.db")
    assert copy.read_bytes() == pinned and _count(copy) == 200
    journal.close()
    assert _count(path) == 3200  # the later writes were folded in once the copy was done


def test_a_failed_copy_is_a_warning_and_leaves_no_temporary_file(tmp_path):
    journal = Journal.open(tmp_path / "ispsheets.db")
    backup = tmp_path / "backups" / "isp-20261201-060000.xlsx"
    backup.parent.mkdir()
    backup.write_bytes(b"x")
    (backup.parent / "isp-20261201-060000.ispsheets.db").mkdir()  # cannot be replaced

    problem = start_journal_copy(journal, backup, keep=2)()
    journal.close()

    assert problem is not None and "could not be copied" in str(problem)
    assert not list(backup.parent.glob(".*.tmp"))


# -- the page check, skipped only while the file is as it was left -------------------------------


def _damage_a_page(path: Path, table: str = "activity") -> None:
    """Break the b-tree page of `table` (a page a command reads only later in a run)."""
    db = sqlite3.connect(path)
    try:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                          (table,)).fetchone()[0]
    finally:
        db.close()
    assert root > 1
    with path.open("r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\xff" * 8)  # no valid page type, no valid cell count


def _journal_with_rows(folder: Path) -> Path:
    path = folder / "ispsheets.db"
    journal = Journal.open(path, sealed=True)
    for n in range(50):
        journal.set_sequence(f"seq-{n}", n)
    journal.close()
    return path


def test_a_sealed_journal_is_not_checked_again_and_a_changed_one_is(tmp_path):
    path = _journal_with_rows(tmp_path)
    assert seal_path(path).is_file()
    assert still_sealed(path, time.time()) is not None

    stat = path.stat()
    _damage_a_page(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with its time set back

    with pytest.raises(JournalUnreadable, match="is damaged"):
        Journal.open(path, sealed=True)
    assert not seal_path(path).exists()


def test_damage_no_file_time_shows_is_not_seen_until_the_weekly_check(tmp_path):
    """The documented limit: a failing disk changes bytes, not times. Simulated by sealing the
    damaged file: the open trusts it; once the last full check is a week old, it is caught."""
    path = _journal_with_rows(tmp_path)
    _damage_a_page(path)
    write_seal(path, time.time() - 60)

    Journal.open(path, sealed=True).close()  # trusted: no page read

    write_seal(path, time.time() - FULL_CHECK_EVERY_S - 60)
    with pytest.raises(JournalUnreadable, match="is damaged"):
        Journal.open(path, sealed=True)


def test_a_copy_put_back_or_an_unfolded_log_is_checked(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    path = _journal_with_rows(tmp_path / "a")
    now = time.time()
    assert still_sealed(path, now) is not None
    twin = tmp_path / "a" / "twin.db"
    shutil.copy2(path, twin)  # the same bytes and times, another file
    os.replace(twin, path)
    assert still_sealed(path, now) is None

    path = _journal_with_rows(tmp_path / "b")
    assert still_sealed(path, time.time()) is not None
    path.with_name(path.name + "-wal").write_bytes(b"\0" * 32)
    assert still_sealed(path, time.time()) is None


def test_the_seal_is_gone_while_the_journal_is_open(tmp_path):
    path = _journal_with_rows(tmp_path)
    journal = Journal.open(path, sealed=True)
    assert not seal_path(path).exists()  # a run killed now leaves none
    journal.close()
    assert seal_path(path).exists()
    journal = Journal.open(path)  # not sealed: recovery, status
    journal.close()
    assert seal_path(path).exists()


def test_the_owners_other_commands_trust_the_seal_and_leave_it(tmp_path):
    """`status`, `check`, `rebill`… open with `trust_seal`: a sealed journal's pages are not
    read again (damage no file time shows, simulated by sealing the damaged file, passes, as
    it does for the run), and the seal stays as it was; without a seal every page is read."""
    path = _journal_with_rows(tmp_path)
    _damage_a_page(path)
    write_seal(path, time.time() - 60)
    seal = seal_path(path).read_bytes()

    Journal.open(path, trust_seal=True).close()
    assert seal_path(path).read_bytes() == seal

    seal_path(path).unlink()
    with pytest.raises(JournalUnreadable, match="is damaged"):
        Journal.open(path, trust_seal=True)
    assert not seal_path(path).exists()  # nor does it seal what it checked


def test_a_command_that_writes_through_a_trusted_seal_makes_the_next_open_check(tmp_path):
    path = _journal_with_rows(tmp_path)
    journal = Journal.open(path, trust_seal=True)
    journal.set_sequence("seq-new", 1)  # what `rebill` or a restore would do
    journal.close()
    assert still_sealed(path, time.time()) is None


def test_status_leaves_the_run_s_seal_so_the_next_run_skips_the_check(shop, tmp_path):
    twin = _copy(shop, tmp_path / "twin")
    path = twin.config.journal_path
    assert twin.run(DAYS[-1] + dt.timedelta(days=31)).exit_code == 0  # a copy is unsealed
    sealed = still_sealed(path, time.time())
    assert sealed is not None

    result = ispsheets("status", cwd=twin.folder)

    assert result.returncode == 0, result.stdout + result.stderr
    assert still_sealed(path, time.time()) == sealed


@pytest.mark.parametrize("command", ["status", "check"])
def test_status_and_check_never_read_every_page_of_a_sealed_journal(shop, tmp_path,
                                                                    monkeypatch, command):
    """Each of their opens trusts the seal (a 4 GB journal's full check takes half a minute)."""
    twin = _copy(shop, tmp_path / "twin")
    assert twin.run(DAYS[-1] + dt.timedelta(days=31)).exit_code == 0
    opens: list[bool] = []
    real_open = Journal.open.__func__  # type: ignore[attr-defined]

    def spying(cls, where, **kwargs):
        opens.append(bool(kwargs.get("sealed") or kwargs.get("trust_seal")))
        return real_open(cls, where, **kwargs)

    monkeypatch.setattr(Journal, "open", classmethod(spying))
    result = CliRunner().invoke(app, [command, "--config", str(twin.folder / "config.yaml")])

    assert result.exit_code == 0, result.output
    assert opens and all(opens)


def test_a_journal_damaged_between_two_runs_stops_the_next_before_anything_is_sent(shop,
                                                                                   tmp_path):
    damaged = _copy(shop, tmp_path / "damaged")
    path = damaged.config.journal_path
    assert seal_path(path).is_file()  # the last run sealed it
    stat = path.stat()
    _damage_a_page(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    outbox, workbook = _outbox(damaged), damaged.workbook.read_bytes()

    result = ispsheets("run", "--date", (DAYS[-1] + dt.timedelta(days=31)).isoformat(),
                       cwd=damaged.folder)

    assert result.returncode == 2, result.stdout + result.stderr
    said = " ".join(result.stderr.split())
    assert "error ispsheets.db: the journal " in said and "damaged" in said
    assert "recover-journal" in said
    assert "Traceback" not in result.stderr
    assert _outbox(damaged) == outbox and damaged.workbook.read_bytes() == workbook


def test_a_run_leaves_the_journal_sealed_and_the_next_skips_the_check(shop, tmp_path,
                                                                     monkeypatch):
    twin = _copy(shop, tmp_path / "twin")
    path = twin.config.journal_path
    checks: list[str] = []
    real_open = Journal.open.__func__  # type: ignore[attr-defined]

    def counting(cls, where, **kwargs):
        journal = real_open(cls, where, **kwargs)
        checks.append("sealed" if kwargs.get("sealed") else "plain")
        return journal

    seal_path(path).unlink()
    assert twin.run(DAYS[-1] + dt.timedelta(days=31)).exit_code == 0
    assert seal_path(path).is_file()
    sealed = still_sealed(path, os.stat(seal_path(path)).st_mtime)
    assert sealed is not None
    monkeypatch.setattr(Journal, "open", classmethod(counting))
    assert twin.run(DAYS[-1] + dt.timedelta(days=32)).exit_code == 0
    assert checks == ["sealed"]
    assert still_sealed(path, os.stat(seal_path(path)).st_mtime) == sealed  # not re-checked


def test_damage_found_in_the_middle_of_a_run_unseals_so_the_next_run_stops(shop, tmp_path):
    """Damage no file time shows (simulated by sealing the damaged file): the run meets it
    when it reads the page, stops (exit 3), and leaves no seal; the next run is stopped before
    anything is sent."""
    twin = _copy(shop, tmp_path / "twin")
    path = twin.config.journal_path
    _damage_a_page(path)
    write_seal(path, time.time())
    day = DAYS[-1] + dt.timedelta(days=31)

    first = twin.run(day)

    assert first.exit_code == 3, first.problems
    assert not seal_path(path).exists()
    outbox = _outbox(twin)
    result = ispsheets("run", "--date", day.isoformat(), cwd=twin.folder)
    assert result.returncode == 2 and "damaged" in result.stderr
    assert _outbox(twin) == outbox


def test_a_file_another_reader_keeps_behind_is_copied_with_the_backup_api(tmp_path):
    """A reader on an older snapshot keeps the last writes out of the file: a copy of the
    file's bytes would miss them, so the backup API copies what the journal holds."""
    path = tmp_path / "ispsheets.db"
    journal = Journal.open(path)
    for n in range(20):
        journal.set_sequence(f"before-{n}", n)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM sequences").fetchone()  # an older snapshot, held
    for n in range(30):
        journal.set_sequence(f"after-{n}", n)
    journal._db.execute("PRAGMA busy_timeout = 50")  # not 30 s of waiting for the reader
    backup = tmp_path / "backups" / "isp-20261201-060000.xlsx"
    backup.parent.mkdir()
    backup.write_bytes(b"x")

    assert start_journal_copy(journal, backup, keep=2)() is None

    reader.close()
    journal.close()
    assert _count(backup.with_name("isp-20261201-060000.ispsheets.db")) == 50


def test_a_journal_closed_while_an_error_is_on_its_way_out_is_not_sealed(tmp_path):
    path = _journal_with_rows(tmp_path)
    journal = Journal.open(path, sealed=True)

    with pytest.raises(RuntimeError):
        try:
            raise RuntimeError("the command failed")
        finally:
            journal.close()

    assert not seal_path(path).exists()
