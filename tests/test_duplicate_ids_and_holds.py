"""A duplicate id never costs a payment the journal applied; while a client's Payments or
Charges row is skipped for an error, their collections (reminders, late fees, suspension) wait."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import openpyxl

from ispsheets.book.changes import AppendRow, ChangeSet
from tests.scenario import Business, row
from tests.test_cli_commands import ispsheets

D = Decimal
NOV_30 = dt.date(2026, 11, 30)
JAN_10 = dt.date(2027, 1, 10)  # INV-00001 (due Dec 15) is 26 days past due
# the days the collections ladder acts (due, +3, +7, +14 fee and final notice, +21 suspension,
# the next billing day): running only these is what running daily would do
LADDER = [dt.date(2026, 12, d) for d in (15, 18, 22, 29, 31)] + [dt.date(2027, 1, 5), JAN_10]


def _run_ladder(business: Business, after: dt.date = NOV_30) -> None:
    for day in LADDER:
        if day > after:
            business.run(day)


def _shop(folder, *clients: str) -> Business:
    return Business.create(folder, {
        "Packages": [row("Packages", package_id="HOME", name="Home", price=D("49.99"),
                         interval="monthly")],
        "Clients": [row("Clients", client_id=c, name=f"Client {c}", email=f"{c.lower()}@x.example")
                    for c in clients],
        "Services": [row("Services", service_id=f"S-{c}", client_id=c, package_id="HOME",
                         start_date=dt.date(2026, 12, 1)) for c in clients],
    })


def _threats(business: Business, client: str) -> list[str]:
    return [m.kind for m in business.mails_to(client)
            if m.kind in ("late_fee", "suspend") or "Final notice" in m.subject]


def test_a_new_row_reusing_an_applied_payment_id_is_skipped_alone(tmp_path):
    business = _shop(tmp_path, "A", "B")
    business.run(NOV_30)
    business.pay("A", "49.99", dt.date(2026, 12, 10))  # row 2, gets PAY-00001
    business.run(dt.date(2026, 12, 10))
    assert business.sheet("Payments")[0]["payment_id"] == "PAY-00001"
    business.pay("B", "49.99", dt.date(2026, 12, 20), payment_id="PAY-00001")  # row 3
    checked = ispsheets("check", cwd=tmp_path)  # check reads the journal as the run does
    assert checked.returncode == 1
    assert ("Payments!A3: payment_id PAY-00001 is already used by row 2 — clear the cell, the "
            "tool will fill a new id") in checked.stderr
    assert "Payments!A2" not in checked.stderr
    report = business.run(dt.date(2026, 12, 20))
    assert report.exit_code == 1
    [problem] = [p for p in report.problems if p.where == "Payments!A3"]
    assert str(problem) == ("Payments!A3: payment_id PAY-00001 is already used by row 2 — "
                            "clear the cell, the tool will fill a new id")
    assert not any(p.where == "Payments!A2" for p in report.problems)
    _run_ladder(business, after=dt.date(2026, 12, 20))
    # A paid weeks ago: the payment keeps its identity, so no fee, no suspension
    assert _threats(business, "A") == []
    assert business.clients()["A"].status == "active"
    assert business.invoices()["INV-00001"].status == "paid"
    # B's payment is only skipped, so B's collections are held, not acted on
    assert _threats(business, "B") == []
    assert business.clients()["B"].status == "active"
    assert business.activity("late_fee_added") == []
    last = business.reports[-1][1]
    held = [p for p in last.problems if p.message.startswith("collections held for client B")]
    assert [p.where for p in held] == ["Clients!A3"]
    assert "while Payments!3:3 is skipped" in held[0].message
    for held_today in ("no late fee for INV-00002", "no final_notice reminder (INV-00002)",
                       "no suspension today"):
        assert held_today in held[0].message

    # the owner clears the cell: a new id, B's payment applied, nothing held any more
    book = openpyxl.load_workbook(business.workbook)
    book["Payments"]["A3"].value = None
    book.save(business.workbook)
    report = business.run(dt.date(2027, 1, 11))
    assert report.exit_code == 0, report.problems
    assert [r["payment_id"] for r in business.sheet("Payments")] == ["PAY-00001", "PAY-00002"]
    assert business.invoices()["INV-00002"].status == "paid"
    assert business.invoices()["INV-00001"].status == "paid"


def test_both_rows_are_skipped_when_the_journal_knows_neither(tmp_path):
    business = _shop(tmp_path, "A", "B")
    business.run(NOV_30)
    business.pay("A", "49.99", dt.date(2026, 12, 10), payment_id="P-7")
    business.pay("B", "49.99", dt.date(2026, 12, 10), payment_id="P-7")
    report = business.run(dt.date(2026, 12, 10))
    assert report.exit_code == 1
    messages = {p.where: p.message for p in report.problems}
    assert messages["Payments!A2"] == "payment_id P-7 is also used on row 3; all 2 rows are skipped"
    assert messages["Payments!A3"] == "payment_id P-7 is also used on row 2; all 2 rows are skipped"


def test_a_new_charge_reusing_a_billed_charge_id_is_skipped_and_the_billed_one_kept(tmp_path):
    business = _shop(tmp_path, "A")
    business.edit(ChangeSet(appends=(AppendRow("Charges", {
        "charge_id": "CHG-9", "client_id": "A", "date": dt.date(2026, 11, 20),
        "description": "Router", "amount": D("80.00")}),)))
    business.run(NOV_30)
    assert business.sheet("Charges")[0]["invoice_number"] == "INV-00001"
    business.edit(ChangeSet(appends=(AppendRow("Charges", {
        "charge_id": "CHG-9", "client_id": "A", "date": dt.date(2026, 12, 5),
        "description": "Cable", "amount": D("15.00")}),)))
    report = business.run(dt.date(2026, 12, 5))
    assert [str(p) for p in report.problems if p.where.startswith("Charges!A")] == [
        "Charges!A3: charge_id CHG-9 is already used by row 2 — clear the cell, the tool will "
        "fill a new id"]
    assert business.sheet("Charges")[0]["invoice_number"] == "INV-00001"


def test_a_payment_row_with_a_typo_holds_that_clients_fee_suspension_and_final_notice(tmp_path):
    business = _shop(tmp_path, "A", "B")
    business.run(NOV_30)
    business.edit(ChangeSet(appends=(AppendRow("Payments", {
        "date": dt.date(2026, 12, 10), "client_id": "A", "amount": "49.99x",
        "method": "check"}),)))
    _run_ladder(business)
    assert _threats(business, "A") == []
    assert business.clients()["A"].status == "active"
    assert [m.kind for m in business.mails_to("A") if m.kind == "reminder"] == []
    # B, who has no skipped row, is chased as usual
    assert {r["client_id"] for r in business.activity("late_fee_added")} == {"B"}
    assert "suspend" in _threats(business, "B") and business.clients()["B"].status == "suspended"
    result = ispsheets("run", "--date", "2027-01-11", cwd=tmp_path)
    assert result.returncode == 1
    assert ("Clients!A2: collections held for client A while Payments!2:2 is skipped"
            in result.stderr)


def test_a_skipped_row_with_a_misspelt_client_id_holds_the_client_it_resembles(tmp_path):
    business = _shop(tmp_path, "C-1001", "C-2002")
    business.run(NOV_30)
    business.pay("C1001", "49.99", dt.date(2026, 12, 10))  # not a client: the row is skipped
    _run_ladder(business)
    assert business.clients()["C-1001"].status == "active"
    assert business.clients()["C-2002"].status == "suspended"
