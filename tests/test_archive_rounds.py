"""A long backlog moves to the archive in rounds, oldest first (`ispsheets.archive.rounds`):
the archive switched on after years of history never moves them all at once.

The business of tests/test_archive.py, never archived for four months, then archived with the
round lowered to a few dozen rows: `ispsheets archive` moves round after round, the daily run
one round a day and says so; both end as one unbounded move does (the same rows in the same
archive files, the same workbook, balances, status and report), and a kill between rounds or
in one loses and duplicates nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ispsheets.archive import rounds
from ispsheets.archive.rows import ARCHIVED_TABS
from ispsheets.book.reader import read_xlsx
from tests.scenario import Business
from tests.test_archive import (
    _copy,
    _everything,
    _set_months,
    never_archived,  # noqa: F401 (a fixture)
)

pytestmark = pytest.mark.slow

ROUND = 20  # rows a round moves (about); the backlog below is 89 rows
BEFORE, DAY = "2026-03-01", "2026-03-25"


def _cli(folder: Path, *args: str, kill_at: str | None = None,
         limit: int | None = ROUND) -> subprocess.CompletedProcess[str]:
    """The real command line in a process of its own, with the round lowered to `limit` rows
    (None: as shipped)."""
    lowered = (f"import ispsheets.archive.rounds as r; r.ROUND_ROWS = {limit}; "
               "r.ROUND_SHARE = 0; ") if limit is not None else ""
    code = f"{lowered}from ispsheets.cli import main; main()"
    env = {**os.environ, "COLUMNS": "200"}
    if kill_at:
        env["ISPSHEETS_KILL_AT"] = kill_at
    return subprocess.run([sys.executable, "-c", code, *args,
                           "--config", str(folder / "config.yaml")],
                          capture_output=True, text=True, timeout=300, env=env)


def _files(folder: Path) -> dict[str, dict[str, list[tuple[object, ...]]]]:
    """Each archive file's archived tabs, their rows sorted (a round appends its rows after
    the rounds before it: within a tab they may come in another order than one move's)."""
    found = {}
    for path in sorted((folder / "archive").glob("*.xlsx")):
        sheets = read_xlsx(path).sheets
        found[path.name] = {tab: sorted((tuple(r) for r in sheets[tab].rows[1:]), key=repr)
                            for tab in ARCHIVED_TABS}
    return found


def _status(business: Business, day: dt.date) -> list[str]:
    from rich.console import Console

    from ispsheets.status import show_status

    console = Console(record=True, width=160)
    show_status(business.config, day, console)
    return console.export_text().splitlines()


def _same(business: Business, one: Business, day: dt.date) -> None:
    """What the owner and the clients see is what one unbounded move left."""
    assert _files(business.folder) == _files(one.folder)
    assert _everything(business) == _everything(one)
    for tab in ARCHIVED_TABS[:4]:
        assert business.sheet(tab) == one.sheet(tab), tab
    assert _status(business, day) == _status(one, day)


def _rounds_logged(business: Business) -> list[str]:
    """The cutoff of each round, as the run log says (`archive: N rows dated before D moved`)."""
    text = (business.folder / "logs" / "ispsheets.log").read_text(encoding="utf-8")
    return [line.split("dated before ")[1][:10] for line in text.splitlines()
            if " INFO archive: " in line and " rows dated before " in line]


@pytest.fixture(scope="module")
def one(tmp_path_factory, never_archived) -> Business:  # noqa: F811
    """The backlog moved at once (the round as shipped is far larger)."""
    business = _copy(never_archived, tmp_path_factory.mktemp("one") / "copy")
    moved = _cli(business.folder, "archive", "--before", BEFORE, "--date", DAY, limit=None)
    assert moved.returncode == 0, moved.stderr + moved.stdout
    assert "warning" not in moved.stdout
    return business


def test_the_backlog_is_larger_than_a_round(one) -> None:
    archived = sum(len(rows) for tabs in _files(one.folder).values() for rows in tabs.values())
    assert archived > 3 * ROUND


def test_the_archive_command_moves_round_after_round_to_the_end(tmp_path, one,
                                                                never_archived  # noqa: F811
                                                                ) -> None:
    business = _copy(never_archived, tmp_path / "copy")
    moved = _cli(business.folder, "archive", "--before", BEFORE, "--date", DAY)
    assert moved.returncode == 0, moved.stderr + moved.stdout
    assert "warning" not in moved.stdout  # nothing left for later
    cutoffs = _rounds_logged(business)
    assert len(cutoffs) >= 3 and cutoffs == sorted(cutoffs) and cutoffs[-1] == BEFORE, cutoffs
    _same(business, one, dt.date(2026, 3, 26))
    again = _cli(business.folder, "archive", "--before", BEFORE, "--date", DAY)
    assert again.returncode == 0
    assert _files(business.folder) == _files(one.folder)  # nothing moves twice


