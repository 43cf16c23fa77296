"""The portal as an ASGI app: a small routing table, one view module per page kind.

`create_app(config)` builds a fresh app (tests start one against a temporary folder); what the
pages show comes from the view the last run published (`view.py`) and the portal's own store
(`store.py`). The portal never opens the workbook.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ispsheets.config import Config
from ispsheets.portal.context import Portal
from ispsheets.portal.views import account, files, pay, signin

log = logging.getLogger("ispsheets.portal")

# Content-Security-Policy: no inline script or style, nothing from elsewhere, no framing.
# Forms post only here; the pay and card forms are redirected on to Stripe Checkout, which
# form-action must allow (browsers check the redirect's target too).
CHECKOUT = "https://checkout.stripe.com"
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'{checkout}; "
       "base-uri 'none'; frame-ancestors 'none'")


def csp(api_base: str = "") -> str:
    """The policy; `stripe.api_base` (a test server) is where its Checkout pages are too."""
    found = re.match(r"https?://[^/]+", api_base)
    extra = f" {found.group(0)}" if found else ""
    return CSP.format(checkout=f" {CHECKOUT}{extra}")

_SECRET_PATHS = re.compile(r"^/(signin|a)/[^/]+")


def logged_path(path: str) -> str:
    """The path as the access log shows it: link tokens replaced by `…`."""
    return _SECRET_PATHS.sub(lambda m: f"/{m.group(1)}/…", path)


class Guard:
    """Security headers on every answer, and one access-log line without secrets (a plain ASGI
    middleware: Starlette's BaseHTTPMiddleware costs a task and a queue per request)."""

    def __init__(self, app: ASGIApp, secure: bool, policy: str = "") -> None:
        self.app = app
        headers = [("content-security-policy", policy or csp()), ("x-frame-options", "DENY"),
                   ("x-content-type-options", "nosniff"), ("referrer-policy", "no-referrer")]
        if secure:
            headers.append(("strict-transport-security", "max-age=31536000"))
        self.headers = [(k.encode(), v.encode()) for k, v in headers]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [0]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = list(message.get("headers", []))
                if not any(k == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers + self.headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
        client = scope.get("client")
        log.info("%s %s %s %d %.1fms", client[0] if client else "-", scope["method"],
                 logged_path(scope["path"]), status[0], (time.perf_counter() - started) * 1000)


def create_app(config: Config, secret: str | None = None) -> Starlette:
    """The portal for this business; `secret` defaults to `portal.secret_env`'s value."""
    portal = Portal.from_config(config, secret)
    routes = [
        Route("/", account.home, methods=["GET"]),
        Route("/signin", signin.form, methods=["GET"]),
        Route("/signin", signin.request_link, methods=["POST"]),
        Route("/signin/{token}", signin.confirm, methods=["GET"]),
        Route("/signin/confirm", signin.use_link, methods=["POST"]),
        Route("/a/{token}", signin.account_link, methods=["GET"]),
        Route("/signout", signin.sign_out, methods=["POST"]),
        Route("/autopay", account.autopay, methods=["POST"]),
        Route("/pay", pay.pay, methods=["POST"]),
        Route("/paid", pay.paid, methods=["GET"]),
        Route("/card", pay.card, methods=["POST"]),
        Route("/card-saved", pay.card_saved, methods=["GET"]),
        Route("/invoices/{number}.pdf", files.invoice_pdf, methods=["GET"]),
        Route("/brand.css", files.brand_css, methods=["GET"]),
        Route("/portal.css", files.portal_css, methods=["GET"]),
        Route("/logo", files.logo, methods=["GET"]),
        Route("/healthz", files.health, methods=["GET"]),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(
        Guard, secure=portal.secure, policy=csp(config.stripe.api_base))],
                    exception_handlers={404: account.not_found, 405: account.not_found})
    app.state.portal = portal
    return app
