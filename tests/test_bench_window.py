"""The archive benchmark's windowed scenarios (`bench/history.py`, `windowed`): a generated
business whose closed history went to the archive through the real `ispsheets archive`."""

from __future__ import annotations

import datetime as dt
import importlib.util
import logging
import shutil
import sys
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

import ispsheets.steps.deliver as deliver
from ispsheets.journal import Journal

ROOT = Path(__file__).resolve().parent.parent


def _load_history():
    spec = importlib.util.spec_from_file_location("bench_history", ROOT / "bench" / "history.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_history"] = module
    spec.loader.exec_module(module)
    return module


history = _load_history()
QUIET_EVE = dt.date(2026, 11, 21)  # the archive runs the day before the benchmarked day


def _rows(workbook: Path, tab: str) -> list[list[object]]:
    return CalamineWorkbook.from_path(str(workbook)).get_sheet_by_name(tab).to_python()[1:]


def _typed(workbook: Path) -> list[list[object]]:
    """Payments rows dated the evening before the benchmarked quiet day (not seen by a run)."""
    return [r for r in _rows(workbook, "Payments") if r[1] == QUIET_EVE]


@pytest.mark.slow
def test_window_moves_closed_history_to_the_archive_and_keeps_the_days_payments(
        tmp_path, monkeypatch):
    monkeypatch.setattr(history, "OUT", tmp_path / "cache")
    # generating silences emails and logging for its process: undone after this test
    monkeypatch.setattr(deliver, "compose", deliver.compose)
    logger = logging.getLogger("ispsheets")
    monkeypatch.setattr(logger, "level", logger.level)
    base = history.ensure(100, 3, log=lambda text: None)["quiet"]
    folders = history.windowed(100, 3, 1, log=lambda text: None)
    quiet = folders["quiet"]
    assert quiet.parent == history.windowed_folder(100, 3, 1, 2026)

    # the closed history left the workbook for archive/<workbook>-YYYY.xlsx
    assert sorted(p.name for p in (quiet / "archive").glob("*.xlsx")) == ["isp-2026.xlsx"]
    assert (quiet / "isp.xlsx").stat().st_size < (base / "isp.xlsx").stat().st_size
    before = {r[0] for r in _rows(base / "isp.xlsx", "Invoices")}
    after = {r[0] for r in _rows(quiet / "isp.xlsx", "Invoices")}
    archived = {r[0] for r in _rows(quiet / "archive" / "isp-2026.xlsx", "Invoices")}
    assert archived and after and after | archived == before and not after & archived
    assert len(_rows(quiet / "isp.xlsx", "Activity")) < len(_rows(base / "isp.xlsx", "Activity"))
    assert "archive_after_months: 1 " in (quiet / "config.yaml").read_text(encoding="utf-8")
    assert not (quiet / "backups").exists() and not (quiet / "archive" / "backups").exists()

    # the journal knows what moved
    journal = Journal.open(quiet / "ispsheets.db")
    try:
        removed = {r.key for r in journal.archived("removed", "Invoices")}
        assert removed == archived
        # the payments typed in for the benchmarked morning are in the workbook, unseen
        typed = _typed(base / "isp.xlsx")
        assert typed, "the generated quiet day has payments typed in the evening before"
        assert [r[:7] for r in _typed(quiet / "isp.xlsx")] == [r[:7] for r in typed]
        assert all(journal.action(f"payment/{r[0]}") is None for r in typed)
    finally:
        journal.close()

    # made once: asked again, the same folders come back untouched
    made = (quiet / "windowed.json").stat().st_mtime_ns
    assert history.windowed(100, 3, 1, log=lambda text: None) == folders
    assert (quiet / "windowed.json").stat().st_mtime_ns == made

    # a run's copy carries the archive; window 0 is the base, never archiving
    copy = history.copy_scenario(quiet, tmp_path / "run")
    assert (copy / "archive" / "isp-2026.xlsx").is_file()
    assert history.windowed(100, 3, 0, log=lambda text: None)["quiet"] == base
    plain = history.copy_scenario(base, tmp_path / "run0", window=0)
    assert "archive_after_months: 0 " in (plain / "config.yaml").read_text(encoding="utf-8")


def test_windowed_cache_is_keyed_by_the_code_that_made_it(tmp_path):
    code = tmp_path / "code"
    shutil.copytree(ROOT / "ispsheets", code / "ispsheets",
                    ignore=shutil.ignore_patterns("__pycache__"))
    assert history.code_hash(code) == history.code_hash(ROOT)
    (code / "ispsheets" / "archive" / "move.py").write_text("# changed\n", encoding="utf-8")
    assert history.code_hash(code) != history.code_hash(ROOT)
    assert (history.windowed_folder(20, 3, 1, 2026, code)
            != history.windowed_folder(20, 3, 1, 2026, ROOT))


