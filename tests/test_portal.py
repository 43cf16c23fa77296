"""The client portal over real HTTP: signing in, what a client sees, and what nobody else can."""

from __future__ import annotations

import datetime as dt
import logging
import re
from decimal import Decimal

import pytest
import requests

from ispsheets.book.changes import ChangeSet, SetCell
from ispsheets.portal.store import Store
from ispsheets.portal.tokens import account_token, link_is_live
from ispsheets.portal.view import InvoiceView
from tests.portal_server import SECRET, csrf_of, free_socket, links_in_outbox, serving, sign_in
from tests.scenario import Business, row

D = Decimal
NOV_30 = dt.date(2026, 11, 30)


def _business(tmp_path, port: int, *, extra: str = "", names: dict[str, str] | None = None):
    names = names or {}
    clients = ("ANN", "BOB", "CAT")
    rows = {
        "Packages": [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                         interval="monthly")],
        "Clients": [row("Clients", client_id=c, name=names.get(c, f"Client {c}"),
                        email=f"{c.lower()}@x.example") for c in clients],
        "Services": [row("Services", service_id=f"S-{c}", client_id=c, package_id="HOME",
                         start_date=dt.date(2026, 12, 1)) for c in clients],
    }
    business = Business.create(tmp_path, rows, config=f"""
        portal: {{base_url: "http://127.0.0.1:{port}", signin_per_hour: 3}}
        {extra}
        """)
    (tmp_path / ".env").write_text(f"ISPSHEETS_PORTAL_SECRET={SECRET}\n")
    return business


@pytest.fixture
def portal(tmp_path):
    """Three clients billed on Nov 30 (ANN paid, BOB not), and the portal serving them."""
    sock = free_socket()
    business = _business(tmp_path, sock.getsockname()[1])
    business.run(NOV_30)
    business.pay("ANN", "49.99", dt.date(2026, 12, 2))
    business.run(dt.date(2026, 12, 2))
    with serving(business.config, sock) as base:
        yield business, base


def test_a_client_signs_in_with_the_emailed_link_and_sees_the_balance_the_workbook_shows(portal):
    business, base = portal
    session = sign_in(base, "bob@x.example", business.folder / "outbox")
    page = session.get(f"{base}/").text
    assert business.clients()["BOB"].balance == D("49.99")
    assert re.search(r'id="balance">\$49\.99<', page)
    assert "INV-00002" in page and "Open" in page
    assert "INV-00001" not in page  # ANN's


def test_a_paid_client_sees_the_payment_and_paid_invoice(portal):
    business, base = portal
    page = sign_in(base, "ann@x.example", business.folder / "outbox").get(f"{base}/").text
    assert re.search(r'id="balance">\$0\.00<', page)
    assert "all paid up" in page
    assert ">Paid<" in page and "INV-00001" in page and "$49.99" in page


def test_the_invoice_pdf_downloads_byte_for_byte(portal):
    business, base = portal
    session = sign_in(base, "bob@x.example", business.folder / "outbox")
    answer = session.get(f"{base}/invoices/INV-00002.pdf")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content == (business.folder / "invoices" / "INV-00002.pdf").read_bytes()


def test_another_clients_pdf_or_a_guessed_number_is_404_alike(portal):
    business, base = portal
    session = sign_in(base, "bob@x.example", business.folder / "outbox")
    theirs = session.get(f"{base}/invoices/INV-00001.pdf")
    nobodys = session.get(f"{base}/invoices/INV-99999.pdf")
    sneaky = session.get(f"{base}/invoices/..%2F..%2Fconfig.yaml.pdf")
    assert theirs.status_code == nobodys.status_code == sneaky.status_code == 404
    assert theirs.text == nobodys.text
    assert requests.get(f"{base}/invoices/INV-00002.pdf").status_code == 404  # not signed in


