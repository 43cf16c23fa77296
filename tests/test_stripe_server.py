"""The Stripe test server answers as Stripe's API reference says, for what the tests rely on."""

from __future__ import annotations

import datetime as dt

import pytest
import stripe

from tests.stripe_fixtures import KEY, StripeTestServer, stripe_server, stripe_server_process

__all__ = ["stripe_server", "stripe_server_process"]


def _client(server: StripeTestServer) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": server.base}, max_network_retries=0)


def test_the_same_idempotency_key_and_parameters_replay_the_first_answer(stripe_server):
    client = _client(stripe_server)
    params = {"name": "Ann", "metadata": {"client_id": "A"}}
    first = client.v1.customers.create(params=params, options={"idempotency_key": "k"})  # type: ignore[arg-type]
    again = client.v1.customers.create(params=params, options={"idempotency_key": "k"})  # type: ignore[arg-type]
    assert first.id == again.id
    assert len(stripe_server.customers()) == 1
    with pytest.raises(stripe.IdempotencyError, match="same parameters"):
        client.v1.customers.create(params={"name": "Bob"}, options={"idempotency_key": "k"})


@pytest.mark.parametrize(("card", "code"), [
    ("4000000000000002", "card_declined"), ("4000000000009995", "insufficient_funds"),
    ("4000000000000069", "expired_card"), ("4000002500003155", "authentication_required")])
def test_test_cards_decline_off_session_with_stripe_s_codes(stripe_server, card, code):
    client = _client(stripe_server)
    customer = client.v1.customers.create(params={"name": "Ann"})
    pm = stripe_server.add_card(customer.id, card)
    with pytest.raises(stripe.CardError) as caught:
        client.v1.payment_intents.create(params={
            "amount": 4999, "currency": "usd", "customer": customer.id, "payment_method": pm,
            "off_session": True, "confirm": True})
    assert caught.value.http_status == 402
    assert caught.value.error is not None
    assert caught.value.error.type == "card_error"
    assert caught.value.error.decline_code == code
    assert caught.value.error.payment_intent is not None


def test_lists_filter_by_created_and_page_newest_first(stripe_server):
    client = _client(stripe_server)
    customer = client.v1.customers.create(params={"name": "Ann"})
    pm = stripe_server.add_card(customer.id)
    stripe_server.clock(dt.datetime(2026, 12, 1, 12))
    old = client.v1.payment_intents.create(params={
        "amount": 100, "currency": "usd", "customer": customer.id, "payment_method": pm,
        "confirm": True})
    stripe_server.clock(dt.datetime(2026, 12, 5, 12))
    new = [client.v1.payment_intents.create(params={
        "amount": 100 + n, "currency": "usd", "customer": customer.id, "payment_method": pm,
        "confirm": True}).id for n in range(3)]
    since = int(dt.datetime(2026, 12, 3, tzinfo=__import__(
        "datetime").UTC).timestamp())
    page = client.v1.payment_intents.list(params={"created": {"gte": since}, "limit": 2})
    assert page.has_more and len(page.data) == 2
    seen = [i.id for i in page.auto_paging_iter()]
    assert sorted(seen) == sorted(new) and old.id not in seen


def test_a_payment_link_takes_an_amount_between_its_minimum_and_maximum(stripe_server):
    client = _client(stripe_server)
    price = client.v1.prices.create(params={
        "currency": "usd", "product_data": {"name": "INV-1"},
        "custom_unit_amount": {"enabled": True, "minimum": 500, "maximum": 4999,
                               "preset": 4999}})
    link = client.v1.payment_links.create(params={
        "line_items": [{"price": price.id, "quantity": 1}],
        "payment_intent_data": {"metadata": {"invoice_number": "INV-1"}}})
    assert stripe_server.pay_link(link.url, "4.99")["status"] == 400
    session = stripe_server.pay_link(link.url, "5.00")
    assert session["payment_status"] == "paid"
    intent = client.v1.payment_intents.retrieve(session["payment_intent"])
    assert intent.metadata["invoice_number"] == "INV-1"
    client.v1.payment_links.update(link.id, params={"active": False})
    assert stripe_server.pay_link(link.url, "5.00")["error"]["code"] == "payment_link_inactive"
