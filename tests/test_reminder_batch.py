"""Reminders into the outbox share a journal transaction (OUTBOX_BATCH of them) and reach the
outbox only once it is committed (held back in `outbox/.held` until then). A reminder's key
names its day, so a batch's files left in the outbox by a killed run would not be written over
by a later day's run: they would go out a second time. Killed inside a batch or right after its
commit, the next run — the same day or a later one — leaves every reminder there once."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from ispsheets.faults import REMINDER_POINTS
from tests.scenario import Business
from tests.test_crash_safety import CONFIG, END, START, _killed_run, _rows, _seen, _story

REMINDER_DAY = dt.date(2026, 12, 15)  # the story's first reminders: LATE's and NEVER's


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory) -> dict[str, object]:
    """test_crash_safety's story, never interrupted."""
    business = Business.create(tmp_path_factory.mktemp("undisturbed"), _rows(), CONFIG)
    _story(business, START, END)
    return _seen(business)


def _before_the_reminders(tmp_path) -> Business:
    business = Business.create(tmp_path, _rows(), CONFIG)
    _story(business, START, REMINDER_DAY - dt.timedelta(days=1))
    return business


def _held(business: Business) -> list[str]:
    return sorted(p.name for p in (business.folder / "outbox" / ".held").glob("*"))


def _reminders(business: Business) -> list[str]:
    return sorted(m.key for m in business.mails() if m.kind == "reminder")


@pytest.mark.slow  # 5 s
def test_a_run_killed_inside_a_reminder_batch_leaves_nothing_in_the_outbox(tmp_path,
                                                                          undisturbed):
    business = _before_the_reminders(tmp_path)
    killed = _killed_run(tmp_path, REMINDER_DAY, "message-handed-over@2")
    assert killed.returncode == 137, killed.stderr
    assert _reminders(business) == []  # both were written, held back, never committed
    assert len(_held(business)) == 2
    _story(business, REMINDER_DAY, END)
    seen = _seen(business)
    assert seen == undisturbed
    assert seen["mail files"] == len(set(seen["mails"]))
    assert _held(business) == []


@pytest.mark.slow  # 4 s
def test_killed_inside_a_batch_and_run_again_the_next_day_each_client_is_reminded_once(
        tmp_path):
    """The killed day's reminders never reach the outbox; the next day's run sends the same
    stage once, under its own day's key (before the batch was held back, the killed run's
    file stayed in the outbox and the client got both)."""
    business = _before_the_reminders(tmp_path)
    killed = _killed_run(tmp_path, REMINDER_DAY, "message-handed-over@1")
    assert killed.returncode == 137, killed.stderr
    next_day = REMINDER_DAY + dt.timedelta(days=1)
    _story(business, next_day, next_day)
    assert _reminders(business) == ["reminder/LATE/2026-12-16", "reminder/NEVER/2026-12-16"]
    assert _held(business) == []
    assert Counter(r["action"] for r in business.activity())["reminder_sent"] == 2


@pytest.mark.slow  # 5 s
@pytest.mark.parametrize("point", REMINDER_POINTS)
def test_a_run_killed_after_committing_a_batch_has_its_reminders_put_in_the_outbox(
        tmp_path, undisturbed, point):
    """Recorded as sent but still held back: the next run moves them into the outbox, once,
    and sends no other reminder for the stages they told (the next day's run, here)."""
    business = _before_the_reminders(tmp_path)
    killed = _killed_run(tmp_path, REMINDER_DAY, point)
    assert killed.returncode == 137, killed.stderr
    assert _reminders(business) == [] and len(_held(business)) == 2
    _story(business, REMINDER_DAY + dt.timedelta(days=1), END)
    seen = _seen(business)
    assert seen == undisturbed
    assert seen["mail files"] == len(set(seen["mails"]))
    assert _held(business) == []