def test_the_answer_to_a_sign_in_request_is_the_same_for_an_unknown_address(portal):
    business, base = portal
    outbox = business.folder / "outbox"
    before = set(outbox.glob("signin_*.eml"))
    answers = []
    for address in ("bob@x.example", "nobody@x.example"):
        session = requests.Session()
        page = session.get(f"{base}/signin")
        answer = session.post(f"{base}/signin", data={"email": address,
                                                      "csrf": csrf_of(page.text)})
        answers.append((answer.status_code, answer.text.replace(address, "ADDRESS")))
    assert answers[0] == answers[1]
    new = set(outbox.glob("signin_*.eml")) - before
    assert len(new) == 1  # only bob's


def test_a_used_sign_in_link_is_refused(portal):
    business, base = portal
    sign_in(base, "bob@x.example", business.folder / "outbox")
    [link] = links_in_outbox(business.folder / "outbox")
    again = requests.Session()
    page = again.get(link)
    assert page.status_code == 410 and "used already or has expired" in page.text
    token = link.rsplit("/", 1)[1]
    form = again.get(f"{base}/signin").text
    post = again.post(f"{base}/signin/confirm", data={"token": token, "csrf": csrf_of(form)})
    assert post.status_code == 410 and "Sign out" not in post.text


def test_an_expired_sign_in_link_is_refused(portal):
    business, base = portal
    store = Store(business.config.portal_folder)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=31)
    token = store.new_signin_link("BOB", "bob@x.example", 30, now=old)
    assert requests.get(f"{base}/signin/{token}").status_code == 410
    fresh = store.new_signin_link("BOB", "bob@x.example", 30)
    assert requests.get(f"{base}/signin/{fresh}").status_code == 200


def test_sign_in_emails_are_limited_per_address(portal):
    business, base = portal
    outbox = business.folder / "outbox"
    for _ in range(5):
        session = requests.Session()
        page = session.get(f"{base}/signin")
        answer = session.post(f"{base}/signin", data={"email": "BOB@x.example",
                                                      "csrf": csrf_of(page.text)})
        assert answer.status_code == 200
    assert len(list(outbox.glob("signin_*.eml"))) == 3  # signin_per_hour: 3


def test_sign_in_requests_are_limited_per_network_address(tmp_path):
    sock = free_socket()
    business = _business(tmp_path, sock.getsockname()[1], extra="")
    business.config = business.config.model_copy(update={"portal": business.config.portal
                                                         .model_copy(update={
                                                             "signin_per_ip_per_hour": 2})})
    business.run(NOV_30)
    with serving(business.config, sock) as base:
        codes = []
        for n in range(3):
            session = requests.Session()
            page = session.get(f"{base}/signin")
            codes.append(session.post(f"{base}/signin", data={
                "email": f"x{n}@x.example", "csrf": csrf_of(page.text)}).status_code)
    assert codes == [200, 200, 429]


def test_a_form_posted_without_its_csrf_field_is_refused(portal):
    business, base = portal
    session = sign_in(base, "bob@x.example", business.folder / "outbox")
    for path, data in (("/signout", {}), ("/autopay", {"autopay": "on", "consent": "yes"}),
                       ("/signin", {"email": "bob@x.example"})):
        assert session.post(f"{base}{path}", data=data).status_code == 403
        assert session.post(f"{base}{path}", data={**data, "csrf": "forged"}).status_code == 403
    assert "Sign out" in session.get(f"{base}/").text  # still signed in


def test_cookies_are_http_only_and_same_site_lax(portal):
    business, base = portal
    session = requests.Session()
    page = session.get(f"{base}/signin")
    assert "HttpOnly" in page.headers["set-cookie"]
    assert "SameSite=lax" in page.headers["set-cookie"]
    assert "Secure" not in page.headers["set-cookie"]  # base_url is http here
    session.post(f"{base}/signin", data={"email": "bob@x.example", "csrf": csrf_of(page.text)})
    [link] = links_in_outbox(business.folder / "outbox")
    confirm = session.get(link)
    token = link.rsplit("/", 1)[1]
    done = session.post(f"{base}/signin/confirm", data={"token": token,
                                                        "csrf": csrf_of(confirm.text)},
                        allow_redirects=False)
    cookie = done.headers["set-cookie"]
    assert cookie.startswith("ispsheets_session=") and "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


