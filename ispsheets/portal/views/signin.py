"""Signing in without a password: a one-time emailed link, or the account link in an email.

The answer to a sign-in request is the same whether or not the address is on file. A sign-in
link opens a page with a Continue button and is used by that button's POST, so a mail scanner
that fetches links never uses one up.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ispsheets.portal.context import SESSION_COOKIE, Portal
from ispsheets.portal.mail import send_signin_email
from ispsheets.portal.tokens import link_is_live, read_account_token

log = logging.getLogger("ispsheets.portal")


def _portal(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def _forbidden(portal: Portal, request: Request) -> Response:
    return portal.page(request, "message.html", status_code=403, title="Please try again",
                       text="This form had expired. Go back, reload the page and try again.")


def _start_session(portal: Portal, client_id: str, via: str) -> Response:
    token = portal.store.new_session(client_id, portal.config.portal.session_days, via)
    portal.store.record("signed_in", client_id, via)
    response = RedirectResponse("/", status_code=303)
    portal.set_cookie(response, SESSION_COOKIE, token, days=portal.config.portal.session_days)
    return response


async def form(request: Request) -> Response:
    portal = _portal(request)
    if portal.signed_in(request) is not None:
        return RedirectResponse("/", status_code=303)
    return portal.page(request, "signin.html", email="")


async def request_link(request: Request) -> Response:
    portal = _portal(request)
    fields = await portal.form(request)
    if fields is None:
        return _forbidden(portal, request)
    email = fields.get("email", "").strip()
    settings = portal.config.portal
    ip = request.client.host if request.client else "-"
    if not portal.store.allow("ip", ip, settings.signin_per_ip_per_hour):
        log.warning("sign-in requests from %s over the hourly limit", ip)
        return portal.page(request, "message.html", status_code=429, title="Too many requests",
                           text="Too many sign-in requests came from your network. "
                                "Please wait an hour and try again.")
    if "@" in email and len(email) <= 254:
        if portal.store.allow("email", email.lower(), settings.signin_per_hour):
            clients = portal.view.clients_with_email(email)
            if clients:
                send_signin_email(portal, email, clients)
        else:
            log.warning("sign-in requests for one address over the hourly limit")
    return portal.page(request, "signin_sent.html", email=email,
                       minutes=settings.signin_minutes)


async def confirm(request: Request) -> Response:
    """The page a sign-in link opens: Continue signs in (the link is not used up yet)."""
    portal = _portal(request)
    token = request.path_params["token"]
    client_id = portal.store.signin_link_client(token)
    client = portal.view.client(client_id) if client_id else None
    if client is None:
        return portal.page(request, "message.html", status_code=410,
                           title="This sign-in link cannot be used",
                           text="It was used already or has expired. Ask for a new one below.",
                           signin_again=True)
    return portal.page(request, "signin_confirm.html", token=token, client=client)


async def use_link(request: Request) -> Response:
    portal = _portal(request)
    fields = await portal.form(request)
    if fields is None:
        return _forbidden(portal, request)
    client_id = portal.store.use_signin_link(fields.get("token", ""))
    if client_id is None or portal.view.client(client_id) is None:
        return portal.page(request, "message.html", status_code=410,
                           title="This sign-in link cannot be used",
                           text="It was used already or has expired. Ask for a new one below.",
                           signin_again=True)
    return _start_session(portal, client_id, "email sign-in link")


async def account_link(request: Request) -> Response:
    """The signed link in an invoice, reminder or suspension email."""
    portal = _portal(request)
    found = read_account_token(portal.secret, request.path_params["token"])
    if found is not None:
        client_id, number = found
        invoice = portal.view.invoice(client_id, number)
        if link_is_live(invoice, portal.today(), portal.config.portal.link_grace_days):
            return _start_session(portal, client_id, f"link in the email for {number}")
    return portal.page(request, "message.html", status_code=410,
                       title="This link has expired",
                       text="Links in our emails work until the invoice is paid, and a while "
                            "after. Ask for a sign-in link below.", signin_again=True)


async def sign_out(request: Request) -> Response:
    portal = _portal(request)
    fields = await portal.form(request)
    if fields is None:
        return _forbidden(portal, request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        client_id = portal.store.session_client(token)
        portal.store.end_session(token)
        if client_id:
            portal.store.record("signed_out", client_id)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
