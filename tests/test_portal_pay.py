"""Paying and saving a card from the portal, over real HTTP, against the Stripe test server:
Checkout in payment and setup mode, the return verified with Stripe, the next run's Payments
row exactly once."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from ispsheets.portal.store import Store
from ispsheets.portal.view import balance_after, payable
from tests.portal_server import SECRET, csrf_of, free_socket, serving, sign_in
from tests.scenario import Business, row
from tests.stripe_fixtures import KEY, StripeTestServer, stripe_server, stripe_server_process

__all__ = ["stripe_server", "stripe_server_process"]

D = Decimal
NOV_30 = dt.date(2026, 11, 30)
DEC_2 = dt.date(2026, 12, 2)


# -- the money rules, alone ------------------------------------------------------------------

def test_balance_after_takes_off_each_pending_payment():
    assert balance_after(D("49.99"), []) == D("49.99")
    assert balance_after(D("49.99"), [D("20.00"), D("9.99")]) == D("20.00")
    assert balance_after(D("10.00"), [D("15.00")]) == D("-5.00")


@pytest.mark.parametrize(("text", "owed", "expected"), [
    ("20.00", "49.99", D("20.00")),
    ("$49.99", "49.99", D("49.99")),
    ("5", "49.99", D("5")),
    ("4.99", "49.99", "smallest amount you can pay online is $5.00"),
    ("50.00", "49.99", "at most $49.99"),
    ("20.001", "49.99", "as a number"),
    ("abc", "49.99", "as a number"),
    ("NaN", "49.99", "as a number"),
    ("-5", "49.99", "smallest amount"),
    ("3.00", "3.00", D("3.00")),  # less than the minimum is owed: all of it may be paid
    ("2.00", "3.00", "smallest amount you can pay online is $3.00"),
    ("1.00", "0.00", "nothing to pay"),
])
def test_payable_amounts(text, owed, expected):
    found = payable(text, D(owed), D("5.00"), "USD")
    if isinstance(expected, Decimal):
        assert found == expected
    else:
        assert isinstance(found, str) and expected in found, found


# -- through the portal and Stripe -----------------------------------------------------------

class CardBusiness(Business):
    """Runs happen at the Stripe test server's clock."""

    server: StripeTestServer

    def run(self, day, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.server.clock(dt.datetime.combine(day, dt.time(6, 15)))
        return super().run(day, *args, **kwargs)


@pytest.fixture
def portal(tmp_path, stripe_server, monkeypatch):
    """ANN and BOB billed $49.99 on Nov 30, the portal serving them, cards on (Stripe)."""
    monkeypatch.setenv("STRIPE_SECRET_KEY", KEY)
    sock = free_socket()
    clients = ("ANN", "BOB")
    rows = {
        "Packages": [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                         interval="monthly")],
        "Clients": [row("Clients", client_id=c, name=f"Client {c}",
                        email=f"{c.lower()}@x.example") for c in clients],
        "Services": [row("Services", service_id=f"S-{c}", client_id=c, package_id="HOME",
                         start_date=dt.date(2026, 12, 1)) for c in clients],
    }
    business = CardBusiness.create(tmp_path, rows, config=f"""
        portal: {{base_url: "http://127.0.0.1:{sock.getsockname()[1]}"}}
        stripe: {{api_base: "{stripe_server.base}"}}
        """)
    business.server = stripe_server
    (tmp_path / ".env").write_text(f"ISPSHEETS_PORTAL_SECRET={SECRET}\n")
    assert business.run(NOV_30).exit_code == 0
    stripe_server.clock(dt.datetime(2026, 12, 2, 9))
    with serving(business.config, sock) as base:
        yield business, base


def _start_payment(session, base: str, amount: str, invoice: str = ""):  # type: ignore[no-untyped-def]
    page = session.get(f"{base}/")
    return session.post(f"{base}/pay", data={"amount": amount, "invoice": invoice,
                                             "csrf": csrf_of(page.text)},
                        allow_redirects=False)


def _balance(html: str) -> str:
    found = re.search(r'id="balance">([^<]+)<', html)
    assert found, html
    return found.group(1)