def test_cookies_are_secure_when_clients_come_over_https(tmp_path):
    sock = free_socket()
    business = _business(tmp_path, 1)
    config = business.config.model_copy(update={"portal": business.config.portal.model_copy(
        update={"base_url": "https://pay.example.com"})})
    with serving(config, sock) as base:
        answer = requests.get(f"{base}/signin")
    assert "Secure" in answer.headers["set-cookie"]
    assert answer.headers["strict-transport-security"].startswith("max-age=")


def test_every_page_carries_the_security_headers(portal):
    _, base = portal
    for path in ("/signin", "/", "/nothing-here", "/portal.css"):
        headers = requests.get(f"{base}{path}").headers
        csp = headers["content-security-policy"]
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert "script-src" not in csp  # default-src 'none': no script at all
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"


def test_a_client_named_like_a_script_is_shown_as_text(tmp_path):
    sock = free_socket()
    business = _business(tmp_path, sock.getsockname()[1],
                         names={"BOB": "<script>alert('x')</script>"})
    business.run(NOV_30)
    with serving(business.config, sock) as base:
        page = sign_in(base, "bob@x.example", business.folder / "outbox").get(f"{base}/").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page


def test_the_access_log_shows_no_link_token(portal, caplog):
    business, base = portal
    caplog.set_level(logging.INFO, logger="ispsheets.portal")
    logging.getLogger("ispsheets.portal").propagate = True
    try:
        sign_in(base, "bob@x.example", business.folder / "outbox")
        [link] = links_in_outbox(business.folder / "outbox")
    finally:
        logging.getLogger("ispsheets.portal").propagate = False
    token = link.rsplit("/", 1)[1]
    lines = [r.getMessage() for r in caplog.records if r.name == "ispsheets.portal"]
    assert any("GET /signin/…" in line for line in lines)
    assert not any(token in line for line in lines)


def test_the_invoice_email_carries_a_link_that_opens_that_clients_account(portal):
    business, _base = portal
    [mail] = [m for m in business.mails_to("BOB") if m.kind == "invoice"]
    [link] = [u for u in re.findall(r"https?://\S+", mail.text) if "/a/" in u]
    session = requests.Session()
    page = session.get(link)
    assert page.status_code == 200 and "Client BOB" in page.text and "INV-00002" in page.text
    forged = link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb")
    assert requests.get(forged).status_code == 410


def test_an_email_link_for_another_clients_invoice_is_refused(portal):
    _, base = portal
    token = account_token(SECRET, "BOB", "INV-00001")  # ANN's invoice, BOB's name
    assert requests.get(f"{base}/a/{token}").status_code == 410


def _invoice(status: str, paid_on: dt.date | None) -> InvoiceView:
    return InvoiceView("INV-1", "C", dt.date(2026, 12, 1), dt.date(2026, 12, 16), None, None,
                       D("10"), D("10") if status == "paid" else D("0"),
                       D("0") if status == "paid" else D("10"), status, paid_on, "INV-1.pdf")


def test_an_email_link_lives_until_30_days_after_the_invoice_was_paid():
    paid = _invoice("paid", dt.date(2026, 12, 10))
    assert link_is_live(paid, dt.date(2027, 1, 9), 30)
    assert not link_is_live(paid, dt.date(2027, 1, 10), 30)
    assert link_is_live(_invoice("open", None), dt.date(2030, 1, 1), 30)
    assert not link_is_live(_invoice("void", None), dt.date(2026, 12, 2), 30)
    assert not link_is_live(None, dt.date(2026, 12, 2), 30)


