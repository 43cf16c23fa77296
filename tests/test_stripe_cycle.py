"""Card payments through the real daily cycle, against the Stripe test server on 127.0.0.1:
pay links, partial payments, autopay with declines and retries, reconciliation exactly once."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal

import pytest

from ispsheets.book.changes import AppendRow, ChangeSet, SetCell
from tests.scenario import Business, row
from tests.stripe_fixtures import KEY, StripeTestServer, stripe_server, stripe_server_process

__all__ = ["stripe_server", "stripe_server_process"]

D = Decimal
NOV_30 = dt.date(2026, 11, 30)  # Dec invoices issued (billing day 1, one day before)
DEC_1 = dt.date(2026, 12, 1)


def _rows(*clients: str, autopay: tuple[str, ...] = ()) -> dict[str, list[tuple[object, ...]]]:
    return {
        "Packages": [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                         interval="monthly")],
        "Clients": [row("Clients", client_id=c, name=f"Client {c}",
                        email=f"{c.lower()}@x.example",
                        autopay="yes" if c in autopay else "no") for c in clients],
        "Services": [row("Services", service_id=f"S-{c}", client_id=c, package_id="HOME",
                         start_date=DEC_1) for c in clients],
    }


@pytest.fixture
def stripe_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("STRIPE_SECRET_KEY", KEY)
    return KEY


class CardBusiness(Business):
    """A Business whose runs happen at the Stripe test server's clock."""

    server: StripeTestServer

    def run(self, day, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.server.clock(dt.datetime.combine(day, dt.time(6, 15)))
        return super().run(day, *args, **kwargs)


def _business(tmp_path, server: StripeTestServer, *clients: str,
              autopay: tuple[str, ...] = (), extra: str = "") -> CardBusiness:
    business = CardBusiness.create(tmp_path, _rows(*clients, autopay=autopay),
                                   f"stripe: {{api_base: '{server.base}'{extra}}}\n")
    business.server = server
    return business


def _delete_payment(business: Business, reference: str) -> None:
    import openpyxl

    book = openpyxl.load_workbook(business.workbook)
    sheet = book["Payments"]
    header = [c.value for c in sheet[1]]
    column = header.index("reference")
    for number, cells in enumerate(sheet.iter_rows(min_row=2, values_only=True), start=2):
        if cells[column] == reference:
            sheet.delete_rows(number)
            break
    else:
        raise AssertionError(f"no Payments row {reference}")
    book.save(business.workbook)


def _card_rows(business: Business) -> list[dict[str, object]]:
    return [r for r in business.sheet("Payments") if r["method"] == "card"]


def test_no_key_leaves_the_run_as_it_was(tmp_path, stripe_server, monkeypatch):
    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    business = _business(tmp_path, stripe_server, "A", autopay=("A",))
    report = business.run(NOV_30)
    assert report.exit_code == 0
    assert business.invoices()["INV-00001"].pay_link == ""
    assert "Pay online" not in business.mails_to("A")[0].text
    assert stripe_server.customers() == []
    assert not business.activity("autopay_failed")


def test_pay_link_paid_in_full_marks_the_invoice_paid_once(tmp_path, stripe_server,
                                                           stripe_key):
    business = _business(tmp_path, stripe_server, "A")
    assert business.run(NOV_30).exit_code == 0
    invoice = business.invoices()["INV-00001"]
    assert invoice.pay_link.startswith(stripe_server.base + "/pay/plink_")
    [mail] = business.mails_to("A")
    assert f"Pay online: {invoice.pay_link}" in mail.text
    stripe_server.clock(dt.datetime(2026, 12, 2, 9))
    paid = stripe_server.pay_link(invoice.pay_link, "49.99")
    assert paid["payment_status"] == "paid"
    report = business.run(dt.date(2026, 12, 3))
    assert not [p for p in report.problems if "no row with" in str(p)]
    business.run(dt.date(2026, 12, 4))  # a second pull sees the same payment
    [card] = _card_rows(business)
    assert card["reference"] == paid["payment_intent"]
    assert D(str(card["amount"])) == D("49.99")
    assert str(card["date"]).startswith("2026-12-02")
    assert card["invoice_number"] == "INV-00001"
    assert card["applied_to"] == "INV-00001:49.99"  # written with the row, the day it came
    invoice = business.invoices()["INV-00001"]
    assert invoice.status == "paid"
    assert invoice.pay_link == ""  # nothing left to pay: the link is gone
    assert stripe_server.pay_link(paid_link := business.server.base + "/pay/" +
                                  paid["payment_link"], "1.00")["status"] == 400, paid_link
    receipts = [m for m in business.mails_to("A") if m.kind == "receipt"]
    assert len(receipts) == 1


def test_two_partial_payments_each_get_a_new_link_for_what_is_left(tmp_path, stripe_server,
                                                                   stripe_key):
    business = _business(tmp_path, stripe_server, "A")
    business.run(NOV_30)
    first = business.invoices()["INV-00001"].pay_link
    assert stripe_server.pay_link(first, "4.99")["status"] == 400  # below partial_minimum
    assert stripe_server.pay_link(first, "50.00")["status"] == 400  # above the balance
    stripe_server.pay_link(first, "20.00")
    business.run(dt.date(2026, 12, 2))
    invoice = business.invoices()["INV-00001"]
    assert (invoice.status, invoice.balance) == ("partial", D("29.99"))
    second = invoice.pay_link
    assert second and second != first
    assert stripe_server.pay_link(first, "29.99")["error"]["code"] == "payment_link_inactive"
    stripe_server.pay_link(second, "29.99")
    business.run(dt.date(2026, 12, 3))
    invoice = business.invoices()["INV-00001"]
    assert (invoice.status, invoice.balance) == ("paid", D("0"))
    assert sorted(D(str(r["amount"])) for r in _card_rows(business)) == [D("20.00"),
                                                                          D("29.99")]


def test_a_cash_payment_deactivates_the_link(tmp_path, stripe_server, stripe_key):
    business = _business(tmp_path, stripe_server, "A")
    business.run(NOV_30)
    link = business.invoices()["INV-00001"].pay_link
    business.pay("A", "49.99", dt.date(2026, 12, 2), method="cash")
    business.run(dt.date(2026, 12, 2))
    assert business.invoices()["INV-00001"].pay_link == ""
    assert stripe_server.pay_link(link, "49.99")["error"]["code"] == "payment_link_inactive"


def test_autopay_charges_on_issue_day_once_with_a_receipt(tmp_path, stripe_server,
                                                          stripe_key):
    business = _business(tmp_path, stripe_server, "A", autopay=("A",))
    business.run(dt.date(2026, 11, 29))  # the day before: a customer is not needed yet
    stripe_server.call("POST", "/v1/customers", name="Client A",
                       metadata={"client_id": "A"})
    [customer] = stripe_server.customers()
    stripe_server.add_card(customer["id"])
    report = business.run(NOV_30)
    assert report.exit_code == 0, report.problems
    assert len(stripe_server.customers()) == 1  # found by metadata, not made again
    assert business.clients()["A"].stripe_customer_id == customer["id"]
    [charged] = business.activity("autopay_charged")
    assert charged["invoice_number"] == "INV-00001"
    invoice = business.invoices()["INV-00001"]
    assert invoice.status == "paid"
    business.run(dt.date(2026, 12, 1))
    business.run(dt.date(2026, 12, 2))
    [card] = _card_rows(business)
    assert D(str(card["amount"])) == D("49.99")
    assert len(business.activity("autopay_charged")) == 1
    kinds = [m.kind for m in business.mails_to("A")]
    assert kinds.count("receipt") == 1 and kinds.count("invoice") == 1


def test_a_declined_card_is_told_and_tried_again_after_the_retry_days(tmp_path, stripe_server,
                                                                      stripe_key):
    business = _business(tmp_path, stripe_server, "A", autopay=("A",))
    stripe_server.call("POST", "/v1/customers", name="Client A",
                       metadata={"client_id": "A"})
    customer = stripe_server.customers()[0]["id"]
    stripe_server.add_card(customer, "4000000000009995")
    business.run(NOV_30)
    [failed] = business.activity("autopay_failed")
    assert "insufficient_funds" in str(failed["detail"])
    assert "next try 2026-12-03" in str(failed["detail"])
    [mail] = [m for m in business.mails_to("A") if m.kind == "autopay_failed"]
    assert "Update your card: " + stripe_server.base + "/c/pay/cs_test_" in mail.text
    assert "Pay online: " + stripe_server.base + "/pay/plink_" in mail.text
    business.run(dt.date(2026, 12, 1))
    business.run(dt.date(2026, 12, 2))
    assert len(business.activity("autopay_failed")) == 1  # no try before the retry day
    stripe_server.add_card(customer)  # the client saved a good card
    business.run(dt.date(2026, 12, 3))
    [charged] = business.activity("autopay_charged")
    assert charged["invoice_number"] == "INV-00001"
    assert business.invoices()["INV-00001"].status == "paid"


def test_requires_action_emails_a_link_to_confirm_and_never_retries(tmp_path, stripe_server,
                                                                   stripe_key):
    business = _business(tmp_path, stripe_server, "A", autopay=("A",))
    stripe_server.call("POST", "/v1/customers", name="Client A",
                       metadata={"client_id": "A"})
    stripe_server.add_card(stripe_server.customers()[0]["id"], "4000002500003155")
    business.run(NOV_30)
    for day in range(1, 12):
        business.run(dt.date(2026, 12, day))
    [failed] = business.activity("autopay_failed")
    assert "authentication_required" in str(failed["detail"])
    [mail] = [m for m in business.mails_to("A") if m.kind == "autopay_failed"]
    assert "confirm" in mail.text and "Pay online: " in mail.text


def test_an_autopay_client_without_a_card_is_told_once(tmp_path, stripe_server, stripe_key):
    business = _business(tmp_path, stripe_server, "A", autopay=("A",))
    business.run(NOV_30)
    business.run(DEC_1)
    mails = [m for m in business.mails_to("A") if m.kind == "card_needed"]
    assert len(mails) == 1
    assert stripe_server.base + "/c/pay/cs_test_" in mails[0].text
    assert len(stripe_server.customers()) == 1
    assert business.invoices()["INV-00001"].status == "open"


def test_customers_are_never_duplicated_across_runs(tmp_path, stripe_server, stripe_key):
    business = _business(tmp_path, stripe_server, "A", "B", autopay=("A", "B"))
    business.run(NOV_30)
    business.edit(ChangeSet(sets=(SetCell("Clients", "A", "stripe_customer_id", ""),
                                  SetCell("Clients", "B", "email", "bob@new.example"))))
    stripe_server.add_card(business.clients()["B"].stripe_customer_id)
    business.run(DEC_1)  # B is charged now: its customer is read, and kept in step
    customers = {c["metadata"]["client_id"]: c for c in stripe_server.customers()}
    assert sorted(customers) == ["A", "B"]
    assert customers["B"]["email"] == "bob@new.example"
    assert business.clients()["A"].stripe_customer_id == customers["A"]["id"]


def test_a_refund_reopens_the_invoice_and_a_deleted_row_comes_back(tmp_path, stripe_server,
                                                                  stripe_key):
    business = _business(tmp_path, stripe_server, "A")
    business.run(NOV_30)
    paid = stripe_server.pay_link(business.invoices()["INV-00001"].pay_link, "49.99")
    business.run(DEC_1)
    intent = stripe_server.call("GET", f"/v1/payment_intents/{paid['payment_intent']}")
    charge = intent["latest_charge"]["id"] if isinstance(intent["latest_charge"], dict) \
        else intent["latest_charge"]
    stripe_server.clock(dt.datetime(2026, 12, 2, 10))
    refund = stripe_server.call("POST", "/v1/refunds", charge=charge, amount=1999)
    business.run(dt.date(2026, 12, 2))
    rows = _card_rows(business)
    assert sorted(D(str(r["amount"])) for r in rows) == [D("-19.99"), D("49.99")]
    assert {r["reference"] for r in rows} == {paid["payment_intent"], refund["id"]}
    invoice = business.invoices()["INV-00001"]
    assert (invoice.status, invoice.balance) == ("partial", D("19.99"))
    assert invoice.pay_link  # a new link for what is open again
    _delete_payment(business, refund["id"])  # the owner deletes the refund row
    report = business.run(dt.date(2026, 12, 3))
    assert any("deleted from the Payments tab" in str(p) for p in report.problems)
    assert len(_card_rows(business)) == 2
    business.run(dt.date(2026, 12, 4))
    assert len(_card_rows(business)) == 2


def test_a_lost_dispute_is_a_negative_row(tmp_path, stripe_server, stripe_key):
    business = _business(tmp_path, stripe_server, "A")
    business.run(NOV_30)
    paid = stripe_server.pay_link(business.invoices()["INV-00001"].pay_link, "49.99")
    business.run(DEC_1)
    intent = stripe_server.call("GET", f"/v1/payment_intents/{paid['payment_intent']}")
    latest = intent["latest_charge"]
    dispute = stripe_server.dispute(latest["id"] if isinstance(latest, dict) else latest)
    business.run(dt.date(2026, 12, 2))
    rows = {r["reference"]: D(str(r["amount"])) for r in _card_rows(business)}
    assert rows[dispute["id"]] == D("-49.99")
    assert business.invoices()["INV-00001"].status == "open"


def test_stripe_down_for_a_run_exits_1_and_the_next_run_catches_up(tmp_path, stripe_server,
                                                                   stripe_key):
    business = _business(tmp_path, stripe_server, "A")
    stripe_server.fail(503, 50)
    report = business.run(NOV_30)
    assert report.exit_code == 1
    assert any("Stripe answered with an error" in str(p) for p in report.problems)
    assert business.invoices()["INV-00001"].total == D("49.99")  # invoiced, written
    assert [m.kind for m in business.mails_to("A")] == ["invoice"]  # and sent
    stripe_server.fail(503, 0)
    assert business.run(DEC_1).exit_code == 0
    assert business.invoices()["INV-00001"].pay_link


def test_a_payment_from_a_customer_who_is_no_client_is_reported(tmp_path, stripe_server,
                                                                 stripe_key):
    business = _business(tmp_path, stripe_server, "A")
    business.run(NOV_30)
    stranger = stripe_server.call("POST", "/v1/customers", name="Stranger")
    pm = stripe_server.add_card(stranger["id"])
    stripe_server.call("POST", "/v1/payment_intents", amount=1000, currency="usd",
                       customer=stranger["id"], payment_method=pm, confirm="true")
    report = business.run(DEC_1)
    assert report.exit_code == 1
    assert any("belongs to no client" in str(p) for p in report.problems)
    assert _card_rows(business) == []


def _check(business: Business, key: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STRIPE_SECRET_KEY": key, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "ispsheets", "check", "--config",
                           str(business.folder / "config.yaml")], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("key", "said"), [
    ("sk_1", "Stripe refused the secret key while checking the key"),
    ("pk_test_publishable", "does not hold a Stripe secret key"),
])
def test_check_says_in_one_line_what_is_wrong_with_the_key_and_never_prints_it(
        tmp_path, stripe_server, key, said):
    business = _business(tmp_path, stripe_server, "A")
    result = _check(business, key)
    assert result.returncode == 1
    [line] = [x for x in (result.stdout + result.stderr).splitlines()
              if "config.yaml: stripe" in x]
    assert said in line and "config.yaml: stripe" in line
    assert key not in result.stdout + result.stderr