def test_part_of_an_invoice_paid_in_the_portal_shows_at_once_and_is_written_once(portal):
    business, base = portal
    stripe_server = business.server
    session = sign_in(base, "bob@x.example", business.folder / "outbox")
    page = session.get(f"{base}/").text
    assert 'action="/pay"' in page and _balance(page) == "$49.99"
    started = _start_payment(session, base, "20.00", "INV-00002")
    assert started.status_code == 303
    checkout = started.headers["location"]
    assert checkout.startswith(stripe_server.base + "/c/pay/cs_test_")
    session_id = checkout.rsplit("/", 1)[1]
    sent = stripe_server.call("GET", f"/v1/checkout/sessions/{session_id}")
    assert sent["metadata"] == {"client_id": "BOB", "invoice_number": "INV-00002"}
    assert sent["payment_intent_data"]["metadata"] == sent["metadata"]
    assert sent["success_url"] == f"{base}/paid?session={{CHECKOUT_SESSION_ID}}"

    # before the client pays, the return page shows nothing paid
    early = session.get(f"{base}/paid", params={"session": session_id})
    assert "Payment received" not in early.text and _balance(early.text) == "$49.99"

    done = stripe_server.complete_session(checkout)
    assert done["payment_status"] == "paid"
    back = session.get(f"{base}/paid", params={"session": session_id})
    assert back.status_code == 200
    assert "Payment received: $20.00, thank you" in back.text
    assert _balance(back.text) == "$29.99"
    session.get(f"{base}/paid", params={"session": session_id})  # a reload adds nothing
    assert _balance(session.get(f"{base}/").text) == "$29.99"
    events = Store(business.config.portal_folder).events(("payment_started", "payment_made"))
    assert [e.kind for e in events] == ["payment_started", "payment_made"]

    business.run(dt.date(2026, 12, 3))
    business.run(dt.date(2026, 12, 4))  # a second pull sees the same payment
    cards = [r for r in business.sheet("Payments") if r["method"] == "card"]
    assert len(cards) == 1
    [card] = cards
    assert card["client_id"] == "BOB" and D(str(card["amount"])) == D("20.00")
    assert card["reference"] == done["payment_intent"]
    assert card["invoice_number"] == "INV-00002"
    invoice = business.invoices()["INV-00002"]
    assert invoice.status == "partial" and invoice.balance == D("29.99")
    after = session.get(f"{base}/").text  # the view has it now: not taken off twice
    assert _balance(after) == "$29.99" and "Less your card payment" not in after
    assert "$20.00" in after  # in the payments list


def test_amounts_outside_the_minimum_and_the_balance_are_refused(portal):
    business, base = portal
    session = sign_in(base, "bob@x.example", business.folder / "outbox")
    low = _start_payment(session, base, "4.99")
    high = _start_payment(session, base, "49.991")
    over = _start_payment(session, base, "50.00")
    assert low.status_code == high.status_code == over.status_code == 400
    assert "smallest amount you can pay online is $5.00" in low.text
    assert "at most $49.99" in over.text
    other = _start_payment(session, base, "10.00", "INV-00001")  # ANN's invoice
    assert other.status_code == 400
    store = Store(business.config.portal_folder)
    assert not store.events(("payment_started",))  # no Checkout was made
    # a payment already made counts: the rest is the most that can be paid
    paid = _start_payment(session, base, "40.00")
    business.server.complete_session(paid.headers["location"])
    session.get(f"{base}/paid", params={"session": paid.headers["location"].rsplit("/", 1)[1]})
    again = _start_payment(session, base, "10.00")
    assert again.status_code == 400 and "at most $9.99" in again.text


def test_another_clients_session_on_the_return_page_is_refused(portal):
    business, base = portal
    ann = sign_in(base, "ann@x.example", business.folder / "outbox")
    started = _start_payment(ann, base, "49.99")
    business.server.complete_session(started.headers["location"])
    session_id = started.headers["location"].rsplit("/", 1)[1]
    bob = sign_in(base, "bob@x.example", business.folder / "outbox")
    stolen = bob.get(f"{base}/paid", params={"session": session_id})
    assert stolen.status_code == 404 and "Payment received" not in stolen.text
    assert bob.get(f"{base}/paid", params={"session": "cs_test_nothing"}).status_code == 404
    assert _balance(bob.get(f"{base}/").text) == "$49.99"
    assert not Store(business.config.portal_folder).card_payments("BOB")
    assert "Payment received: $49.99" in ann.get(f"{base}/paid",
                                                 params={"session": session_id}).text


def test_a_card_saved_in_setup_mode_becomes_the_customers_default(portal):
    business, base = portal
    stripe_server = business.server
    session = sign_in(base, "bob@x.example", business.folder / "outbox")
    page = session.get(f"{base}/")
    started = session.post(f"{base}/card", data={"csrf": csrf_of(page.text)},
                           allow_redirects=False)
    assert started.status_code == 303
    checkout = started.headers["location"]
    session_id = checkout.rsplit("/", 1)[1]
    [customer] = stripe_server.customers()
    assert customer["metadata"] == {"client_id": "BOB"}
    sent = stripe_server.call("GET", f"/v1/checkout/sessions/{session_id}")
    assert sent["mode"] == "setup" and sent["customer"] == customer["id"]
    stripe_server.complete_session(checkout)
    back = session.get(f"{base}/card-saved", params={"session": session_id})
    assert back.status_code == 200 and "Card saved" in back.text
    customer = stripe_server.call("GET", f"/v1/customers/{customer['id']}")
    default = customer["invoice_settings"]["default_payment_method"]
    assert default and default.startswith("pm_")
    kinds = [e.kind for e in Store(business.config.portal_folder).events()]
    assert "card_update_started" in kinds and "card_saved" in kinds
    # ANN cannot use BOB's setup session
    ann = sign_in(base, "ann@x.example", business.folder / "outbox")
    assert ann.get(f"{base}/card-saved", params={"session": session_id}).status_code == 404


