"""Paying by card and saving a card, through Stripe Checkout: the portal makes the session,
sends the browser there, and on the way back asks Stripe what happened (never the URL).

A payment confirmed on return is a `payment_made` event in the portal's store: the account
page shows it at once, the balance less it, until a run has pulled it into Payments (the
daily pull files it under the client by the session's metadata, exactly once by Stripe id).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ispsheets.money import format_money
from ispsheets.payments.stripe.api import Link, StripeApi, StripeFailure
from ispsheets.portal.context import Portal
from ispsheets.portal.tokens import new_token
from ispsheets.portal.view import ClientView, balance_after, payable

log = logging.getLogger("ispsheets.portal")


def _portal(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def stripe_api(portal: Portal) -> StripeApi | None:
    """Stripe for the portal's requests (one try less than a run: a browser is waiting)."""
    key = portal.config.stripe_key
    if not key:
        return None
    return StripeApi(key, portal.config.currency, portal.config.stripe.api_base, retries=1)


def pending(portal: Portal, client: ClientView) -> list[Decimal]:
    """Card payments made in the portal that the published view does not hold yet."""
    return [p.amount for p in portal.store.card_payments(client.client_id)
            if not portal.view.has_reference(client.client_id, p.reference)]


def owed_now(portal: Portal, client: ClientView) -> Decimal:
    return balance_after(client.balance, pending(portal, client))


def _base(portal: Portal, request: Request) -> str:
    return portal.config.portal.base_url or str(request.base_url).rstrip("/")


def _expired(portal: Portal, request: Request) -> Response:
    return portal.page(request, "message.html", status_code=403, title="Please try again",
                       text="This form had expired. Go back, reload the page and try again.")


def _stripe_down(portal: Portal, request: Request, failure: StripeFailure) -> Response:
    log.warning("Stripe: %s", failure.problem)
    return portal.page(request, "message.html", status_code=502,
                       title="Card payments are not available right now",
                       text="Our card processor did not answer. Nothing was charged; please "
                            "try again in a few minutes.")


async def _signed_in_form(request: Request
                          ) -> Response | tuple[Portal, ClientView, dict[str, str], StripeApi]:
    """A posted form of a signed-in client with card payments on, or the answer that ends the
    request (form expired, not signed in, no Stripe)."""
    portal = _portal(request)
    client = portal.signed_in(request)
    fields = await portal.form(request)
    if fields is None:
        return _expired(portal, request)
    if client is None:
        return RedirectResponse("/signin", status_code=303)
    api = stripe_api(portal)
    if api is None:
        return RedirectResponse("/", status_code=303)
    return portal, client, fields, api


async def pay(request: Request) -> Response:
    """The pay form: an amount checked against what the view says is owed, then Checkout."""
    started = await _signed_in_form(request)
    if isinstance(started, Response):
        return started
    portal, client, fields, api = started
    number = fields.get("invoice", "")
    invoice = portal.view.invoice(client.client_id, number) if number else None
    if number and (invoice is None or not invoice.is_open):
        return portal.page(request, "message.html", status_code=400, title="Payment not started",
                           text="That invoice is not open on your account.")
    owed = owed_now(portal, client)
    if invoice is not None:
        owed = min(owed, invoice.balance)
    amount = payable(fields.get("amount", ""), owed, portal.config.stripe.partial_minimum,
                     portal.config.currency)
    if isinstance(amount, str):
        return portal.page(request, "message.html", status_code=400,
                           title="Payment not started", text=amount)
    base = _base(portal, request)
    what = f"Invoice {invoice.number}" if invoice else f"Account {client.client_id}"
    try:
        link = await run_in_threadpool(
            api.payment_checkout, amount, client.client_id, invoice.number if invoice else "",
            f"{portal.company.name}: {what}", f"{base}/paid?session={{CHECKOUT_SESSION_ID}}",
            f"{base}/?done=pay_cancelled", client.emails[0] if client.emails else "")
    except StripeFailure as failure:
        return _stripe_down(portal, request, failure)
    portal.store.record("payment_started", client.client_id,
                        f"{format_money(amount, portal.config.currency)} {link.id}")
    return RedirectResponse(link.url, status_code=303)