@pytest.mark.parametrize("point", ["archive-round@1", "archive-round@2", "archive-keyed@2",
                                   "archive-appended@3", "archive-removed@2"])
def test_a_kill_between_or_in_rounds_loses_and_duplicates_nothing(tmp_path, one, point,
                                                                  never_archived  # noqa: F811
                                                                  ) -> None:
    business = _copy(never_archived, tmp_path / "copy")
    killed = _cli(business.folder, "archive", "--before", BEFORE, "--date", DAY, kill_at=point)
    assert killed.returncode == 137, killed.stderr  # it really died there
    done = _cli(business.folder, "archive", "--before", BEFORE, "--date", DAY)
    assert done.returncode == 0, done.stderr + done.stdout
    _same(business, one, dt.date(2026, 3, 26))


def test_the_daily_run_moves_one_round_a_day_and_says_so(tmp_path, never_archived,  # noqa: F811
                                                        monkeypatch) -> None:
    """Archiving switched on (1 month) after four months: each run moves one round, oldest
    first, and says how much is left, until the backlog is gone; then everything is as the
    runs of the same days with the round as shipped left it."""
    whole = _copy(never_archived, tmp_path / "whole")
    bounded = _copy(never_archived, tmp_path / "bounded")
    days = [dt.date(2026, 3, 25) + dt.timedelta(days=n) for n in range(12)]
    for business in (whole, bounded):
        _set_months(business, 1)
    for day in days:
        assert whole.run(day).exit_code.value == 0
    assert not any(p.where == "archive" for _, r in whole.reports for p in r.problems)

    monkeypatch.setattr(rounds, "ROUND_ROWS", ROUND)
    monkeypatch.setattr(rounds, "ROUND_SHARE", 0)
    said, cutoffs = [], []
    for day in days:
        report = bounded.run(day)
        assert report.exit_code.value == 0, report.problems  # a warning, not an error
        left = [str(p) for p in report.problems if p.where == "archive"]
        said += left
        assert report.counts["rows archived"] <= 2 * ROUND
        # between rounds, what the plan keeps together is together: an invoice's lines are
        # where it is
        shown = {r["invoice_number"] for r in bounded.sheet("Invoices")}
        assert {r["invoice_number"] for r in bounded.sheet("InvoiceLines")} <= shown, day
        if not left:  # nothing said to be left: nothing older than the window is left
            cutoff = dt.date(day.year, day.month - 1, 1)
            assert not [r for r in bounded.activity() if r["timestamp"].date() < cutoff], day
    assert len(said) >= 3, said
    for text in said:
        assert text.startswith("archive: moved "), text
        assert " rows due (those dated before 20" in text
        assert "the rest move on the next runs" in text
        assert "run `ispsheets archive` to move them all now" in text
        cutoffs.append(text.split("dated before ")[1][:10])
    assert cutoffs == sorted(cutoffs) and len(set(cutoffs)) == len(cutoffs)  # oldest first
    assert not any(p.where == "archive" for p in bounded.reports[-1][1].problems)  # all moved
    _same(bounded, whole, days[-1] + dt.timedelta(days=1))
    assert bounded.clients() == whole.clients()

    def last_report(business: Business) -> dict:
        path = sorted((business.folder / "reports").glob("*.xlsx"))[-1]
        return {name: sheet.rows for name, sheet in read_xlsx(path).sheets.items()}
    assert last_report(bounded) == last_report(whole)


def test_the_daily_run_says_what_is_left_on_the_command_line(tmp_path,
                                                            never_archived  # noqa: F811
                                                            ) -> None:
    business = _copy(never_archived, tmp_path / "copy")
    _set_months(business, 1)
    ran = _cli(business.folder, "run", "--date", DAY)
    assert ran.returncode == 0, ran.stderr + ran.stdout
    shown = " ".join((ran.stderr + ran.stdout).split())
    assert "archive: moved " in shown and " rows due (those dated before " in shown, shown
    assert f"the rest move on the next runs, about {ROUND} a run — nothing to do; or run " \
        "`ispsheets archive` to move them all now" in shown, shown


# -- the rule itself -------------------------------------------------------------------------------

def test_a_round_ends_on_the_last_day_that_keeps_it_within_the_bound() -> None:
    day = dt.date(2024, 1, 1)
    days = {day: 30, day + dt.timedelta(days=1): 30, day + dt.timedelta(days=5): 30}
    before = dt.date(2025, 1, 1)
    assert rounds.round_cutoff(days, before, 100) == before  # all of it fits
    assert rounds.round_cutoff(days, before, 60) == day + dt.timedelta(days=5)
    assert rounds.round_cutoff(days, before, 59) == day + dt.timedelta(days=1)
    # the oldest day alone is more than a round: it moves all the same
    assert rounds.round_cutoff(days, before, 10) == day + dt.timedelta(days=1)
    assert rounds.round_cutoff({}, before, 10) == before
    # rows dated on or after the cutoff do not count
    assert rounds.round_cutoff({**days, before: 10_000}, before, 100) == before
