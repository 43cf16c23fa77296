"""The account page (balance, status, invoices, payments, autopay) and the autopay choice."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ispsheets.portal.context import Portal
from ispsheets.portal.store import CHOICE_KINDS
from ispsheets.portal.view import ClientView, balance_after
from ispsheets.portal.views.pay import pending


def _portal(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def card_payments_on(portal: Portal) -> bool:
    """Cards are taken only when Stripe is configured (a secret key in the environment)."""
    stripe = portal.config.stripe
    return bool(portal.config.secret(stripe.secret_key_env))


def autopay_choice(portal: Portal, client: ClientView) -> tuple[bool, bool]:
    """(autopay on?, waiting for the next run?): the client's latest choice in the portal
    since the view was published, else what the workbook says."""
    published = portal.view.meta().get("published_at")
    since = dt.datetime.fromisoformat(published) if published else None
    events = portal.store.events(CHOICE_KINDS, since=since, client_id=client.client_id)
    if not events:
        return client.autopay, False
    on = events[-1].kind == "autopay_enabled"
    return on, on != client.autopay


async def home(request: Request) -> Response:
    portal = _portal(request)
    client = portal.signed_in(request)
    if client is None:
        return RedirectResponse("/signin", status_code=303)
    invoices = portal.view.invoices(client.client_id)
    autopay_on, autopay_pending = autopay_choice(portal, client)
    meta = portal.view.meta()
    flash = request.query_params.get("done", "")
    made = portal.store.card_payments(client.client_id) if flash == "paid" else []
    waiting = pending(portal, client)
    return portal.page(
        request, "account.html", client=client, invoices=invoices,
        open_invoices=[i for i in invoices if i.is_open],
        payments=portal.view.payments(client.client_id), autopay_on=autopay_on,
        autopay_pending=autopay_pending, cards=card_payments_on(portal),
        reconnection_fee=portal.config.collections.reconnection_fee,
        payment_instructions=portal.config.invoicing.payment_instructions,
        as_of=dt.date.fromisoformat(meta["run_date"]) if "run_date" in meta else None,
        flash=flash, paid_amount=made[-1].amount if made else None,
        pending=waiting, balance_now=balance_after(client.balance, waiting),
        partial_minimum=portal.config.stripe.partial_minimum)


async def autopay(request: Request) -> Response:
    """Turn autopay on (with consent) or off; the next run writes it to Clients.autopay."""
    portal = _portal(request)
    client = portal.signed_in(request)
    fields = await portal.form(request)
    if fields is None:
        return portal.page(request, "message.html", status_code=403, title="Please try again",
                           text="This form had expired. Go back, reload the page and try again.")
    if client is None:
        return RedirectResponse("/signin", status_code=303)
    if not card_payments_on(portal):
        return RedirectResponse("/", status_code=303)
    turn_on = fields.get("autopay") == "on"
    if turn_on and fields.get("consent") != "yes":
        return RedirectResponse("/?done=consent", status_code=303)
    current, _ = autopay_choice(portal, client)
    if turn_on != current:
        portal.store.record("autopay_enabled" if turn_on else "autopay_disabled",
                            client.client_id, "by the client in the portal")
    return RedirectResponse(f"/?done={'autopay_on' if turn_on else 'autopay_off'}",
                            status_code=303)


async def not_found(request: Request, exc: Exception) -> Response:
    portal = _portal(request)
    return portal.page(request, "message.html", status_code=404, title="Not found",
                       text="There is nothing here. Go back to your account.")