async def _back_from_checkout(request: Request
                              ) -> Response | tuple[Portal, ClientView, StripeApi, str]:
    """The signed-in client coming back from Checkout with a plausible session id, or the
    answer that ends the request (not signed in; no Stripe or a bad id: 404 alike)."""
    portal = _portal(request)
    client = portal.signed_in(request)
    if client is None:
        return RedirectResponse("/signin", status_code=303)
    api = stripe_api(portal)
    session_id = request.query_params.get("session", "")
    if api is None or not session_id.startswith("cs_") or len(session_id) > 255:
        return await _not_yours(portal, request)
    return portal, client, api, session_id


async def paid(request: Request) -> Response:
    """Back from Checkout: the session as Stripe has it, the signed-in client's, paid."""
    back = await _back_from_checkout(request)
    if isinstance(back, Response):
        return back
    portal, client, api, session_id = back
    try:
        session = await run_in_threadpool(api.checkout, session_id)
    except StripeFailure as failure:
        return _stripe_down(portal, request, failure)
    if session is None or session.mode != "payment" or session.client_id != client.client_id:
        return await _not_yours(portal, request)
    if not session.paid:
        return RedirectResponse("/?done=pay_unfinished", status_code=303)
    if portal.store.record_payment(client.client_id, session.amount, session.payment_intent,
                                   session.id):
        log.info("card payment %s by %s", session.payment_intent, client.client_id)
    return RedirectResponse("/?done=paid", status_code=303)


async def card(request: Request) -> Response:
    """Add or replace the card: Checkout in setup mode for the client's Stripe customer."""
    started = await _signed_in_form(request)
    if isinstance(started, Response):
        return started
    portal, client, _, api = started
    base = _base(portal, request)
    try:
        link = await run_in_threadpool(_card_link, api, client, base)
    except StripeFailure as failure:
        return _stripe_down(portal, request, failure)
    portal.store.record("card_update_started", client.client_id, link.id)
    return RedirectResponse(link.url, status_code=303)


def _card_link(api: StripeApi, client: ClientView, base: str) -> Link:
    """The client's Stripe customer, found as a run finds it (by metadata.client_id) or made
    (the next run finds it the same way), and a setup session for it."""
    customer = api.find_customer(client.client_id)
    if customer is None:
        email = client.emails[0] if client.emails else ""
        customer = api.create_customer(client.client_id, client.name, email,
                                       f"ispsheets/portal_customer/{client.client_id}")
    return api.card_setup_link(customer.id, client.client_id,
                               f"{base}/card-saved?session={{CHECKOUT_SESSION_ID}}",
                               f"ispsheets/portal_card/{client.client_id}/{new_token()}",
                               cancel_url=f"{base}/?done=card_cancelled")


async def card_saved(request: Request) -> Response:
    """Back from the setup Checkout: the newest saved card becomes the customer's default."""
    back = await _back_from_checkout(request)
    if isinstance(back, Response):
        return back
    portal, client, api, session_id = back
    try:
        saved = await run_in_threadpool(_make_default, api, session_id, client.client_id)
    except StripeFailure as failure:
        return _stripe_down(portal, request, failure)
    if saved is None:
        return await _not_yours(portal, request)
    if not saved:
        return RedirectResponse("/?done=card_unfinished", status_code=303)
    portal.store.record("card_saved", client.client_id, session_id)
    return RedirectResponse("/?done=card_saved", status_code=303)


def _make_default(api: StripeApi, session_id: str, client_id: str) -> bool | None:
    """None: not this client's setup session; False: not finished; True: card made default."""
    session = api.checkout(session_id)
    if session is None or session.mode != "setup" or session.client_id != client_id \
            or not session.customer:
        return None
    if not session.complete:
        return False
    cards = api.saved_cards(session.customer)  # newest first: the one just saved
    if not cards:
        return False
    api.make_default(session.customer, cards[0].payment_method)
    return True


async def _not_yours(portal: Portal, request: Request) -> Response:
    """Another client's session, or none: the same answer as any page that is not there."""
    return portal.page(request, "message.html", status_code=404, title="Not found",
                       text="There is nothing here. Go back to your account.")
