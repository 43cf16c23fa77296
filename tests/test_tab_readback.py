"""The tabs a run wrote are read back into the tab cache while the run waits for its report, so
the next day's run takes them from the cache, unless the owner edited them since; a read-back
that fails, or that the report outlasts, changes nothing else."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

import ispsheets.book.reader as reader
import ispsheets.book.tab_readback as tab_readback
import ispsheets.runner as runner
from ispsheets.book.backend import TAB_CACHE
from ispsheets.book.changes import ChangeSet, SetCell
from ispsheets.book.reader import keep_written_tabs, read_xlsx
from ispsheets.book.tab_cache import TabCache
from ispsheets.problems import ExitCode
from ispsheets.scaffold import init_project
from tests.scenario import Business
from tests.test_cli_commands import ispsheets
from tests.test_scenario_edges import _rows

NOV_30, DEC_1, DEC_15 = dt.date(2026, 11, 30), dt.date(2026, 12, 1), dt.date(2026, 12, 15)
WRITTEN_NOV_30 = ["Clients", "Invoices", "InvoiceLines"]  # (and Activity: read by its header)


def _cache(business: Business) -> TabCache:
    return TabCache(business.config.journal_path.parent / TAB_CACHE)


def _held(business: Business) -> list[str]:
    """The tabs the cache holds under the workbook's bytes as they are now."""
    cache = _cache(business)
    return [name for name, key in reader._tab_keys(business.workbook).items()
            if not name.startswith("\0") and cache.holds(name, key)]


def _typed(rows: list[list[object]]) -> list[list[tuple[type, object]]]:
    return [[(type(v), v) for v in r] for r in rows]


@pytest.fixture
def parsed(monkeypatch) -> Iterator[list[str]]:
    """The tabs the runs' own reads parse from the file (the read-back's thread not counted)."""
    names: list[str] = []
    real = reader.parse_sheet

    def parse(book, name):
        if threading.current_thread().name != "tab-read-back":
            names.append(name)
        return real(book, name)

    monkeypatch.setattr(reader, "parse_sheet", parse)
    yield names


@pytest.fixture
def slow_report(monkeypatch) -> None:
    """The report outlasts the read-back, as on a big business (its child takes seconds): the
    run waits for the read-back before it finishes the report."""
    real = runner.start_report

    def start(cycle):
        finish = real(cycle)

        def finish_after_read_back():
            for thread in threading.enumerate():
                if thread.name == "tab-read-back":
                    thread.join()
            finish()

        return finish_after_read_back

    monkeypatch.setattr(runner, "start_report", start)


def test_the_tabs_a_run_wrote_are_taken_from_the_cache_the_next_day(tmp_path, parsed,
                                                                    slow_report):
    business = Business.create(tmp_path, _rows("A", "B"))
    business.run(NOV_30)
    assert _held(business) == WRITTEN_NOV_30  # the owner's tabs wait for a second read
    parsed.clear()
    report = business.run(DEC_1)
    assert report.exit_code is ExitCode.OK
    assert not set(parsed) & set(WRITTEN_NOV_30)
    assert {"Packages", "Services"} <= set(parsed)  # read once only: parsed again


