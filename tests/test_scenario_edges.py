"""What owners and cron actually do: skip days, re-run, sort, delete, void, reopen by hand."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from decimal import Decimal

import pytest

from ispsheets.book.backend import TAB_CACHE
from ispsheets.book.changes import ChangeSet, SetCell
from ispsheets.journal_seal import still_sealed
from tests.scenario import Business, row

D = Decimal
NOV_30 = dt.date(2026, 11, 30)
DUE = dt.date(2026, 12, 15)


def _rows(*clients: str, **statuses: str) -> dict[str, list[tuple[object, ...]]]:
    packages = [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                    interval="monthly")]
    return {
        "Packages": packages,
        "Clients": [row("Clients", client_id=c, name=f"Client {c}", email=f"{c.lower()}@x.example",
                        status=statuses.get(c, "active")) for c in clients],
        "Services": [row("Services", service_id=f"S-{c}", client_id=c, package_id="HOME",
                         start_date=dt.date(2026, 12, 1)) for c in clients],
    }


def _reminders(business: Business, client: str) -> list[tuple[dt.date | None, str]]:
    return [(m.day, m.subject.split(":")[0]) for m in business.mails_to(client)
            if m.kind == "reminder"]


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_week_without_runs_sends_one_reminder_at_the_latest_stage(tmp_path):
    business = Business.create(tmp_path, _rows("GAP"))
    business.run_days(NOV_30, dt.date(2026, 12, 30),
                      skip=[dt.date(2026, 12, 16) + dt.timedelta(days=n) for n in range(9)])
    # due notice Dec 15; runs missed Dec 16-24 (first reminder due Dec 18, second Dec 22);
    # Dec 25 sends the second reminder only; the final notice on Dec 29
    assert [day for day, _ in _reminders(business, "GAP")] == [
        DUE, dt.date(2026, 12, 25), dt.date(2026, 12, 29)]
    stages = [m.subject for m in business.mails_to("GAP") if m.kind == "reminder"]
    assert stages[1].startswith("Second reminder") and stages[2].startswith("Final notice")


def test_missed_billing_runs_bill_every_period_on_one_invoice_dated_the_run_day(tmp_path):
    business = Business.create(tmp_path, _rows("LATE"))
    report = business.run(dt.date(2027, 2, 10))  # nobody ran the tool Nov 30 - Feb 9
    [invoice] = report.issued
    assert invoice.issue_date == dt.date(2027, 2, 10)
    assert (invoice.period_start, invoice.period_end) == (dt.date(2026, 12, 1),
                                                          dt.date(2027, 2, 28))
    assert invoice.total == D("149.97")
    assert len(business.mails_to("LATE")) == 1


def test_running_the_same_day_twice_changes_nothing_the_second_time(tmp_path):
    business = Business.create(tmp_path, _rows("A", "B"))
    first = business.run(NOV_30)
    assert first.counts["invoices issued"] == 2
    before = (_digest(business.workbook), len(business.mails()))
    second = business.run(NOV_30)
    assert second.issued == [] and second.counts["emails sent"] == 0
    assert second.written is None  # nothing to write
    assert (_digest(business.workbook), len(business.mails())) == before


@pytest.mark.parametrize("journal_use", ["copied into memory", "rehearsed in place"])
def test_dry_run_touches_neither_the_workbook_nor_the_journal_nor_the_outbox(tmp_path,
                                                                            monkeypatch,
                                                                            journal_use):
    """Also with a journal too big to copy into memory (a dry run's one transaction, rolled
    back: `Journal.rehearse`): the same plan, nothing on disk, and the next run numbers its
    invoice as the dry run said."""
    import ispsheets.runner as runner

    if journal_use == "rehearsed in place":
        monkeypatch.setattr(runner, "DRY_RUN_COPY_BYTES", -1)
    copies: list[bool] = []
    real_copy = runner.Journal.copy_to_memory
    monkeypatch.setattr(runner.Journal, "copy_to_memory",
                        lambda self: copies.append(True) or real_copy(self))
    business = Business.create(tmp_path, _rows("A"))
    business.run(NOV_30)
    business.pay("A", "10.00", dt.date(2026, 12, 20))
    journal = tmp_path / "ispsheets.db"
    cache = tmp_path / TAB_CACHE
    kept = {p.relative_to(cache): _digest(p) for p in cache.rglob("*") if p.is_file()}
    assert kept  # the real run kept what it read
    before = (_digest(business.workbook), _digest(journal), len(business.mails()))
    report = business.run(dt.date(2026, 12, 31), dry_run=True)
    assert report.issued and report.counts["payments applied"] == 1
    assert ("email", "A", "invoice INV-00002 to a@x.example") in report.plan
    assert (_digest(business.workbook), _digest(journal), len(business.mails())) == before
    assert {p.relative_to(cache): _digest(p) for p in cache.rglob("*") if p.is_file()} == kept
    assert not (tmp_path / "reports" / "ispsheets-report-2026-12-31.xlsx").exists()
    assert copies == ([True] if journal_use == "copied into memory" else [])
    assert still_sealed(journal, time.time()) is not None  # the next run skips the check
    real = business.run(dt.date(2026, 12, 31))
    assert [i.invoice_number for i in real.issued] == \
        [i.invoice_number for i in report.issued] == ["INV-00002"]


def test_invoices_tab_emptied_by_the_owner_is_restored_and_nothing_is_billed_twice(tmp_path):
    business = Business.create(tmp_path, _rows("A", "B"))
    business.run(NOV_30)
    numbers = sorted(business.invoices())
    business.edit(ChangeSet(sets=tuple(SetCell("Invoices", n, column, None)
                                       for n in numbers for column in
                                       ("invoice_number", "client_id", "total", "status"))))
    assert business.invoices() == {}
    report = business.run(dt.date(2026, 12, 1))
    assert report.issued == []
    assert sorted(business.invoices()) == numbers
    restored = [p for p in report.problems if "written again" in p.message]
    assert len(restored) == 2 and not any(p.is_error for p in restored)


def test_owner_sorting_tabs_changes_nothing(tmp_path):
    from openpyxl import load_workbook

    business = Business.create(tmp_path, _rows("A", "B", "C"))
    business.run(NOV_30)
    business.pay("A", "49.99", dt.date(2026, 12, 2))
    business.pay("C", "49.99", dt.date(2026, 12, 2))
    business.run(dt.date(2026, 12, 2))
    # the owner sorts Clients Z→A and Payments by client, in Excel (here: openpyxl)
    book = load_workbook(business.workbook)
    for name in ("Clients", "Payments", "Invoices"):
        sheet = book[name]
        rows = [[c.value for c in r] for r in sheet.iter_rows(min_row=2)
                if any(c.value is not None for c in r)]
        rows.sort(key=lambda r: str(r[1] if name != "Clients" else r[0]), reverse=True)
        for r_index, values in enumerate(rows, start=2):
            for c_index, value in enumerate(values, start=1):
                sheet.cell(r_index, c_index, value)
    book.save(business.workbook)
    before = business.invoices()
    report = business.run(dt.date(2026, 12, 3))
    assert report.issued == [] and report.counts["payments applied"] == 0
    assert report.counts["emails sent"] == 0
    after = business.invoices()
    assert {n: (i.client_id, i.status, i.balance) for n, i in after.items()} == {
        n: (i.client_id, i.status, i.balance) for n, i in before.items()}
    assert [c.client_id for c in business.book().clients] == ["C", "B", "A"]


def test_a_voided_invoice_leaves_collections_and_is_not_billed_again_until_rebilled(tmp_path):
    from ispsheets.journal import Journal

    business = Business.create(tmp_path, _rows("A"))
    business.run(NOV_30)
    business.edit(ChangeSet(sets=(SetCell("Invoices", "INV-00001", "status", "void"),)))
    business.run_days(dt.date(2026, 12, 1), dt.date(2026, 12, 30))
    invoice = business.invoices()["INV-00001"]
    assert (invoice.status, invoice.balance) == ("void", 0)
    assert _reminders(business, "A") == []
    assert business.clients()["A"].balance == 0
    assert business.run(dt.date(2026, 12, 30)).issued == []
    journal = Journal.open(tmp_path / "ispsheets.db")
    assert journal.release_billed("INV-00001") == 1
    journal.close()
    [again] = business.run(dt.date(2026, 12, 30)).issued
    assert (again.invoice_number, again.period_start, again.total) == (
        "INV-00002", dt.date(2026, 12, 1), D("49.99"))


def test_owner_reactivating_a_suspended_client_is_respected(tmp_path):
    business = Business.create(tmp_path, _rows("A"))
    business.run_days(NOV_30, dt.date(2027, 1, 5))
    assert business.clients()["A"].status == "suspended"  # 21 days past the Dec 15 due date
    business.set_status("A", "active")  # the owner gives them a few more days
    business.run_days(dt.date(2027, 1, 6), dt.date(2027, 1, 20))
    assert business.clients()["A"].status == "active"
    assert len(business.activity("client_suspended")) == 1
    assert business.activity("client_reconnected") == []


def test_a_workbook_open_in_excel_exits_3_and_the_next_run_completes_the_job(tmp_path):
    business = Business.create(tmp_path, _rows("A"))
    lock = tmp_path / "~$isp.xlsx"
    lock.write_text("owner")
    blocked = business.run(NOV_30)
    assert blocked.exit_code == 3
    assert any("open in Excel" in str(p) for p in blocked.problems)
    assert business.invoices() == {}
    lock.unlink()
    done = business.run(NOV_30)
    assert done.exit_code == 0 and done.issued == []  # issued by the blocked run already
    assert sorted(business.invoices()) == ["INV-00001"]
    assert len(business.activity("invoice_issued")) == 1
    assert len(business.activity("invoice_sent")) == 1


@pytest.mark.parametrize("bad", ["not a date", "2026-02-30"])
def test_a_bad_row_skips_that_client_only_and_exits_1(tmp_path, bad):
    rows = _rows("A", "B")
    services = list(rows["Services"])
    services[1] = row("Services", service_id="S-B", client_id="B", package_id="HOME",
                      start_date=bad)
    rows["Services"] = services
    business = Business.create(tmp_path, rows)
    report = business.run(NOV_30)
    assert report.exit_code == 1
    assert [i.client_id for i in report.issued] == ["A"]
    assert any(p.where == "Services!D3" for p in report.problems)


def test_rebilling_a_voided_invoice_bills_its_charges_again_too(tmp_path):
    from ispsheets.journal import Journal

    rows = _rows("A")
    rows["Charges"] = [row("Charges", client_id="A", date=dt.date(2026, 11, 20),
                           description="Router", amount=D("89.00"), taxable="no")]
    business = Business.create(tmp_path, rows)
    business.run(NOV_30)
    assert business.invoices()["INV-00001"].total == D("138.99")
    business.edit(ChangeSet(sets=(SetCell("Invoices", "INV-00001", "status", "void"),)))
    business.run(dt.date(2026, 12, 1))
    assert business.run(dt.date(2026, 12, 2)).issued == []  # void alone bills nothing again
    journal = Journal.open(tmp_path / "ispsheets.db")
    assert journal.release_billed("INV-00001") == 2  # the December period and the router
    journal.close()
    [again] = business.run(dt.date(2026, 12, 3)).issued
    assert (again.invoice_number, again.total) == ("INV-00002", D("138.99"))
    [charge] = business.book().charges
    assert charge.invoice_number == "INV-00002"


def test_a_late_fee_row_the_owner_deletes_is_waived_and_never_comes_back(tmp_path):
    from openpyxl import load_workbook

    business = Business.create(tmp_path, _rows("A"))
    business.run_days(NOV_30, dt.date(2026, 12, 29))  # the fee is added at +14 (Dec 29)
    [fee] = business.book().charges
    assert (fee.description, fee.amount, fee.taxable) == ("Late fee for INV-00001", D("5.00"),
                                                          False)
    book = load_workbook(business.workbook)  # the owner deletes the row in Excel
    book["Charges"].delete_rows(fee.origin.row)
    book.save(business.workbook)
    business.run_days(dt.date(2026, 12, 30), dt.date(2027, 1, 2))
    assert business.book().charges == ()
    jan = next(i for i in business.invoices().values() if i.issue_date == dt.date(2026, 12, 31))
    assert jan.total == D("49.99")  # no fee on it
    assert len(business.activity("late_fee_added")) == 1


@pytest.mark.slow  # 6 s: months of runs
def test_with_billing_stopped_while_suspended_the_months_off_are_never_billed(tmp_path):
    business = Business.create(tmp_path, _rows("A"), """
