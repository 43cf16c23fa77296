"""Kill the real command (as `kill -9` would) at every card checkpoint, run it again: nobody is
charged twice, no customer or pay link is made twice, every card payment is one Payments row."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections import Counter
from decimal import Decimal

import pytest

from ispsheets.steps.cards import KILL_POINTS
from tests.scenario import Business, row
from tests.stripe_fixtures import KEY, StripeTestServer, stripe_server, stripe_server_process

__all__ = ["stripe_server", "stripe_server_process"]

D = Decimal
NOV_30 = dt.date(2026, 11, 30)


def _business(tmp_path, server: StripeTestServer) -> Business:
    rows = {
        "Packages": [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                         interval="monthly")],
        "Clients": [row("Clients", client_id=c, name=f"Client {c}",
                        email=f"{c.lower()}@x.example", autopay="yes" if c != "LINK" else "no")
                    for c in ("CARD", "NOCARD", "LINK")],
        "Services": [row("Services", service_id=f"S-{c}", client_id=c, package_id="HOME",
                         start_date=dt.date(2026, 12, 1)) for c in ("CARD", "NOCARD", "LINK")],
    }
    business = Business.create(tmp_path, rows, f"stripe: {{api_base: '{server.base}'}}\n")
    customer = server.call("POST", "/v1/customers", name="Client CARD",
                           metadata={"client_id": "CARD"})
    server.add_card(customer["id"])
    return business


def _run(business: Business, server: StripeTestServer, day: dt.date, kill: str = ""
         ) -> subprocess.CompletedProcess[str]:
    server.clock(dt.datetime.combine(day, dt.time(6, 15)))
    env = {**os.environ, "STRIPE_SECRET_KEY": KEY}
    if kill:
        env["ISPSHEETS_KILL_AT"] = kill
    return subprocess.run([sys.executable, "-m", "ispsheets", "run", "--date", day.isoformat(),
                           "--config", str(business.folder / "config.yaml")], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_run_killed_at_a_card_checkpoint_charges_and_records_once(tmp_path, stripe_server,
                                                                    point):
    business = _business(tmp_path, stripe_server)
    killed = _run(business, stripe_server, NOV_30, point)
    assert killed.returncode == 137, killed.stderr  # it really died there
    for day in (NOV_30, dt.date(2026, 12, 1), dt.date(2026, 12, 2)):
        done = _run(business, stripe_server, day)
        assert done.returncode == 0, done.stdout + done.stderr
        clients = business.clients()  # the charge counted once, in every run
        assert clients["CARD"].balance == 0, (day, clients["CARD"])
    intents = stripe_server.call("GET", "/v1/payment_intents", limit=100)["data"]
    assert [i["metadata"]["invoice_number"] for i in intents] == ["INV-00001"]  # charged once
    customers = Counter(c["metadata"].get("client_id") for c in stripe_server.customers())
    assert customers == {"CARD": 1, "NOCARD": 1}
    links = stripe_server.call("GET", "/v1/payment_links", limit=100)["data"]
    assert sorted(link["metadata"]["invoice_number"] for link in links) == ["INV-00002",
                                                                           "INV-00003"]
    cards = [r for r in business.sheet("Payments") if r["method"] == "card"]
    assert [(r["client_id"], r["reference"]) for r in cards] == [("CARD", intents[0]["id"])]
    invoices = business.invoices()
    assert invoices["INV-00001"].status == "paid"
    assert len(business.activity("autopay_charged")) == 1
    keys = [m.key for m in business.mails()]
    assert len(keys) == len(set(keys))
    assert Counter(k.split("/")[0] for k in keys)["card_needed"] == 1


@pytest.mark.slow
def test_a_declined_charge_killed_before_its_record_then_a_new_card_is_charged_once(
        tmp_path, stripe_server):
    business = _business(tmp_path, stripe_server)
    customer = stripe_server.customers()[0]["id"]
    stripe_server.add_card(customer, "4000000000000002")  # CARD's default now declines
    killed = _run(business, stripe_server, NOV_30, "card-charged")
    assert killed.returncode == 137, killed.stderr
    stripe_server.add_card(customer)  # the client puts in a good card before the next run
    again = _run(business, stripe_server, NOV_30)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "interrupted and the card changed" in again.stderr + again.stdout
    assert business.invoices()["INV-00001"].status == "open"  # not charged twice, nor lost
    for day in (dt.date(2026, 12, 1), dt.date(2026, 12, 2), dt.date(2026, 12, 3)):
        assert _run(business, stripe_server, day).returncode == 0
    intents = stripe_server.call("GET", "/v1/payment_intents", limit=100)["data"]
    assert sorted(i["status"] for i in intents) == ["requires_payment_method", "succeeded"]
    assert business.invoices()["INV-00001"].status == "paid"
    assert len(business.activity("autopay_charged")) == 1
    # charged on the retry day (3 days after Nov 30), as the server's clock of that run says
    # (an Activity timestamp is the wall clock of the run, whatever --date says)
    [succeeded] = [i for i in intents if i["status"] == "succeeded"]
    assert dt.datetime.fromtimestamp(succeeded["created"], dt.UTC).date() == dt.date(2026, 12, 3)
