"""The sign-in email: sent through the same mailer as invoices (SMTP, or the outbox)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from ispsheets.delivery.mailer import mailer_from_config
from ispsheets.delivery.messages import MessageError, Sender, compose
from ispsheets.portal.context import Portal
from ispsheets.portal.tokens import digest
from ispsheets.portal.view import ClientView

log = logging.getLogger("ispsheets.portal")


def send_signin_email(portal: Portal, email: str, clients: Sequence[ClientView]) -> bool:
    """One email to `email` with a one-time sign-in link for each account it is on file for."""
    config = portal.config
    base = config.portal.base_url
    accounts = []
    for client in clients:
        token = portal.store.new_signin_link(client.client_id, email,
                                             config.portal.signin_minutes)
        accounts.append({"client": client, "link": f"{base}/signin/{token}"})
        portal.store.record("signin_requested", client.client_id)
    sender = Sender.from_config(config)
    now = dt.datetime.now(config.tz)
    try:
        message = compose(
            "signin", {"company": portal.company, "client": clients[0], "accounts": accounts,
                       "minutes": config.portal.signin_minutes, "today": now.date(),
                       "currency": config.currency, "date_order": config.workbook.date_order},
            to=[email], key=f"signin/{digest(accounts[0]['link'])[:16]}",
            from_address=sender.from_address, from_name=sender.from_name,
            reply_to=sender.reply_to, templates_dir=sender.templates_dir,
            client_id=clients[0].client_id, date=now)
    except MessageError as exc:
        log.error("the sign-in email cannot be written: %s", exc)
        return False
    mailer = mailer_from_config(config)
    try:
        result = mailer.send(message)
    finally:
        mailer.close()
    if not result.sent:
        log.error("the sign-in email was not sent: %s %s", result.state, result.detail)
    return result.sent