def test_a_suspended_client_sees_why_and_what_reconnects_them(tmp_path):
    sock = free_socket()
    business = _business(tmp_path, sock.getsockname()[1])
    business.run_days(NOV_30, dt.date(2027, 1, 6))  # BOB never pays: suspended Jan 5
    assert business.clients()["BOB"].status == "suspended"
    with serving(business.config, sock) as base:
        page = sign_in(base, "bob@x.example", business.folder / "outbox").get(f"{base}/").text
    assert "Service suspended since Jan 5, 2027" in page
    assert "To be reconnected, pay <strong>$49.99</strong>" in page  # only Dec's is 21+ days
    assert "reconnection fee of $10.00" in page


def test_the_portal_never_reads_the_workbook(portal):
    business, base = portal
    business.workbook.rename(business.folder / "elsewhere.xlsx")
    session = sign_in(base, "bob@x.example", business.folder / "outbox")
    assert re.search(r'id="balance">\$49\.99<', session.get(f"{base}/").text)


def test_autopay_chosen_in_the_portal_is_written_by_the_next_run_and_the_owner_has_the_last_word(
        portal, monkeypatch):
    business, base = portal
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_portal")
    session = sign_in(base, "bob@x.example", business.folder / "outbox")
    page = session.get(f"{base}/").text
    refused = session.post(f"{base}/autopay", data={"autopay": "on", "csrf": csrf_of(page)})
    assert "tick the box" in refused.text  # no consent, no change
    done = session.post(f"{base}/autopay", data={"autopay": "on", "consent": "yes",
                                                 "csrf": csrf_of(page)})
    assert "Autopay is on" in done.text and "Starts with the next run" in done.text
    assert business.clients()["BOB"].autopay is False  # the portal never writes the workbook

    business.run(dt.date(2026, 12, 3))
    assert business.clients()["BOB"].autopay is True
    [activity] = business.activity("autopay_enabled")
    assert activity["client_id"] == "BOB" and "by the client in the portal" in activity["detail"]

    business.edit(ChangeSet(sets=(SetCell("Clients", "BOB", "autopay", "no"),)))
    business.run(dt.date(2026, 12, 4))
    business.run(dt.date(2026, 12, 5))
    assert business.clients()["BOB"].autopay is False  # the owner's later edit wins
    assert len(business.activity("autopay_enabled")) == 1


def test_without_card_payments_the_portal_offers_no_autopay(portal, monkeypatch):
    business, base = portal
    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    session = sign_in(base, "bob@x.example", business.folder / "outbox")
    page = session.get(f"{base}/").text
    assert "Autopay" not in page
    session.post(f"{base}/autopay", data={"autopay": "on", "consent": "yes",
                                          "csrf": csrf_of(page)})
    assert not Store(business.config.portal_folder).events(("autopay_enabled",))


def test_status_lists_what_clients_did_in_the_portal(portal):
    import subprocess
    import sys

    business, base = portal
    sign_in(base, "bob@x.example", business.folder / "outbox")
    shown = subprocess.run([sys.executable, "-m", "ispsheets", "status", "--date", "2026-12-03"],
                           cwd=business.folder, capture_output=True, text=True, timeout=60)
    assert "Portal activity" in shown.stdout
    assert "BOB" in shown.stdout and "signed in (email sign-in link)" in shown.stdout


def test_a_paid_invoice_downloaded_later_shows_paid(portal):
    import io

    from pypdf import PdfReader

    business, base = portal
    session = sign_in(base, "ann@x.example", business.folder / "outbox")
    answer = session.get(f"{base}/invoices/INV-00001.pdf")
    assert answer.status_code == 200
    shown = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(answer.content)).pages)
    shown = re.sub(r"\s+", " ", shown)
    assert "PAID" in shown and "BALANCE DUE $0.00" in shown and "Paid in full" in shown
    emailed = " ".join(p.extract_text() for p in
                       PdfReader(business.folder / "invoices" / "INV-00001.pdf").pages)
    assert "PAID" not in emailed  # the copy sent while it was open stays as it was