def test_forms_without_csrf_or_stripe_are_refused(portal, monkeypatch):
    business, base = portal
    session = sign_in(base, "bob@x.example", business.folder / "outbox")
    answer = session.post(f"{base}/pay", data={"amount": "20.00"}, allow_redirects=False)
    assert answer.status_code == 403
    answer = session.post(f"{base}/card", data={}, allow_redirects=False)
    assert answer.status_code == 403


def test_a_card_saved_and_autopay_turned_on_in_the_portal_is_charged_by_the_next_runs(portal):
    business, base = portal
    stripe_server = business.server
    session = sign_in(base, "bob@x.example", business.folder / "outbox")
    page = session.get(f"{base}/")
    started = session.post(f"{base}/card", data={"csrf": csrf_of(page.text)},
                           allow_redirects=False)
    stripe_server.complete_session(started.headers["location"])
    session.get(f"{base}/card-saved",
                params={"session": started.headers["location"].rsplit("/", 1)[1]})
    page = session.get(f"{base}/")
    session.post(f"{base}/autopay", data={"autopay": "on", "consent": "yes",
                                          "csrf": csrf_of(page.text)})
    business.run(dt.date(2026, 12, 3))  # the choice written, BOB's open invoice charged
    business.run(dt.date(2026, 12, 4))
    assert business.clients()["BOB"].autopay
    assert len(stripe_server.customers()) == 1  # the run found the portal's customer
    [card] = [r for r in business.sheet("Payments") if r["method"] == "card"]
    assert card["client_id"] == "BOB" and D(str(card["amount"])) == D("49.99")
    assert business.invoices()["INV-00002"].status == "paid"
    assert business.activity("autopay_charged")


def test_the_content_security_policy_lets_forms_go_on_to_checkout_only(portal):
    business, base = portal
    policy = __import__("requests").get(f"{base}/signin").headers["content-security-policy"]
    assert "script-src" not in policy and "default-src 'none'" in policy
    assert f"form-action 'self' https://checkout.stripe.com {business.server.base};" in policy


def test_a_payment_for_one_invoice_is_at_most_its_balance(portal):
    business, base = portal
    business.run(dt.date(2026, 12, 31))  # January's invoices: BOB owes two
    assert business.clients()["BOB"].balance == D("99.98")
    session = sign_in(base, "bob@x.example", business.folder / "outbox")
    page = session.get(f"{base}/").text
    assert '<option value="INV-00002">' in page and '<option value="INV-00004">' in page
    one = _start_payment(session, base, "60.00", "INV-00002")
    assert one.status_code == 400 and "at most $49.99" in one.text
    both = _start_payment(session, base, "60.00")
    assert both.status_code == 303
    sent = business.server.call("GET", "/v1/checkout/sessions/"
                                + both.headers["location"].rsplit("/", 1)[1])
    assert sent["metadata"] == {"client_id": "BOB"}  # for the balance: no invoice named


def test_with_the_portal_the_pay_link_is_the_portals_link_for_the_invoice(portal):
    business, base = portal
    invoice = business.invoices()["INV-00002"]
    assert invoice.pay_link.startswith(f"{base}/a/")
    [mail] = business.mails_to("BOB")
    assert f"Pay online: {invoice.pay_link}" in mail.text
    assert business.server.call("GET", "/v1/payment_links")["data"] == []  # none made
    opened = __import__("requests").Session().get(invoice.pay_link)  # signs BOB in
    assert opened.status_code == 200 and 'action="/pay"' in opened.text
    assert _balance(opened.text) == "$49.99" and "Client BOB" in opened.text


def test_a_stripe_that_fails_is_a_plain_page_and_nothing_is_recorded(portal):
    business, base = portal
    session = sign_in(base, "bob@x.example", business.folder / "outbox")
    page = session.get(f"{base}/")
    business.server.fail(500, count=10)
    answer = session.post(f"{base}/pay", data={"amount": "20.00", "csrf": csrf_of(page.text)},
                          allow_redirects=False)
    assert answer.status_code == 502 and "Nothing was charged" in answer.text
    assert "Traceback" not in answer.text
    back = session.get(f"{base}/paid", params={"session": "cs_test_x"})
    assert back.status_code == 502
    assert not Store(business.config.portal_folder).events(("payment_started", "payment_made"))
