"""The portal in a real browser: Debian's Chromium driven by Playwright against `ispsheets
portal` started as the owner starts it. Skipped where Chromium or Playwright is missing
(`.ci/run` installs both)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.portal_server import SECRET, free_socket, links_in_outbox
from tests.stripe_fixtures import stripe_server, stripe_server_process
from tests.test_portal import NOV_30, _business
from tests.test_portal_pay import portal

__all__ = ["portal", "stripe_server", "stripe_server_process"]

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium")]


def _start_portal(folder: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ISPSHEETS_PORTAL_SECRET": SECRET, "STRIPE_SECRET_KEY": "sk_test_x"}
    process = subprocess.Popen(
        [sys.executable, "-m", "ispsheets", "portal", "--port", str(port)], cwd=folder, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return process
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(process.communicate()[0].decode())


def _shots() -> Path | None:
    folder = os.environ.get("ISPSHEETS_SCREENSHOTS")
    return Path(folder) if folder else None


def test_a_client_signs_in_sees_the_balance_downloads_a_pdf_and_turns_on_autopay(
        tmp_path, monkeypatch):
    sync_api = pytest.importorskip("playwright.sync_api")
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    business = _business(tmp_path / "isp", port)
    business.run(NOV_30)
    business.run(dt.date(2026, 12, 2))
    shots = _shots()
    portal = _start_portal(business.folder, port)
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900},
                                    accept_downloads=True)
            page.goto(f"{base}/")
            assert page.url.endswith("/signin")
            page.fill("#email", "bob@x.example")
            page.click("text=Email me a sign-in link")
            assert page.locator("h1").inner_text() == "Check your email"

            [link] = links_in_outbox(business.folder / "outbox")
            page.goto(link)
            page.click("text=Continue to my account")
            assert page.locator("#balance").inner_text() == "$49.99"
            assert page.locator("text=Service active").is_visible()
            if shots:
                shots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shots / "portal-desktop.png"), full_page=True)

            with page.expect_download() as download:
                page.click("a[href='/invoices/INV-00002.pdf']")
            saved = tmp_path / "downloaded.pdf"
            download.value.save_as(saved)
            pdf = business.folder / "invoices" / "INV-00002.pdf"
            assert saved.read_bytes() == pdf.read_bytes()

            page.check("input[name=consent]")
            page.click("text=Turn autopay on")
            assert "Autopay is on" in page.locator(".notice").inner_text()

            phone = browser.new_page(viewport={"width": 375, "height": 812})
            phone.context.add_cookies(page.context.cookies())
            phone.goto(f"{base}/")
            assert phone.locator("#balance").inner_text() == "$49.99"
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"the page is {width} px wide on a 375 px phone"
            if shots:
                phone.screenshot(path=str(shots / "portal-phone.png"), full_page=True)
            browser.close()
    finally:
        portal.terminate()
        portal.wait(10)
    business.run(dt.date(2026, 12, 3))
    assert business.clients()["BOB"].autopay is True


def test_a_client_pays_part_of_an_invoice_through_checkout_in_the_browser(portal, tmp_path):
    """Pay part of an invoice: the form's redirect on to Checkout passes the CSP in a real
    browser; the test server's complete route stands for the client on Stripe's page."""
    sync_api = pytest.importorskip("playwright.sync_api")
    business, base = portal
    stripe = business.server
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 375, "height": 812})
        page.goto(f"{base}/signin")
        page.fill("#email", "bob@x.example")
        page.click("text=Email me a sign-in link")
        [link] = links_in_outbox(business.folder / "outbox")
        page.goto(link)
        page.click("text=Continue to my account")
        assert page.locator("#balance").inner_text() == "$49.99"
        page.fill("input[name=amount]", "20.00")
        page.click("button:has-text('Pay by card')")
        page.wait_for_url(f"{stripe.base}/c/pay/cs_test_*")
        session_id = page.url.rsplit("/", 1)[1]
        assert stripe.complete_session(page.url)["payment_status"] == "paid"
        page.goto(f"{base}/paid?session={session_id}")
        assert page.locator("#paid").inner_text().startswith("Payment received: $20.00")
        assert page.locator("#balance").inner_text() == "$29.99"
        shots = _shots()
        if shots:
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "portal-paid-phone.png"), full_page=True)
        browser.close()
    business.run(dt.date(2026, 12, 3))
    [card] = [r for r in business.sheet("Payments") if r["method"] == "card"]
    assert card["client_id"] == "BOB" and str(card["amount"]) in ("20", "20.0", "20.00")
    assert business.invoices()["INV-00002"].status == "partial"