def test_check_with_a_good_key_is_quiet_about_stripe(tmp_path, stripe_server):
    business = _business(tmp_path, stripe_server, "A")
    result = _check(business, KEY)
    assert result.returncode == 0, result.stdout
    assert "stripe" not in (result.stdout + result.stderr).lower()


def _summary(business: Business) -> dict[str, object]:
    import openpyxl

    [path] = sorted((business.folder / "reports").glob("*.xlsx"))[-1:]
    sheet = openpyxl.load_workbook(path)["Summary"]
    return {str(sheet.cell(r, 1).value): sheet.cell(r, 2).value
            for r in range(1, sheet.max_row + 1) if sheet.cell(r, 1).value}


def test_the_report_shows_fees_net_autopay_success_and_usable_cards(tmp_path, stripe_server,
                                                                    stripe_key):
    business = _business(tmp_path, stripe_server, "A", "B", "C", "D", autopay=("A", "B", "C"))
    for client, card in (("A", "4242424242424242"), ("B", "4000000000000002")):
        customer = stripe_server.call("POST", "/v1/customers", name=f"Client {client}",
                                      metadata={"client_id": client})
        stripe_server.add_card(customer["id"], card)
    business.run(NOV_30)  # A charged, B declined, C has no card
    stripe_server.clock(dt.datetime(2026, 12, 2, 9))
    stripe_server.pay_link(business.invoices()["INV-00004"].pay_link, "49.99")
    business.pay("C", "49.99", dt.date(2026, 12, 2), method="cash")
    business.run(dt.date(2026, 12, 2))
    summary = _summary(business)
    fees = D("1.75")  # Stripe's 2.9 % + 30 cents on D's 49.99 (A's charge was in November)
    assert D(str(summary["Stripe fees December 2026"])) == fees
    assert D(str(summary["Collected December 2026 by card"])) == D("49.99")  # D's link
    assert D(str(summary["Collected December 2026 by cash"])) == D("49.99")
    assert D(str(summary["Collected December 2026, net of Stripe fees"])) == \
        D(str(summary["Collected December 2026"])) - fees
    assert D(str(summary["Autopay success rate"])) == D("50.0")  # A yes, B no; C never tried
    assert D(str(summary["Autopay enrollment"])) == D("50.0")  # A and B have cards; C none