collections: {bill_while_suspended: false}
""")
    business.run_days(NOV_30, dt.date(2027, 1, 5))  # suspended Jan 5; Jan was billed Dec 31
    assert business.clients()["A"].status == "suspended"
    business.run_days(dt.date(2027, 1, 6), dt.date(2027, 3, 9))  # Feb and Mar: suspended
    assert sorted(i.period_start for i in business.invoices().values()) == [
        dt.date(2026, 12, 1), dt.date(2027, 1, 1)]
    owed = business.clients()["A"].balance
    business.pay("A", str(owed), dt.date(2027, 3, 10))
    business.run(dt.date(2027, 3, 10))
    assert business.clients()["A"].status == "active"
    business.run_days(dt.date(2027, 3, 11), dt.date(2027, 3, 31))
    starts = sorted(i.period_start for i in business.invoices().values()
                    if i.period_start is not None)
    # billing resumes with April; February and March, when the service was off, are waived
    assert starts == [dt.date(2026, 12, 1), dt.date(2027, 1, 1), dt.date(2027, 4, 1)]
    april = max(business.invoices().values(), key=lambda i: i.issue_date)
    # + the reconnection fee, + the late fee of the January invoice (added Jan 29, while no
    # invoice was issued: charges wait for the next one)
    assert april.total == D("49.99") + D("10.00") + D("5.00")
