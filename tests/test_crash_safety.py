"""Kill the real command (as `kill -9` would) at every step boundary, run it again, and compare
everything a person can see with a business that was never interrupted: the same invoices,
the same emails exactly once, the same fees, suspensions, commands and activity."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from ispsheets.faults import POINTS
from tests.scenario import Business, row

D = Decimal
START, END = dt.date(2026, 11, 30), dt.date(2027, 1, 6)
# the day each point is first reached in this story
KILL_DAY = {"invoices-recorded": START, "message-handed-over": START,
            "before-workbook-write": START, "workbook-temp-written": START,
            "workbook-replaced": START,
            "report-written": START, "fee-recorded": dt.date(2026, 12, 29),
            "suspension-recorded": dt.date(2027, 1, 5)}
CONFIG = """
collections:
  provisioning:
    suspend_command: "echo suspend {client_id} >> commands.log"
"""


def _rows() -> dict[str, list[tuple[object, ...]]]:
    return {
        "Packages": [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                         interval="monthly", tax_rate=D("8.25"), setup_fee=D("25"))],
        "Clients": [row("Clients", client_id=c, name=f"Client {c}", email=f"{c.lower()}@x.example")
                    for c in ("PAYS", "NEVER", "LATE")],
        "Services": [row("Services", service_id=f"S-{c}", client_id=c, package_id="HOME",
                         start_date=dt.date(2026, 11, 20)) for c in ("PAYS", "NEVER", "LATE")],
        "Charges": [row("Charges", client_id="LATE", date=dt.date(2026, 11, 20),
                        description="Router", amount=D("89.00"))],
    }


def _story(business: Business, first: dt.date, last: dt.date) -> None:
    dec_3, dec_20 = dt.date(2026, 12, 3), dt.date(2026, 12, 20)
    payments = {dec_3: [lambda: business.pay("PAYS", "148.58", dec_3)],
                dec_20: [lambda: business.pay("LATE", "50.00", dec_20)]}
    business.run_days(first, last, before=payments)


def _seen(business: Business) -> dict[str, object]:
    """Everything a person sees, without run-time timestamps."""
    book = business.book()
    mails = [m.key for m in business.mails()]
    commands = business.folder / "commands.log"
    return {
        "invoices": sorted((i.invoice_number, i.client_id, i.issue_date, i.total, i.paid,
                            i.balance, i.status, i.reminder_stage) for i in book.invoices),
        "lines": Counter(r["invoice_number"] for r in business.sheet("InvoiceLines")),
        "mails": sorted(mails), "mail files": len(mails),
        "charges": sorted((c.charge_id, c.client_id, c.description, c.amount, c.invoice_number)
                          for c in book.charges),
        "payments": sorted((p.payment_id, p.applied_to, p.unapplied) for p in book.payments),
        "clients": sorted((c.client_id, c.status, c.balance) for c in book.clients),
        "activity": Counter((r["action"], r["client_id"], r["invoice_number"])
                            for r in business.activity()),
        "commands": commands.read_text() if commands.exists() else "",
        "pdfs": sorted(p.name for p in (business.folder / "invoices").glob("*.pdf")),
    }


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory) -> dict[str, object]:
    business = Business.create(tmp_path_factory.mktemp("undisturbed"), _rows(), CONFIG)
    _story(business, START, END)
    return _seen(business)


def _killed_run(folder: Path, day: dt.date, point: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ISPSHEETS_KILL_AT": point}
    return subprocess.run([sys.executable, "-m", "ispsheets", "run", "--date", day.isoformat(),
                           "--config", str(folder / "config.yaml")], env=env,
                          capture_output=True, text=True, timeout=120)


def test_every_kill_point_is_covered():
    assert set(KILL_DAY) == set(POINTS)


@pytest.mark.slow  # 4-7 s each: a story of many days, killed once
@pytest.mark.parametrize("point", POINTS)
def test_a_run_killed_at_a_step_boundary_is_completed_by_the_next_run(tmp_path, undisturbed,
                                                                       point):
    business = Business.create(tmp_path, _rows(), CONFIG)
    day = KILL_DAY[point]
    _story(business, START, day - dt.timedelta(days=1))
    killed = _killed_run(tmp_path, day, point)
    assert killed.returncode == 137, killed.stderr  # it really died at that point
    _story(business, day, END)  # cron runs again: the same day first, then the next ones
    seen = _seen(business)
    assert seen == undisturbed
    assert seen["mail files"] == len(set(seen["mails"]))  # no email twice
    assert [p.name for p in tmp_path.glob(".*tmp*")] == []  # no half-written file left


@pytest.mark.slow  # 6 s
def test_a_run_killed_between_two_outbox_emails_sends_each_once(tmp_path, undisturbed):
    """Outbox emails share a journal transaction: killed after the second of the day's three
    invoice emails, the next run writes the batch again, and each email is there once."""
    business = Business.create(tmp_path, _rows(), CONFIG)
    _story(business, START, START - dt.timedelta(days=1))
    killed = _killed_run(tmp_path, START, "message-handed-over@2")
    assert killed.returncode == 137, killed.stderr
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2  # two were written, then death
    _story(business, START, END)
    seen = _seen(business)
    assert seen == undisturbed
    assert seen["mail files"] == len(set(seen["mails"]))