def test_status_shows_cards_and_failed_charges_with_their_next_try(tmp_path, stripe_server):
    os.environ["STRIPE_SECRET_KEY"] = KEY
    try:
        business = _business(tmp_path, stripe_server, "A", "B", autopay=("A", "B"))
        for client, card in (("A", "4242424242424242"), ("B", "4000000000009995")):
            customer = stripe_server.call("POST", "/v1/customers", name=f"Client {client}",
                                          metadata={"client_id": client})
            stripe_server.add_card(customer["id"], card)
        business.run(NOV_30)
    finally:
        del os.environ["STRIPE_SECRET_KEY"]
    env = {**os.environ, "STRIPE_SECRET_KEY": KEY, "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "ispsheets", "status", "--date",
                             "2026-12-03", "--config", str(business.folder / "config.yaml")],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    [planned] = [line for line in out.splitlines() if "autopay" in line]
    assert "INV-00002" in planned and "attempt 2" in planned  # the retry the run will make

    assert "Cards on file" in out and "visa 4242" in out and "2030-12" in out, out
    [failed] = [line for line in out.splitlines() if "INV-00002" in line and "declined" in line]
    assert "B" in failed and "2026-12-03" in failed
    from ispsheets.payments.stripe.status import card_status

    os.environ["STRIPE_SECRET_KEY"] = KEY
    try:
        assert card_status(business.config, dt.date(2030, 11, 30)).expiring == ()
        assert card_status(business.config, dt.date(2030, 12, 5)).expiring == ("A", "B")
    finally:
        del os.environ["STRIPE_SECRET_KEY"]


