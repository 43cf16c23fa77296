"""The portal as an ASGI app: a small routing table, one view module per page kind.

`create_app(config)` builds a fresh app (tests start one against a temporary folder); what the
pages show comes from the view the last run published (`view.py`) and the portal's own store
(`store.py`). The portal never opens the workbook.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ispsheets.config import Config
from ispsheets.portal.context import Portal
from ispsheets.portal.views import account, files, signin

log = logging.getLogger("ispsheets.portal")

# Content-Security-Policy: no inline script or style, nothing from elsewhere, no framing.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")

_SECRET_PATHS = re.compile(r"^/(signin|a)/[^/]+")


def logged_path(path: str) -> str:
    """The path as the access log shows it: link tokens replaced by `…`."""
    return _SECRET_PATHS.sub(lambda m: f"/{m.group(1)}/…", path)


class Guard(BaseHTTPMiddleware):
    """Security headers on every answer, and one access-log line without secrets."""

    def __init__(self, app: Callable[..., Awaitable[None]], secure: bool) -> None:
        super().__init__(app)
        self.secure = secure

    async def dispatch(self, request: Request,
                       call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        headers = response.headers
        headers["Content-Security-Policy"] = CSP
        headers["X-Frame-Options"] = "DENY"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers.setdefault("Cache-Control", "no-store")
        if self.secure:
            headers["Strict-Transport-Security"] = "max-age=31536000"
        client = request.client.host if request.client else "-"
        log.info("%s %s %s %d %.1fms", client, request.method, logged_path(request.url.path),
                 response.status_code, (time.perf_counter() - started) * 1000)
        return response


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
        Route("/invoices/{number}.pdf", files.invoice_pdf, methods=["GET"]),
        Route("/brand.css", files.brand_css, methods=["GET"]),
        Route("/portal.css", files.portal_css, methods=["GET"]),
        Route("/logo", files.logo, methods=["GET"]),
        Route("/healthz", files.health, methods=["GET"]),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(Guard, secure=portal.secure)],
                    exception_handlers={404: account.not_found, 405: account.not_found})
    app.state.portal = portal
    return app
