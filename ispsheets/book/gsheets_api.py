"""The one module that talks to Google Sheets (through gspread and google-auth, unmodified).

It makes the four calls the tool needs (`spreadsheets.get`, `values:batchGet`,
`values:batchUpdate`, `spreadsheets:batchUpdate`), retries 429 and 5xx answers with exponential
backoff and jitter inside a bounded time, and turns every failure into a `SheetsFailure` the
backend words for the owner. Nothing above this module knows gspread.

`ISPSHEETS_SHEETS_EMULATOR_HOST=127.0.0.1:PORT` (Google's `*_EMULATOR_HOST` convention) sends
every request to `http://127.0.0.1:PORT/v4/...` with no credentials: gspread is given a plain
requests session (its documented `auth=None, session=...` form) that rewrites Google's address.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gspread
import requests
from gspread.exceptions import APIError
from gspread.urls import SPREADSHEET_VALUES_BATCH_UPDATE_URL

EMULATOR_ENV = "ISPSHEETS_SHEETS_EMULATOR_HOST"
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
GOOGLE_BASE = "https://sheets.googleapis.com/"
_KEY_IN_URL = re.compile(r"/spreadsheets/d/([a-zA-Z0-9_-]+)")
_KEY = re.compile(r"^[a-zA-Z0-9_-]{10,}$")
RETRIED = frozenset({408, 429, 500, 502, 503, 504})


class SheetsFailure(Exception):
    """A request that did not succeed. `kind` is one of: denied (403), not_found (404),
    invalid (400), unreachable (no answer), busy (429/5xx after every retry), other."""

    def __init__(self, kind: str, status: int, message: str) -> None:
        super().__init__(f"{kind} ({status}): {message}")
        self.kind, self.status, self.message = kind, status, message


class SheetsSetupError(Exception):
    """The credentials cannot be used: `where`, `message`, `fix` as a Problem words them."""

    def __init__(self, where: str, message: str, fix: str) -> None:
        super().__init__(f"{where}: {message} — {fix}")
        self.where, self.message, self.fix = where, message, fix


@dataclass(frozen=True)
class Retry:
    """Exponential backoff with full jitter: the n-th wait is random in [0, base·2ⁿ] (at most
    `cap`), and no request is retried once `budget` seconds have passed since its first try."""

    base: float = 1.0
    cap: float = 32.0
    budget: float = 100.0

    def wait(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        return rng() * min(self.cap, self.base * 2 ** attempt)


def sheet_key(text: str) -> str | None:
    """The spreadsheet key in a key or a full URL (`.../spreadsheets/d/KEY/edit#gid=0`)."""
    text = text.strip()
    if m := _KEY_IN_URL.search(text):
        return m[1]
    return text if _KEY.match(text) else None


class _EmulatorSession(requests.Session):
    """A session that sends Google's Sheets address to the emulator instead."""

    def __init__(self, host: str) -> None:
        super().__init__()
        self.base = f"http://{host.strip().removeprefix('http://').rstrip('/')}/"

    def request(self, method: str | bytes, url: str | bytes,  # type: ignore[override]
                *args: Any, **kwargs: Any) -> requests.Response:
        if isinstance(url, str) and url.startswith(GOOGLE_BASE):
            url = self.base + url[len(GOOGLE_BASE):]
        return super().request(method, url, *args, **kwargs)


def service_account_file(configured: Path | None) -> Path | None:
    """The service-account JSON: workbook.service_account, else GOOGLE_APPLICATION_CREDENTIALS."""
    if configured is not None:
        return configured
    env = os.environ.get(CREDENTIALS_ENV, "").strip()
    return Path(env).expanduser() if env else None


def client_email(path: Path | None) -> str:
    """The service account's address (what the owner shares the sheet with); "" if unknown."""
    if path is None:
        return ""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return str(data.get("client_email", "")) if isinstance(data, dict) else ""


def _load_credentials(path: Path, where: str) -> Any:
    from google.oauth2 import service_account

    if not path.is_file():
        raise SheetsSetupError(where, f"{path} not found",
                               "download the service account's JSON key (Google Cloud console "
                               "> IAM > Service accounts > Keys > Add key > JSON) and put its "
                               "path here")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SheetsSetupError(where, f"{path.name} is not a JSON key file ({exc})",
                               "download the key again as JSON") from exc
    if not isinstance(data, dict) or data.get("type") != "service_account":
        raise SheetsSetupError(where, f"{path.name} is not a service account key",
                               "create a key for a service account (not an OAuth client id) "
                               "and download it as JSON")
    try:
        return service_account.Credentials.from_service_account_info(data, scopes=SCOPES)
    except (ValueError, KeyError) as exc:
        raise SheetsSetupError(where, f"{path.name} cannot be used ({exc})",
                               "download a new key for the service account") from exc