def test_a_balance_below_the_partial_minimum_can_still_be_paid_whole(tmp_path, stripe_server,
                                                                     stripe_key):
    business = _business(tmp_path, stripe_server, "A")
    business.run(NOV_30)
    business.pay("A", "46.00", dt.date(2026, 12, 2), method="check")
    business.run(dt.date(2026, 12, 2))
    invoice = business.invoices()["INV-00001"]
    assert invoice.balance == D("3.99")
    assert stripe_server.pay_link(invoice.pay_link, "3.99")["payment_status"] == "paid"


def test_the_owner_switching_autopay_is_logged_once(tmp_path, stripe_server, stripe_key):
    business = _business(tmp_path, stripe_server, "A", "B", autopay=("A",))
    business.run(dt.date(2026, 11, 28))
    business.edit(ChangeSet(sets=(SetCell("Clients", "A", "autopay", "no"),
                                  SetCell("Clients", "B", "autopay", "yes"))))
    business.run(dt.date(2026, 11, 29))
    business.run(NOV_30)
    switches = [(r["action"], r["client_id"], r["detail"]) for r in business.activity()
                if r["action"] in ("autopay_enabled", "autopay_disabled")]
    assert switches == [("autopay_disabled", "A", "by the owner (Clients.autopay)"),
                        ("autopay_enabled", "B", "by the owner (Clients.autopay)")]


