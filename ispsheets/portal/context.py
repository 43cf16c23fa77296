"""What every portal page needs: settings, the view, the store, templates, cookies and CSRF."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ispsheets.config import Config
from ispsheets.delivery.document import CompanyInfo, format_date
from ispsheets.money import format_money
from ispsheets.portal.history import archived_history
from ispsheets.portal.store import Store
from ispsheets.portal.tokens import csrf_ok, csrf_token, new_token
from ispsheets.portal.view import ClientView, ViewReader

SESSION_COOKIE = "ispsheets_session"
CSRF_COOKIE = "ispsheets_csrf"
TEMPLATES = Path(__file__).parent / "templates"


class PortalSetupError(ValueError):
    """The portal cannot start; the text says what to set."""


@dataclass(frozen=True)
class Portal:
    config: Config
    secret: str
    view: ViewReader
    store: Store
    templates: jinja2.Environment

    @classmethod
    def from_config(cls, config: Config, secret: str | None = None) -> Portal:
        secret = secret if secret is not None else config.secret(config.portal.secret_env)
        if len(secret) < 16:
            raise PortalSetupError(
                f"config.yaml: portal.secret_env: the environment variable "
                f"{config.portal.secret_env} must hold a secret of 16 characters or more — "
                "e.g. put `ISPSHEETS_PORTAL_SECRET=` and the output of `python3 -c 'import "
                "secrets; print(secrets.token_urlsafe(32))'` into .env beside config.yaml")
        folder = config.portal_folder
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                 undefined=jinja2.StrictUndefined, trim_blocks=True,
                                 lstrip_blocks=True)
        env.filters["money"] = lambda amount: format_money(amount, config.currency)
        env.filters["date"] = lambda day: format_date(day, config.workbook.date_order) \
            if day else ""
        view = ViewReader(folder, partial(archived_history, config.journal_path))
        return cls(config, secret, view, Store(folder), env)

    @property
    def secure(self) -> bool:
        """Cookies marked Secure when clients reach the portal over HTTPS."""
        return self.config.portal.base_url.startswith("https://")

    @property
    def company(self) -> CompanyInfo:
        return CompanyInfo.from_config(self.config)

    def today(self) -> dt.date:
        return dt.datetime.now(self.config.tz).date()

    # -- pages -----------------------------------------------------------------------------

    def page(self, request: Request, name: str, status_code: int = 200,
             **context: Any) -> Response:
        """A template in the company's branding, with a CSRF field for its forms."""
        cookie = request.cookies.get(CSRF_COOKIE) or new_token()
        html = self.templates.get_template(name).render(
            company=self.company, csrf=csrf_token(self.secret, cookie),
            has_logo=self.logo_path() is not None, **context)
        response = HTMLResponse(html, status_code=status_code)
        if request.cookies.get(CSRF_COOKIE) != cookie:
            self.set_cookie(response, CSRF_COOKIE, cookie, days=None)
        return response

    def set_cookie(self, response: Response, name: str, value: str, days: int | None) -> None:
        response.set_cookie(name, value, max_age=days * 86400 if days else None, path="/",
                            httponly=True, samesite="lax", secure=self.secure)

    async def form(self, request: Request) -> dict[str, str] | None:
        """The posted form, or None when its CSRF field does not match the browser's cookie."""
        form = await request.form()
        fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        if not csrf_ok(self.secret, request.cookies.get(CSRF_COOKIE), fields.get("csrf")):
            return None
        return fields

    # -- who is signed in ------------------------------------------------------------------

    def signed_in(self, request: Request) -> ClientView | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        client_id = self.store.session_client(token)
        return self.view.client(client_id) if client_id else None

    def logo_path(self) -> Path | None:
        logo = self.config.company.logo
        path = self.config.path(logo) if logo else None
        return path if path is not None and path.is_file() else None
