"""Billing reads the live invoices and the archive's summary, and bills exactly what it bills
from the whole history: one small ISP's nine months through `ispsheets run`, twice, once
keeping everything (archive_after_months: 0) and once archiving after one month. On the way the
owner ends a service in the middle of a period, ends another back into archived months, and
starts the first again; every invoice, line and email is the same.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from ispsheets.archive.checkpoint import Frozen, freeze
from ispsheets.billing.archived import billed_state
from ispsheets.book.changes import ChangeSet, SetCell
from ispsheets.book.reader import read_xlsx
from ispsheets.journal import Journal
from ispsheets.payments.allocate import Allocation
from tests.scenario import Business, row

pytestmark = pytest.mark.slow  # nine months, twice: ~40 s

D = Decimal
FIRST, LAST = dt.date(2025, 12, 31), dt.date(2026, 9, 16)
CLIENTS = ("HOME1", "HOME2", "BIZ", "LATER")
EDITS = {  # before the run of that day, the owner changes a service's end date
    dt.date(2026, 5, 16): ("S3", dt.date(2026, 5, 20)),  # ends inside a billed month
    dt.date(2026, 6, 16): ("S1", dt.date(2026, 3, 10)),  # ends back in archived months
    dt.date(2026, 7, 16): ("S3", None),  # starts again
}


def _rows() -> dict[str, list[tuple[object, ...]]]:
    packages = [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                    interval="monthly", setup_fee=D("25.00")),
                row("Packages", package_id="BIZ", name="Business", price=D("120.00"),
                    interval="quarterly", setup_fee=D("90.00"))]
    clients = [row("Clients", client_id=c, name=f"Client {c.title()}",
                   email=f"{c.lower()}@example.com") for c in CLIENTS]
    services = [row("Services", service_id="S1", client_id="HOME1", package_id="HOME",
                    start_date=dt.date(2026, 1, 1)),
                row("Services", service_id="S2", client_id="HOME2", package_id="HOME",
                    start_date=dt.date(2026, 1, 1)),
                row("Services", service_id="S3", client_id="BIZ", package_id="BIZ",
                    start_date=dt.date(2026, 1, 10)),
                row("Services", service_id="S4", client_id="LATER", package_id="HOME",
                    start_date=dt.date(2026, 2, 15))]
    charges = [row("Charges", charge_id="CH1", client_id="HOME1", date=dt.date(2026, 1, 20),
                   description="Router", amount=D("80.00"))]
    return {"Packages": packages, "Clients": clients, "Services": services, "Charges": charges}


def _days() -> list[dt.date]:
    days, day = [], FIRST
    while day <= LAST:
        if day.day in (1, 16) or day == FIRST:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def _freeze_archived(business: Business) -> None:
    """What the run does once the checkpoint is wired in: the archived invoices' checkpoint."""
    journal = Journal.open(business.config.journal_path)
    try:
        invoices = [j.invoice for n in journal.unfrozen_archived()
                    if (j := journal.invoice(n)) is not None]
        freeze(journal, Frozen(invoices, (), Allocation()))
    finally:
        journal.close()


def _story(folder: Path, months: int) -> Business:
    business = Business.create(folder, _rows())
    path = business.folder / "config.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["workbook"]["archive_after_months"] = months
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    business.reload_config()
    for day in _days():
        if day in EDITS:
            service, end = EDITS[day]
            business.edit(ChangeSet(sets=(SetCell("Services", service, "end_date", end),)))
        for client_id, client in business.clients().items():
            if (client.balance or 0) > 0:  # every client pays what it owes
                business.pay(client_id, str(client.balance), day)
        report = business.run(day)
        assert report.exit_code.value <= 1, report.problems
        if months:
            _freeze_archived(business)
    return business


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Business, Business]:
    return (_story(tmp_path_factory.mktemp("kept"), 0),
            _story(tmp_path_factory.mktemp("archived"), 1))


def _all_rows(business: Business, tab: str) -> list[tuple[object, ...]]:
    rows = []
    for path in [business.workbook, *sorted((business.folder / "archive").glob("*.xlsx"))]:
        sheet = read_xlsx(path).sheets[tab]
        header = [str(h) for h in sheet.header]
        rows += [tuple(v for h, v in zip(header, r, strict=False) if h not in ("sent_at",
                                                                                 "status"))
                 for r in sheet.rows[1:]]
    return sorted(rows, key=str)


def test_every_invoice_and_line_is_the_same_with_the_archive(pair) -> None:
    kept, archived = pair
    assert list((archived.folder / "archive").glob("*.xlsx"))  # it did archive
    assert len(archived.sheet("Invoices")) < len(kept.sheet("Invoices"))
    assert _all_rows(archived, "Invoices") == _all_rows(kept, "Invoices")
    assert _all_rows(archived, "InvoiceLines") == _all_rows(kept, "InvoiceLines")


def test_every_email_is_the_same_with_the_archive(pair) -> None:
    kept, archived = pair
    assert [(m.key, m.to, m.subject, m.text, m.day) for m in archived.mails()] == \
        [(m.key, m.to, m.subject, m.text, m.day) for m in kept.mails()]


def test_the_story_credits_archived_months_bills_setup_fees_and_the_charge_once(pair) -> None:
    kept, _ = pair
    lines = kept.sheet("InvoiceLines")
    credits = [r for r in lines if r["service_id"] == "S1" and D(str(r["amount"])) < 0]
    assert {r["period_start"] for r in credits} >= {dt.date(2026, 3, 11), dt.date(2026, 4, 1)}
    assert [r for r in lines if r["service_id"] == "S3" and D(str(r["amount"])) < 0]
    assert len([r for r in lines if str(r["description"]).startswith("Setup")]) == 4
    assert len([r for r in lines if r["description"] == "Router"]) == 1


def test_the_last_runs_read_the_summary_not_the_archived_rows(pair) -> None:
    _, archived = pair
    journal = Journal.open(archived.config.journal_path)
    try:
        assert journal.unfrozen_archived() == []
        state = billed_state(journal, archived.book())
        live = {b.key for b, _ in journal.billed_live() if b.kind == "period"}
    finally:
        journal.close()
    assert {"S2", "S4"} <= set(state.covered)  # their archived months: covered days only
    assert "S1" not in state.covered  # ended back in archived months: its rows are read
    shown = {key for key, p in state.periods.items() if p.service_id in ("S2", "S4")}
    assert shown - live and len(shown - live) == 2  # only the last archived period of each


def test_every_run_says_the_same_with_the_archive(pair) -> None:
    def said(business: Business) -> list[tuple[dt.date, list[str]]]:
        return [(day, sorted(f"{p.where}: {p.message}" for p in report.problems))
                for day, report in business.reports]
    kept, archived = pair
    assert said(archived) == said(kept)
    assert any("already credited" in m for _, messages in said(kept) for m in messages)