def test_an_autopay_invoice_costs_two_requests_once_the_customer_is_known(
        tmp_path, stripe_server, stripe_key):
    business = _business(tmp_path, stripe_server, "A", "B", autopay=("A", "B"))
    for client in ("A", "B"):
        customer = stripe_server.call("POST", "/v1/customers", name=f"Client {client}",
                                      email=f"{client.lower()}@x.example",
                                      metadata={"client_id": client})
        stripe_server.add_card(customer["id"])
    business.run(NOV_30)
    report = business.run(dt.date(2026, 12, 31))  # January's invoices
    assert report.counts["autopay charged"] == 2
    pull = 3  # one page each of payments, refunds and disputes
    assert report.counts["stripe requests"] == pull + 2 * 2  # read the customer, charge


def test_a_dry_run_plans_the_charges_without_calling_stripe(tmp_path, stripe_server,
                                                            stripe_key):
    business = _business(tmp_path, stripe_server, "A", autopay=("A",))
    customer = stripe_server.call("POST", "/v1/customers", name="Client A",
                                  metadata={"client_id": "A"})
    stripe_server.add_card(customer["id"], "4000000000000002")
    business.run(NOV_30)  # attempt 1 declined
    before = stripe_server.call("GET", "/v1/payment_intents")["data"]
    report = business.run(dt.date(2026, 12, 3), dry_run=True)
    assert report.counts["stripe requests"] == 0
    assert ("autopay", "A", "INV-00001 $49.99 (attempt 2)") in report.plan
    assert stripe_server.call("GET", "/v1/payment_intents")["data"] == before