def test_set_window_adds_the_setting_to_an_older_config(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("business:\n  name: X\nworkbook:\n  path: isp.xlsx\n", encoding="utf-8")
    history.set_window(config, 3)
    assert config.read_text(encoding="utf-8") == (
        "business:\n  name: X\nworkbook:\n  archive_after_months: 3\n  path: isp.xlsx\n")
    history.set_window(config, 12)
    assert "archive_after_months: 12\n" in config.read_text(encoding="utf-8")


def test_archive_steps_a_quarter_at_a_time_up_to_the_windows_cutoff():
    eve = dt.date(2026, 11, 21)
    assert history.archive_cutoffs(eve, 3, history.first_day(12)) == [
        dt.date(2026, 2, 1), dt.date(2026, 5, 1), dt.date(2026, 8, 1)]
    assert history.archive_cutoffs(eve, 12, history.first_day(36))[0] == dt.date(2024, 2, 1)
    assert history.archive_cutoffs(eve, 12, history.first_day(36))[-1] == dt.date(2025, 11, 1)
    assert history.archive_cutoffs(eve, 1, history.first_day(3)) == [dt.date(2026, 10, 1)]
    assert history.archive_cutoffs(eve, 3, history.first_day(36), 0) == [dt.date(2026, 8, 1)]
    assert len(history.archive_cutoffs(eve, 3, history.first_day(36), 12)) == 3


def _load_bench(name: str):
    """A script of bench/ as a module (bench/ is no package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _case(n: int, months: int, window: int, scenario: str, wall: float,
          rss: float = 500.0) -> dict[str, object]:
    return {"clients": n, "months": months, "window": window, "scenario": scenario,
            "result": {"wall": wall, "rss_mb": rss, "load": 2.0, "file_ms": 0.05,
                       "cpu": wall / 2}}


def test_archive_targets_are_judged_within_one_benchmark():
    run_bench = _load_bench("run_bench")
    cases = [_case(2000, 1, 12, "quiet", 2.0), _case(2000, 12, 12, "quiet", 2.7),
             _case(2000, 36, 12, "quiet", 2.9), _case(2000, 36, 0, "quiet", 9.0),
             _case(20000, 36, 3, "quiet", 7.9, 1100), _case(20000, 36, 3, "billing", 26.0, 1300),
             _case(20000, 36, 12, "quiet", 14.0)]
    cases[0]["result"]["summary"] = "2026-11-22: 12 emails sent; 3 rows archived"
    lines = run_bench.archive_verdicts(cases)
    assert lines == [
        "  note 2,000 clients, window 12, quiet, 1 mo: the run itself archived 3 row(s)",
        "  MISS 2,000 clients, window 12, quiet: 12 mo / 1 mo = 2.70 / 2.00 s = 1.35 <= 1.3"
        " (load 2.0/2.0, file 0.05/0.05 ms, CPU 1.4/1.0 s)",
        "  ok   2,000 clients, window 12, quiet: 36 mo / 12 mo = 2.90 / 2.70 s = 1.07 <= 1.1"
        " (load 2.0/2.0, file 0.05/0.05 ms, CPU 1.4/1.4 s)",
        "  MISS 20,000 clients, window 3, billing, 36 mo: 26.00 s < 25 s (load 2.0, file 0.05 ms,"
        " CPU 13.0 s)",
        "  MISS 20,000 clients, window 3, billing, 36 mo: peak RSS 1300 MB < 1,200 MB",
        "  ok   20,000 clients, window 3, quiet, 36 mo: 7.90 s < 8 s (load 2.0, file 0.05 ms,"
        " CPU 4.0 s)",
        "  ok   20,000 clients, window 3, quiet, 36 mo: peak RSS 1100 MB < 1,200 MB",
        "  ok   20,000 clients, window 12, quiet, 36 mo: 14.00 s < 15 s (load 2.0, file 0.05 ms,"
        " CPU 7.0 s)",
    ]


def test_a_verdict_carries_the_machine_speed_its_runs_were_measured_at():
    run_bench = _load_bench("run_bench")
    cases = [_case(2000, 12, 12, "quiet", 2.7), _case(2000, 36, 12, "quiet", 2.9)]
    cases[0]["result"]["machine_ms"] = 48.2
    cases[1]["result"]["machine_ms"] = 97.0
    assert run_bench.archive_verdicts(cases) == [
        "  ok   2,000 clients, window 12, quiet: 36 mo / 12 mo = 2.90 / 2.70 s = 1.07 <= 1.1"
        " (load 2.0/2.0, file 0.05/0.05 ms, CPU 1.4/1.4 s, machine 97/48 ms)"]
    row = run_bench.row({**cases[0], "result": {
        **cases[0]["result"], "steps": dict.fromkeys(run_bench.STEPS, 0.1), "exit": 0,
        "did": "12mail"}})
    assert row.split()[-2:] == ["48", "12mail"]


def test_the_machine_reference_is_a_fixed_piece_of_work():
    machine = _load_bench("machine")
    assert machine._work() == machine._work()
    assert machine.reference_ms(1) > 0
