"""Secrets in links and cookies: random tokens stored only as digests, and signed account links.

A sign-in link carries a random token that the portal keeps as a SHA-256 digest, used once.
An account link in an email is signed (HMAC-SHA256 with the portal secret) over the client and
the invoice it was sent for; whether it still opens the portal is decided by that invoice's
state in the view (see `link_is_live`), so no expiry date needs to be printed into it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets

from ispsheets.portal.view import InvoiceView


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What is stored for a token: a leaked database opens no session."""
    return hashlib.sha256(token.encode()).hexdigest()


def _sign(secret: str, payload: bytes) -> str:
    mac = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:20]).decode().rstrip("=")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def account_token(secret: str, client_id: str, invoice_number: str) -> str:
    """`<payload>.<signature>` naming the client and the invoice an email was about."""
    payload = json.dumps([client_id, invoice_number], separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_sign(secret, b'account:' + payload)}"


def read_account_token(secret: str, token: str) -> tuple[str, str] | None:
    """(client_id, invoice_number) of a genuine token; None for anything else."""
    body, _, signature = token.partition(".")
    try:
        payload = _unb64(body)
    except (ValueError, TypeError):
        return None
    if not hmac.compare_digest(_sign(secret, b"account:" + payload), signature):
        return None
    try:
        client_id, number = json.loads(payload)
    except (ValueError, TypeError):
        return None
    return str(client_id), str(number)


def link_is_live(invoice: InvoiceView | None, today: dt.date, grace_days: int) -> bool:
    """An email's account link opens the portal while its invoice is unpaid, and for
    `grace_days` after it was settled; never for a void invoice or one no longer shown."""
    if invoice is None or invoice.status == "void":
        return False
    if invoice.status != "paid":
        return True
    settled = invoice.paid_on or invoice.due_date
    return today <= settled + dt.timedelta(days=grace_days)


def csrf_token(secret: str, cookie: str) -> str:
    """The form field that must come with the browser's CSRF cookie (signed double submit)."""
    return _sign(secret, b"csrf:" + cookie.encode())


def csrf_ok(secret: str, cookie: str | None, field: str | None) -> bool:
    if not cookie or not field:
        return False
    return hmac.compare_digest(csrf_token(secret, cookie), field)