def test_the_invoice_pdf_carries_the_pay_link_and_its_qr_code(tmp_path, stripe_server,
                                                             stripe_key):
    from pypdf import PdfReader

    business = _business(tmp_path, stripe_server, "A")
    business.run(NOV_30)
    link = business.invoices()["INV-00001"].pay_link
    [pdf] = (business.folder / "invoices").glob("*.pdf")
    page = PdfReader(pdf).pages[0]
    uris = [a.get_object()["/A"]["/URI"] for a in page.get("/Annots", [])]
    assert uris.count(link) == 2  # the printed URL and the QR code both open the link
    assert link.removeprefix("http://") in page.extract_text().replace("\n", "")


def test_a_stripe_payment_the_owner_typed_in_is_not_added_again(tmp_path, stripe_server,
                                                                stripe_key):
    business = _business(tmp_path, stripe_server, "A")
    business.run(NOV_30)
    paid = stripe_server.pay_link(business.invoices()["INV-00001"].pay_link, "49.99")
    business.edit(ChangeSet(appends=(AppendRow("Payments", {
        "date": dt.date(2026, 12, 1), "client_id": "A", "amount": D("49.99"),
        "method": "card", "reference": paid["payment_intent"]}),)))
    business.run(DEC_1)
    business.run(dt.date(2026, 12, 2))
    assert [r["reference"] for r in _card_rows(business)] == [paid["payment_intent"]]
    assert business.clients()["A"].balance == 0


def test_pay_links_of_one_amount_share_a_price_one_request_a_link(tmp_path, stripe_server,
                                                                  stripe_key):
    business = _business(tmp_path, stripe_server, "A", "B", "C")
    report = business.run(NOV_30)
    assert report.counts["pay links made"] == 3
    pull = 3  # one page each of payments, refunds and disputes
    assert report.counts["stripe requests"] == pull + 1 + 3  # the Price once, three links
    links = stripe_server.call("GET", "/v1/payment_links", limit=100)["data"]
    assert len({link["line_items"]["data"][0]["price"] for link in links}) == 1
    assert sorted(link["metadata"]["invoice_number"] for link in links) == [
        "INV-00001", "INV-00002", "INV-00003"]
