"""Webhook events: Stripe's signature checked, the money they report recorded by the next run,
once, however often the event and the pull report it."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from decimal import Decimal

import pytest

from ispsheets.journal import Journal
from ispsheets.payments.stripe.api import StripeFailure, webhook_movement
from ispsheets.payments.stripe.store import StripeStore
from tests.stripe_fixtures import stripe_server, stripe_server_process
from tests.test_stripe_cycle import NOV_30, _business, _card_rows, stripe_key

__all__ = ["stripe_key", "stripe_server", "stripe_server_process"]

SECRET = "whsec_test_ispsheets"


def _signed(event: dict[str, object], secret: str = SECRET) -> tuple[bytes, str]:
    """A payload and its `Stripe-Signature` header, as Stripe signs them."""
    payload = json.dumps(event).encode()
    stamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return payload, f"t={stamp},v1={mac}"


def _event(kind: str, obj: dict[str, object]) -> dict[str, object]:
    return {"id": "evt_1", "object": "event", "type": kind, "created": int(time.time()),
            "api_version": "2024-06-20", "livemode": False, "data": {"object": obj}}


def test_a_bad_signature_is_refused():
    payload, header = _signed(_event("payment_intent.succeeded", {"id": "pi_1"}), "whsec_other")
    with pytest.raises(StripeFailure, match="signature"):
        webhook_movement(payload, header, SECRET, "USD")


def test_other_events_move_no_money():
    payload, header = _signed(_event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert webhook_movement(payload, header, SECRET, "USD") is None


def test_a_payment_heard_by_webhook_and_pulled_too_is_one_row(tmp_path, stripe_server,
                                                              stripe_key):
    business = _business(tmp_path, stripe_server, "A")
    business.run(NOV_30)
    paid = stripe_server.pay_link(business.invoices()["INV-00001"].pay_link, "49.99")
    intent = stripe_server.call("GET", f"/v1/payment_intents/{paid['payment_intent']}")
    intent["latest_charge"] = intent["latest_charge"]["id"]
    payload, header = _signed(_event("payment_intent.succeeded", intent))
    movement = webhook_movement(payload, header, SECRET, "USD")
    assert movement is not None
    assert (movement.id, movement.amount, movement.invoice_number) == (
        paid["payment_intent"], Decimal("49.99"), "INV-00001")
    journal = Journal.open(business.config.journal_path)  # what the portal's server does
    StripeStore(journal).hear(movement)
    StripeStore(journal).hear(movement)  # Stripe sends an event again when unsure
    journal.close()
    stripe_server.fail(503, 50)  # Stripe cannot be listed: what the webhook heard counts
    assert business.run(dt.date(2026, 12, 1)).exit_code == 1
    [row] = _card_rows(business)
    assert row["reference"] == paid["payment_intent"]
    stripe_server.fail(503, 0)
    business.run(dt.date(2026, 12, 2))  # the pull lists the same payment: nothing new
    [row] = _card_rows(business)
    assert row["reference"] == paid["payment_intent"]
    assert business.invoices()["INV-00001"].status == "paid"
