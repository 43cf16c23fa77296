"""Bank statements imported through the real command: a month of transfers in two overlapping
statements, each matching rule, an ambiguous amount the owner assigns, the same file twice or
in another format, and a kill -9 half-way through a file."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from ispsheets.book.changes import ChangeSet, SetCell
from tests.scenario import Business, row

D = Decimal
DATA = Path(__file__).parent / "data" / "bank"
CAMT_A, CSV_A, MT940_B = "december-a.camt053.xml", "december-a.csv", "december-b.mt940"
CLIENTS = [("ALICE", "HOME", ""), ("BOB", "HOME", ""), ("CAROL", "HOME", "KD-7731"),
           ("DAVE", "HOME", ""), ("ERIN", "PLUS", ""), ("FRANK", "PRO", ""),
           ("GINA", "PRO", ""), ("HEIDI", "PRO", "")]
CONFIG = """
currency: EUR
bank:
  inbox: bank/inbox
  csv: {date: Buchungstag, amount: Betrag, reference: Verwendungszweck,
        name: "Auftraggeber/Empfänger", account: IBAN, currency: Währung,
        decimal: ",", date_order: day_first, delimiter: ";"}
"""


def _rows() -> dict[str, list[tuple[object, ...]]]:
    return {
        "Packages": [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                         interval="monthly"),
                     row("Packages", package_id="PLUS", name="Plus 300", price=D("79.00"),
                         interval="monthly"),
                     row("Packages", package_id="PRO", name="Pro 200", price=D("59.00"),
                         interval="monthly")],
        "Clients": [row("Clients", client_id=c, name=c.title(), email=f"{c.lower()}@x.example",
                        bank_reference=ref or None) for c, _, ref in CLIENTS],
        "Services": [row("Services", service_id=f"S-{c}", client_id=c, package_id=p,
                         start_date=dt.date(2026, 12, 1)) for c, p, _ in CLIENTS],
    }


def ispsheets(folder: Path, *args: str, kill_at: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    if kill_at:
        env["ISPSHEETS_KILL_AT"] = kill_at
    return subprocess.run([sys.executable, "-m", "ispsheets", *args, "--config",
                           str(folder / "config.yaml")], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def shop(tmp_path: Path) -> Business:
    business = Business.create(tmp_path, _rows(), CONFIG)
    business.run(dt.date(2026, 11, 30))  # INV-00001 ALICE … INV-00008 HEIDI, in client order
    return business


def drop(business: Business, name: str) -> None:
    inbox = business.folder / "bank" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / name, inbox / name)


def payments(business: Business) -> list[tuple[object, ...]]:
    return [(p.date.isoformat(), p.client_id, f"{p.amount:.2f}", p.method, p.invoice_number,
             p.applied_to) for p in business.book().payments]


def unmatched(business: Business) -> list[dict[str, object]]:
    return business.sheet("BankUnmatched")


MONTH = [  # what the owner sees in Payments after both statements of December
    ("2026-12-02", "ALICE", "49.99", "bank transfer", "INV-00001", "INV-00001:49.99"),
    ("2026-12-03", "BOB", "49.99", "bank transfer", "", "INV-00002:49.99"),
    ("2026-12-03", "GINA", "59.00", "bank transfer", "", "INV-00007:59.00"),
    ("2026-12-04", "CAROL", "49.99", "bank transfer", "", "INV-00003:49.99"),
    ("2026-12-05", "DAVE", "49.99", "bank transfer", "INV-00004", "INV-00004:49.99"),
    ("2026-12-06", "ERIN", "79.00", "bank transfer", "INV-00005", "INV-00005:79.00"),
    ("2026-12-16", "DAVE", "49.99", "bank transfer", "", ""),  # credit: nothing open
    ("2026-12-18", "CAROL", "20.00", "bank transfer", "", ""),
    ("2026-12-20", "HEIDI", "30.00", "bank transfer", "INV-00008", "INV-00008:30.00"),
    # HEIDI's partial payment left FRANK's the only open invoice of 59.00
    ("2026-12-22", "FRANK", "59.00", "bank transfer", "INV-00006", "INV-00006:59.00"),
]


def test_a_month_in_two_overlapping_statements_each_transfer_once(shop: Business) -> None:
    drop(shop, CAMT_A)
    first = shop.run(dt.date(2026, 12, 16))
    assert first.exit_code == 0, first.problems
    assert first.counts["bank payments imported"] == 6
    assert (shop.folder / "bank" / "imported" / CAMT_A).is_file()
    assert not (shop.folder / "bank" / "inbox" / CAMT_A).exists()
    drop(shop, MT940_B)  # Dec 7-22: its first three lines are in statement A too
    second = shop.run(dt.date(2026, 12, 23))
    assert second.counts["bank lines imported before"] == 2  # the 1,234.56 and the 59.00
    assert second.counts["bank debits ignored"] == 1
    assert payments(shop) == MONTH
    invoices = shop.invoices()
    assert [invoices[f"INV-0000{n}"].status for n in range(1, 9)] == [
        "paid", "paid", "paid", "paid", "paid", "paid", "paid", "partial"]
    balances = {c: shop.clients()[c].balance for c in ("DAVE", "CAROL", "HEIDI", "FRANK")}
    assert balances == {"DAVE": D("-49.99"), "CAROL": D("-20.00"), "HEIDI": D("29.00"),
                        "FRANK": D("0.00")}
    assert [(r["line_id"], r["name"], r["amount"]) for r in unmatched(shop)] == [
        ("BNK-00001", "F. Fox", 59), ("BNK-00002", "Big Payer GmbH", 1234.56)]
    assert [r["detail"] for r in shop.activity("bank_imported")] == [
        "december-a.camt053.xml (CAMT.053): 6 payments, 2 unmatched, 1 debit ignored, "
        "1 pending skipped",
        "december-b.mt940 (MT940): 4 payments, 0 unmatched, 2 imported before, "
        "1 debit ignored"]


@pytest.mark.slow
def test_each_rule_is_named_in_the_plan(shop: Business) -> None:
    drop(shop, CAMT_A)
    shop.run(dt.date(2026, 12, 16))
    result = ispsheets(shop.folder, "import-bank", str(DATA / MT940_B), "--date",
                       "2026-12-23", "--dry-run")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "DAVE │ €49.99 of 2026-12-16 by known account: account DE44500105175407324931 " \
           "paid for DAVE before" in text
    assert "CAROL │ €20.00 of 2026-12-18 by known name: Carol Clark paid for CAROL before" in text
    assert "HEIDI │ €30.00 of 2026-12-20 by invoice number: the reference names INV-00008 " \
           "of HEIDI" in text
    assert "FRANK │ €59.00 of 2026-12-22 by amount: INV-00006 of FRANK is the only open " \
           "invoice of 59.00" in text
    assert "dry run, nothing changed" in text
    assert len(payments(shop)) == 6  # dry run: nothing written
    rules = ispsheets(shop.folder, "import-bank", str(DATA / CSV_A), "--date", "2026-12-16",
                      "--dry-run", "--config", str(shop.folder / "config.yaml"))
    assert "imported before" in rules.stdout  # the CSV of statement A: all known


def test_statement_a_rules_through_the_command(tmp_path: Path) -> None:
    business = Business.create(tmp_path, _rows(), CONFIG)
    business.run(dt.date(2026, 11, 30))
    result = ispsheets(tmp_path, "import-bank", str(DATA / CAMT_A), "--date", "2026-12-16")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for expected in (
            "ALICE │ €49.99 of 2026-12-02 by invoice number: the reference names INV-00001",
            "BOB │ €49.99 of 2026-12-03 by client id: the reference names client BOB",
            "CAROL │ €49.99 of 2026-12-04 by bank reference: the reference holds the bank "
            "reference of CAROL",
            "DAVE │ €49.99 of 2026-12-05 by invoice number: the reference names INV-00004",
            "ERIN │ €79.00 of 2026-12-06 by amount: INV-00005 of ERIN is the only open "
            "invoice of 79.00",
            "Unmatched bank lines (2;",
            "2 open invoices of 59.00 (INV-00006 FRANK, INV-00008 HEIDI)"):
        assert expected in text
    assert "6 bank payments imported; 2 bank lines unmatched; 1 bank debit ignored" in text
    assert payments(business) == MONTH[:6]


def test_the_owner_assigns_an_unmatched_line_and_the_next_run_records_it(shop: Business
                                                                           ) -> None:
    drop(shop, CAMT_A)
    shop.run(dt.date(2026, 12, 16))
    [fox] = [r for r in unmatched(shop) if r["name"] == "F. Fox"]
    assert fox["why"] == "2 open invoices of 59.00 (INV-00006 FRANK, INV-00008 HEIDI)"
    shop.edit(ChangeSet(sets=(SetCell("BankUnmatched", str(fox["line_id"]), "client_id",
                                      "FRANK"),)))
    report = shop.run(dt.date(2026, 12, 17))
    assert report.exit_code == 0, report.problems
    assert ("2026-12-07", "FRANK", "59.00", "bank transfer", "",
            "INV-00006:59.00") in payments(shop)
    assert shop.invoices()["INV-00006"].status == "paid"
    [fox] = [r for r in unmatched(shop) if r["name"] == "F. Fox"]
    assert str(fox["payment_id"]).startswith("PAY-")
    again = shop.run(dt.date(2026, 12, 18))
    assert len(payments(shop)) == 7 and again.counts["bank payments imported"] == 0
    # the account is remembered: FRANK's next transfer with no reference matches by it
    later = shop.folder / "later.csv"
    later.write_text("Buchungstag;Auftraggeber/Empfänger;IBAN;Verwendungszweck;Betrag;Währung\n"
                     "19.12.2026;F. Fox;DE91100000000123456789;danke;10,00;EUR\n",
                     encoding="utf-8")
    result = ispsheets(shop.folder, "import-bank", str(later), "--date", "2026-12-19")
    assert result.returncode == 0, result.stderr
    assert "FRANK │ €10.00 of 2026-12-19 by known account" in " ".join(result.stdout.split())


def test_an_assignment_to_an_unknown_client_is_an_error_at_the_cell(shop: Business) -> None:
    drop(shop, CAMT_A)
    shop.run(dt.date(2026, 12, 16))
    shop.edit(ChangeSet(sets=(SetCell("BankUnmatched", "BNK-00001", "client_id", "FRNK"),)))
    report = shop.run(dt.date(2026, 12, 17))
    assert report.exit_code == 1
    assert [str(p) for p in report.problems if p.is_error] == [
        "BankUnmatched!J2: client_id FRNK is not on the Clients tab — type a client_id from "
        "the Clients tab; the line is taken on the next run"]
    assert len(payments(shop)) == 6


@pytest.mark.slow
def test_the_same_file_imported_twice_adds_nothing(shop: Business) -> None:
    first = ispsheets(shop.folder, "import-bank", str(DATA / CAMT_A), "--date", "2026-12-16")
    assert first.returncode == 0, first.stderr
    before = (payments(shop), unmatched(shop))
    second = ispsheets(shop.folder, "import-bank", str(DATA / CAMT_A), "--date", "2026-12-16")
    assert second.returncode == 0, second.stderr
    assert "8 bank lines imported before" in second.stdout
    assert (payments(shop), unmatched(shop)) == before


def test_the_same_statement_as_csv_then_camt_adds_nothing_the_second_time(shop: Business
                                                                           ) -> None:
    csv = ispsheets(shop.folder, "import-bank", str(DATA / CSV_A), "--date", "2026-12-16")
    assert csv.returncode == 0, csv.stderr
    assert payments(shop) == MONTH[:6]
    before = (payments(shop), unmatched(shop))
    camt = ispsheets(shop.folder, "import-bank", str(DATA / CAMT_A), "--date", "2026-12-16")
    assert camt.returncode == 0, camt.stderr
    assert "8 bank lines imported before" in camt.stdout
    assert (payments(shop), unmatched(shop)) == before


def test_an_unreadable_file_in_the_inbox_stays_there_and_the_run_says_why(shop: Business
                                                                            ) -> None:
    drop(shop, CAMT_A)
    (shop.folder / "bank" / "inbox" / "notes.html").write_text("<html>login</html>")
    report = shop.run(dt.date(2026, 12, 16))
    assert report.exit_code == 1
    assert [str(p) for p in report.problems] == [
        "notes.html: not a bank statement this tool reads — export CAMT.053 (XML), MT940, "
        "OFX/QFX or CSV from your bank"]
    assert (shop.folder / "bank" / "inbox" / "notes.html").exists()
    assert len(payments(shop)) == 6


def test_a_kill_during_import_loses_nothing_and_imports_nothing_twice(shop: Business,
                                                                       tmp_path_factory
                                                                       ) -> None:
    whole = Business.create(tmp_path_factory.mktemp("whole"), _rows(), CONFIG)
    whole.run(dt.date(2026, 11, 30))
    drop(whole, CAMT_A)
    drop(whole, MT940_B)
    whole.run(dt.date(2026, 12, 23))

    drop(shop, CAMT_A)
    drop(shop, MT940_B)
    # statement A's 8 credits are recorded; killed at the 2nd new line of statement B
    killed = ispsheets(shop.folder, "run", "--date", "2026-12-23",
                       kill_at="bank-line-recorded@10")
    assert killed.returncode == 137, killed.stderr
    inbox = shop.folder / "bank" / "inbox"
    assert not (inbox / CAMT_A).exists() and (inbox / MT940_B).exists()
    assert payments(shop) == []  # nothing reached the workbook
    again = shop.run(dt.date(2026, 12, 23))
    assert again.exit_code == 0, again.problems
    assert payments(shop) == payments(whole) == MONTH
    assert [(r["line_id"], r["name"]) for r in unmatched(shop)] == [
        (r["line_id"], r["name"]) for r in unmatched(whole)]
    assert sorted(p.name for p in (shop.folder / "bank" / "imported").iterdir()) == [
        CAMT_A, MT940_B]


def test_check_names_the_formats_waiting_in_the_inbox_and_what_it_cannot_read(
        shop: Business) -> None:
    for name in (CAMT_A, CSV_A, MT940_B, "december.ofx"):
        drop(shop, name)
    (shop.folder / "bank" / "inbox" / "login.html").write_text("<html></html>")
    result = ispsheets(shop.folder, "check")
    assert result.returncode == 1
    out = result.stdout
    assert "bank/inbox/december-a.camt053.xml: CAMT.053, 9 lines (8 credits)" in out
    assert "bank/inbox/december-a.csv: CSV, 9 lines (8 credits)" in out
    assert "bank/inbox/december-b.mt940: MT940, 7 lines (6 credits)" in out
    assert "bank/inbox/december.ofx: OFX/QFX, 4 lines (3 credits)" in out
    assert "login.html: not a bank statement this tool reads" in result.stderr
    assert len(payments(shop)) == 0  # check only reads


def test_check_finds_a_bank_reference_given_to_two_clients(tmp_path: Path) -> None:
    rows = _rows()
    rows["Clients"].append(row("Clients", client_id="ZED", name="Zed", email="z@x.example",
                               bank_reference="kd 7731"))
    business = Business.create(tmp_path, rows, CONFIG)
    result = ispsheets(business.folder, "check")
    assert "warning Clients!L4: bank_reference 'KD-7731' is also ZED's" in result.stderr
    assert "warning Clients!L10: bank_reference 'kd 7731' is also CAROL's" in result.stderr


def test_a_line_in_another_currency_is_never_matched_nor_recorded_when_assigned(
        shop: Business) -> None:
    path = shop.folder / "usd.csv"
    path.write_text("Buchungstag;Auftraggeber/Empfänger;IBAN;Verwendungszweck;Betrag;Währung\n"
                    "10.12.2026;Alice Anders;;INV-00001;49,99;USD\n", encoding="utf-8")
    result = ispsheets(shop.folder, "import-bank", str(path), "--date", "2026-12-16")
    assert result.returncode == 0, result.stderr
    [line] = unmatched(shop)
    assert (line["currency"], line["why"]) == ("USD", "in USD, but invoices are in EUR")
    shop.edit(ChangeSet(sets=(SetCell("BankUnmatched", str(line["line_id"]), "client_id",
                                      "ALICE"),)))
    report = shop.run(dt.date(2026, 12, 17))
    assert [str(p) for p in report.problems] == [
        "BankUnmatched!J2: BNK-00001 is in USD, invoices are in EUR — type the payment into "
        "Payments in your currency yourself, and clear this cell"]
    assert payments(shop) == []


def test_import_bank_names_a_missing_file_and_does_nothing(shop: Business) -> None:
    result = ispsheets(shop.folder, "import-bank", "nope.xml")
    assert result.returncode == 2
    assert "nope.xml: no such file — give the path of a statement your bank exported" \
        in result.stderr


def test_a_dry_run_shows_the_inbox_lines_and_moves_nothing(shop: Business) -> None:
    drop(shop, CAMT_A)
    report = shop.run(dt.date(2026, 12, 16), dry_run=True)
    assert [(c, d.split(" by ")[1].split(":")[0]) for w, c, d in report.plan
            if w == "bank payment"] == [
        ("ALICE", "invoice number"), ("BOB", "client id"), ("GINA", "client id"),
        ("CAROL", "bank reference"), ("DAVE", "invoice number"), ("ERIN", "amount")]
    assert len(report.unmatched) == 2
    assert (shop.folder / "bank" / "inbox" / CAMT_A).exists()
    assert payments(shop) == [] and unmatched(shop) == []


def test_import_bank_explains_itself(shop: Business) -> None:
    result = ispsheets(shop.folder, "import-bank", "--help")
    assert result.returncode == 0
    assert "CAMT.053 XML, MT940, OFX/QFX or CSV" in " ".join(result.stdout.split())


def _archived_story(folder: Path, months: int) -> Business:
    """December paid in full, runs to February 2: with `months` 1, December's invoices are in
    the archive; then a transfer from an unknown account quoting INV-00003 (CAROL's)."""
    from tests.test_archive import _set_months

    business = Business.create(folder, _rows(), CONFIG)
    _set_months(business, months)
    business.run(dt.date(2026, 11, 30))
    prices = {"HOME": "49.99", "PLUS": "79.00", "PRO": "59.00"}
    for client, package, _ in CLIENTS:
        business.pay(client, prices[package], dt.date(2026, 12, 2))
    for day in (dt.date(2026, 12, 2), dt.date(2027, 1, 1), dt.date(2027, 2, 1)):
        assert business.run(day).exit_code == 0
    inbox = business.folder / "bank" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "february.csv").write_bytes(
        "Buchungstag;Valuta;Auftraggeber/Empfänger;IBAN;Verwendungszweck;Betrag;Währung\n"
        "03.02.2027;03.02.2027;K. Clark-Meyer;DE33 1001 0010 0123 4567 89;Rechnung INV-00003 "
        "nochmal;12,34;EUR\n".encode("latin-1"))
    assert business.run(dt.date(2027, 2, 3)).exit_code == 0
    return business


def test_an_archived_invoice_number_still_names_its_client(tmp_path: Path) -> None:
    kept = _archived_story(tmp_path / "kept", 0)
    archived = _archived_story(tmp_path / "archived", 1)
    assert "INV-00003" not in {r["invoice_number"] for r in archived.sheet("Invoices")}
    assert ("2027-02-03", "CAROL", "12.34", "bank transfer", "INV-00003") in \
        [p[:5] for p in payments(archived)]
    assert not unmatched(archived)
    def february(business: Business) -> list[tuple[object, ...]]:
        return [p for p in payments(business) if p[0] >= "2027-02-03"]
    assert february(archived) == february(kept)  # (December's payments are in the archive)
    assert archived.clients() == kept.clients()