class SheetsApi:
    """One spreadsheet, reached through gspread's HTTP client; counts the requests it makes."""

    def __init__(self, key: str, http: gspread.http_client.HTTPClient, retry: Retry,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.key = key
        self.http = http
        self.retry = retry
        self.sleep = sleep
        self.requests = 0

    @classmethod
    def connect(cls, key: str, credentials: Path | None, where: str,
                retry: Retry | None = None) -> SheetsApi:
        """The API for `key`, through the emulator when its variable is set (no credentials
        then), else as the service account in `credentials`."""
        emulator = os.environ.get(EMULATOR_ENV, "").strip()
        if emulator:
            client = gspread.Client(auth=None, session=_EmulatorSession(emulator))  # type: ignore[arg-type]
        else:
            if credentials is None:
                raise SheetsSetupError(
                    where, "no service account is configured",
                    "set workbook.service_account in config.yaml to the service account's JSON "
                    f"key file (or set {CREDENTIALS_ENV}); see the README, 'Google Sheets'")
            client = gspread.Client(auth=_load_credentials(credentials, where))
        client.set_timeout((10, 120))
        return cls(key, client.http_client, retry or Retry())

    # -- the calls -----------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """Title and every tab's properties (no cell data)."""
        fields = "properties.title,sheets.properties"
        return self._call(lambda: self.http.fetch_sheet_metadata(
            self.key, params={"includeGridData": "false", "fields": fields}))

    def batch_get(self, ranges: Sequence[str]) -> list[dict[str, Any]]:
        """The value ranges of `ranges`, unformatted, dates as serial numbers."""
        params: dict[str, Any] = {"valueRenderOption": "UNFORMATTED_VALUE",
                                  "dateTimeRenderOption": "SERIAL_NUMBER",
                                  "majorDimension": "ROWS"}
        answer = self._call(lambda: self.http.values_batch_get(self.key, list(ranges),
                                                               params=dict(params)))
        return list(answer.get("valueRanges", []))

    def values_update(self, data: Sequence[Mapping[str, Any]],
                      option: str = "RAW") -> dict[str, Any]:
        """One values:batchUpdate, its body sent without spaces (a tenth smaller)."""
        body = json.dumps({"valueInputOption": option, "data": list(data)},
                          separators=(",", ":")).encode("ascii")
        url = SPREADSHEET_VALUES_BATCH_UPDATE_URL % self.key
        return self._call(lambda: self.http.request(
            "post", url, data=body, headers={"Content-Type": "application/json"}).json())

    def batch_update(self, requests_: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return self._call(lambda: self.http.batch_update(self.key,
                                                         {"requests": list(requests_)}))

    def _call(self, send: Callable[[], Any]) -> Any:
        started = time.monotonic()
        attempt = 0
        while True:
            self.requests += 1
            try:
                return send()
            except APIError as exc:
                status = exc.response.status_code
                message = str(exc.error.get("message", "")) or exc.response.reason or ""
                failure = SheetsFailure(_kind(status), status, message)
            except (requests.ConnectionError, requests.Timeout) as exc:
                failure = SheetsFailure("unreachable", 0, _reason(exc))
            except Exception as exc:  # google-auth's token refresh errors and the like
                failure = _auth_failure(exc)
            retried = failure.status in RETRIED or failure.kind == "unreachable"
            delay = self.retry.wait(attempt)
            if not retried or time.monotonic() - started + delay > self.retry.budget:
                if failure.status in RETRIED:
                    failure.kind = "busy"
                raise failure
            self.sleep(delay)
            attempt += 1


def _kind(status: int) -> str:
    return {400: "invalid", 401: "denied", 403: "denied", 404: "not_found"}.get(
        status, "busy" if status in RETRIED else "other")


def _reason(exc: Exception) -> str:
    text = str(exc)
    if m := re.search(r"(Name or service not known|Connection refused|timed out|"
                      r"Temporary failure in name resolution|No route to host)", text):
        return m[1]
    return type(exc).__name__


def _auth_failure(exc: Exception) -> SheetsFailure:
    from google.auth import exceptions as auth_errors

    if isinstance(exc, auth_errors.TransportError):
        return SheetsFailure("unreachable", 0, "cannot reach Google to sign in")
    if isinstance(exc, auth_errors.RefreshError):
        return SheetsFailure("denied", 401, f"Google refused the service account key ({exc})")
    raise exc