@pytest.mark.slow
def test_two_days_of_the_real_command_the_second_reads_the_written_tabs_from_the_cache(
        tmp_path):
    init_project(tmp_path, 3, dt.date(2026, 11, 20))
    for day in ("2026-11-30", "2026-12-01"):
        result = ispsheets("run", "--date", day, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    log = (tmp_path / "logs" / "ispsheets.log").read_text(encoding="utf-8")
    reads = [line.split("workbook read: ", 1)[1] for line in log.splitlines()
             if "workbook read: " in line]
    kept = [line.split("tab cache: kept ", 1)[1] for line in log.splitlines()
            if "tab cache: kept " in line]
    written = set(kept[0].split(" as this run wrote them")[0].split(", "))
    assert {"Clients", "Invoices", "InvoiceLines"} <= written
    cached, parsed = reads[1].split(" from the tab cache, ")
    assert written <= set(cached.split(", "))
    assert not written & set(parsed.split(", "))


def test_a_cache_entry_is_what_a_fresh_read_of_the_file_gives(tmp_path, slow_report):
    business = Business.create(tmp_path, _rows("A", "B"))
    business.run(NOV_30)
    fresh, keys, cache = read_xlsx(business.workbook), reader._tab_keys(business.workbook), \
        _cache(business)
    for name in WRITTEN_NOV_30:
        kept = cache.rows(name, keys[name])
        assert kept is not None and _typed(kept) == _typed(fresh.sheets[name].rows)
    assert [r[0] for r in fresh.sheets["Invoices"].rows[1:]] == ["INV-00001", "INV-00002"]


def test_an_owners_edit_between_the_two_days_is_read_from_the_file(tmp_path, parsed,
                                                                    slow_report):
    business = Business.create(tmp_path, _rows("A", "B"))
    business.run(NOV_30)
    assert "Clients" in _held(business)
    business.edit(ChangeSet(sets=(SetCell("Clients", "A", "email", "new-a@x.example"),)))
    parsed.clear()
    report = business.run(DEC_15)  # the due-date notices
    assert "Clients" in parsed and "Invoices" not in parsed
    assert report.exit_code is ExitCode.OK
    [notice] = [m for m in business.mails_to("A") if m.kind == "reminder"]
    assert notice.to == "new-a@x.example"


def test_a_read_back_the_report_outlasts_stops_and_changes_nothing_else(tmp_path, monkeypatch):
    """The report is done before the read-back parses its first tab: it stops there, keeps
    nothing, and the run is as without it."""
    business = Business.create(tmp_path / "shop", _rows("A", "B"))
    twin = Business.create(tmp_path / "twin", _rows("A", "B"))
    real = tab_readback.keep_written_tabs
    real_parse = reader.parse_sheet
    stopped: list[bool] = []

    def waits_for_the_report(path, cache, stop):
        def parse(book, name):
            if threading.current_thread().name == "tab-read-back":
                while not stop():  # until the run says the report is done
                    time.sleep(0.005)
                stopped.append(True)
                time.sleep(0.3)  # a tab being parsed: the run waits for it
            return real_parse(book, name)

        monkeypatch.setattr(reader, "parse_sheet", parse)
        return real(path, cache, stop)

    monkeypatch.setattr(tab_readback, "keep_written_tabs", waits_for_the_report)
    report = business.run(NOV_30)
    assert not [t for t in threading.enumerate() if t.name == "tab-read-back"]
    monkeypatch.undo()
    shutil.rmtree(twin.config.journal_path.parent / TAB_CACHE, ignore_errors=True)
    without = twin.run(NOV_30)
    assert stopped == [True]
    assert _held(business) == []
    assert report.exit_code is without.exit_code is ExitCode.OK
    assert business.sheet("Invoices") == twin.sheet("Invoices")
    assert business.run(DEC_1).exit_code is ExitCode.OK  # and the next day reads the file


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_a_read_back_that_fails_leaves_the_run_as_it_was(tmp_path, monkeypatch):
    def fails(path, cache, stop):
        raise RuntimeError("calamine could not read it")

    monkeypatch.setattr(tab_readback, "keep_written_tabs", fails)
    business = Business.create(tmp_path, _rows("A", "B"))
    logger, lines = logging.getLogger("ispsheets.book"), _Lines()
    level = logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        report = business.run(NOV_30)
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
    assert report.exit_code is ExitCode.OK and len(report.issued) == 2
    assert not report.problems
    assert _held(business) == []
    assert "tab cache: the tabs this run wrote were not kept (RuntimeError: calamine could " \
        "not read it)" in lines.lines


def test_a_write_that_failed_keeps_nothing(tmp_path, monkeypatch):
    started: list[Path] = []
    monkeypatch.setattr(tab_readback, "start_read_back",
                        lambda path, folder: started.append(path) or (lambda: None))
    business = Business.create(tmp_path, _rows("A", "B"))
    lock = tmp_path / "~$isp.xlsx"  # open in Excel
    lock.write_text("")
    report = business.run(NOV_30)
    assert report.exit_code is ExitCode.WRITE_FAILED and report.deferred is not None
    assert started == []
    lock.unlink()
    business.run(DEC_1)  # the deferred write is done: now it is read back
    assert started == [business.workbook]


def test_no_read_back_without_a_report_to_wait_for(tmp_path, monkeypatch):
    started: list[Path] = []
    monkeypatch.setattr(tab_readback, "start_read_back",
                        lambda path, folder: started.append(path) or (lambda: None))
    business = Business.create(tmp_path, _rows("A", "B"))
    business.run(NOV_30, steps=("invoice", "reconcile", "send", "remind"))
    assert started == []
    assert business.run(DEC_1).written is None  # nothing to write: nothing to read back
    assert started == []
    business.run(DEC_15)  # the due-date notices: Invoices written
    assert started == [business.workbook]


# -- keep_written_tabs on its own ---------------------------------------------------------------


@pytest.fixture
def written(tmp_path) -> tuple[Path, TabCache]:
    """A workbook read once (every tab seen), then written by the tool: Clients changed."""
    business = Business.create(tmp_path, _rows("A", "B"))
    cache = TabCache(tmp_path / "cache")
    read_xlsx(business.workbook, cache)
    business.edit(ChangeSet(sets=(SetCell("Clients", "A", "name", "Written"),)))
    return business.workbook, cache


def test_only_the_tabs_whose_bytes_are_new_are_kept(written):
    path, cache = written
    assert keep_written_tabs(path, cache) == ["Clients"]
    assert keep_written_tabs(path, cache) == []  # held now: not parsed again
    keys = reader._tab_keys(path)
    assert _typed(cache.rows("Clients", keys["Clients"])) == \
        _typed(read_xlsx(path).sheets["Clients"].rows)


def test_a_stop_before_a_tab_keeps_nothing(written, monkeypatch):
    path, cache = written

    def parse(book, name):
        raise AssertionError("parsed after the stop")

    monkeypatch.setattr(reader, "parse_sheet", parse)
    stops = iter([False, True])  # asked once before the workbook is opened, then per tab
    assert keep_written_tabs(path, cache, stop=lambda: next(stops)) == []
    assert not cache.holds("Clients", reader._tab_keys(path)["Clients"])


def test_a_file_saved_again_during_the_read_back_keeps_nothing(written, tmp_path):
    path, cache = written
    keys = reader._tab_keys(path)
    other = tmp_path / "saved-in-excel.xlsx"
    shutil.copy(path, other)
    calls = []

    def owner_saves() -> bool:  # asked before the tab is parsed: the owner saves meanwhile
        if not calls:
            other.replace(path)
        calls.append(1)
        return False

    assert keep_written_tabs(path, cache, stop=owner_saves) == []
    assert not cache.holds("Clients", keys["Clients"])


def test_a_google_sheet_run_reads_nothing_back(tmp_path, monkeypatch):
    from tests.gsheets_harness import clean_fake

    clean_fake()
    started: list[Path] = []
    monkeypatch.setattr(tab_readback, "start_read_back",
                        lambda path, folder: started.append(path) or (lambda: None))
    business = Business.create(tmp_path, _rows("A", "B"), backend="gsheets")
    report = business.run(NOV_30)
    assert report.exit_code is ExitCode.OK and len(report.issued) == 2
    assert report.written is not None
    assert started == [] and not (tmp_path / TAB_CACHE).exists()


def test_a_file_replaced_before_its_tabs_are_parsed_keeps_not_even_its_sheet_names(
        written, tmp_path, monkeypatch):
    """The owner saves a workbook with another list of tabs after the keys were made: the names
    read from it are not kept under the keys of the file before."""
    path, cache = written
    keys = reader._tab_keys(path)
    for name in keys:  # nothing kept yet
        cache._file(name, "rows").unlink(missing_ok=True)
    other = tmp_path / "renamed.xlsx"
    book = openpyxl.load_workbook(path)
    book["Services"].title = "Services 2027"
    book.save(other)
    real = reader.CalamineWorkbook.from_path

    def saved_meanwhile(name):
        other.replace(path)
        return real(name)

    monkeypatch.setattr(reader.CalamineWorkbook, "from_path", saved_meanwhile)
    assert keep_written_tabs(path, cache) == []
    assert not cache.holds(reader._SHEET_NAMES, keys[reader._SHEET_NAMES])
