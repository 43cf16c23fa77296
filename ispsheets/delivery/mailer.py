"""Sending a `Message`: into the outbox as an `.eml` file, or over one SMTP connection per run.

Both return a `SendResult` and never raise for delivery problems, so the runner can journal
every outcome:

- `sent`: handed over (SMTP 250 after the message data) or written to the outbox.
- `refused`: the server refused it for good (5xx): a bad address, a message it won't take.
- `failed`: not sent (server down, 4xx, login failed, or the connection broke before the
  server answered `250` to the message): try again next run. A server that has not said `250`
  has not taken the message (RFC 5321 6.1), so sending it again is what mail servers do too.

A mailer never answers `unknown`: the journal calls a message unknown only when a run died
between handing it over and recording the answer (see `ispsheets/steps/uncertain.py`).
"""

from __future__ import annotations

import contextlib
import json
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol

from ispsheets.config import Config
from ispsheets.delivery.files import replace_file
from ispsheets.delivery.messages import Message

SendState = Literal["sent", "refused", "failed"]


@dataclass(frozen=True)
class SendResult:
    state: SendState
    detail: str = ""

    @property
    def sent(self) -> bool:
        return self.state == "sent"


class Mailer(Protocol):
    def send(self, msg: Message) -> SendResult: ...
    def close(self) -> None: ...


def wire_bytes(msg: Message) -> bytes:
    """The message as SMTP carries it: CRLF line ends (RFC 5322)."""
    return msg.to_bytes(linesep="\r\n")


# -- outbox --------------------------------------------------------------------------------


class Outbox:
    """Messages written as `<folder>/<safe key>.eml`: for a laptop with no mail server."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / (safe_key(key) + ".eml")

    def has(self, key: str) -> bool:
        """True if the message with this key is already in the outbox (a crashed run checks)."""
        return self.path(key).is_file()

    def send(self, msg: Message) -> SendResult:
        path = self.path(msg.key)
        try:
            replace_file(path, msg.to_bytes())
        except OSError as exc:
            return SendResult("failed", f"cannot write {path.name}: {exc.strerror or exc}")
        return SendResult("sent", f"written to {path}")

    def close(self) -> None:
        pass

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def safe_key(key: str) -> str:
    """A file name for a key: `invoice/INV-00042` → `invoice_INV-00042-1b4f0e98`.

    Unsafe characters become `_`; a short hash of the key then keeps two keys that differ
    only there apart.
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", key).lstrip(".") or "_"
    if cleaned == key:
        return key
    return f"{cleaned[:150]}-{sha256(key.encode()).hexdigest()[:8]}"


# -- SMTP ----------------------------------------------------------------------------------


class _NoConnection(Exception):
    """Could not connect or log in; the text says why."""


class SmtpMailer:
    """One SMTP connection for the whole run: opened on the first send, reused, reopened once
    when the server dropped it between messages. Use as a context manager.

    `security` is `starttls` (port 587), `ssl` (implicit TLS, port 465) or `none`.
    `oauth2_token`, when given, returns a base64 XOAUTH2 string and replaces the password
    (Gmail, Microsoft 365); see `gmail_oauth2`.
    """

    def __init__(self, host: str, port: int = 587,
                 security: Literal["starttls", "ssl", "none"] = "starttls",
                 username: str = "", password: str = "", timeout: float = 30.0, *,
                 ssl_context: ssl.SSLContext | None = None, local_hostname: str | None = None,
                 oauth2_token: Callable[[], str] | None = None,
                 max_connect_failures: int = 3) -> None:
        if security not in ("starttls", "ssl", "none"):
            raise ValueError(f"security must be starttls, ssl or none, not {security!r}")
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout = username, password, timeout
        self.ssl_context = ssl_context
        self.local_hostname = local_hostname
        self.oauth2_token = oauth2_token
        self.max_connect_failures = max_connect_failures
        self.connections = 0  # connections opened in this run
        self._smtp: smtplib.SMTP | None = None
        self._connect_failures = 0
        self._gave_up = ""  # set after a failed login: no more attempts this run

    def __enter__(self) -> SmtpMailer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def send(self, msg: Message) -> SendResult:
        """Send one message; never raises for SMTP or network problems."""
        recipients = msg.recipients
        if not recipients:
            return SendResult("refused", "no recipient address")
        data = _dot_stuffed(wire_bytes(msg))
        reused = self._smtp is not None
        result, dropped = self._attempt(msg.from_address, recipients, data)
        if dropped and reused:
            # The server closed an idle connection between messages: reconnect once.
            result, _ = self._attempt(msg.from_address, recipients, data)
        return result

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    # -- internals

    def _attempt(self, sender: str, recipients: tuple[str, ...],
                 data: bytes) -> tuple[SendResult, bool]:
        """One try: (result, whether the connection was found dropped before DATA)."""
        try:
            smtp = self._connection()
        except _NoConnection as exc:
            return SendResult("failed", str(exc)), False
        try:
            options = ["SMTPUTF8"] if _needs_smtputf8(sender, recipients) \
                and smtp.has_extn("smtputf8") else []
            code, reply = smtp.mail(sender, options)
            if code != 250:
                return self._rejected(smtp, f"sender {sender}", code, reply), code == 421
            accepted, refused = [], []
            for rcpt in recipients:
                code, reply = smtp.rcpt(rcpt)
                if code in (250, 251):
                    accepted.append(rcpt)
                else:
                    refused.append((rcpt, code, reply))
            if not accepted:
                worst = min(refused, key=lambda r: r[1])  # a 4xx means: worth trying again
                detail = "; ".join(f"{r} {c} {_text(t)}" for r, c, t in refused)
                self._reset(smtp)
                state: SendState = "refused" if worst[1] >= 500 else "failed"
                return SendResult(state, f"recipients refused: {detail}"), worst[1] == 421
            code, reply = smtp.docmd("DATA")
            if code != 354:
                return self._rejected(smtp, "DATA", code, reply), code == 421
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            return SendResult("failed", f"connection lost before the message was sent: "
                                        f"{_reason(exc)}"), True
        try:
            smtp.send(data)
            code, reply = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            return SendResult("failed", f"the connection broke before the server accepted the "
                                        f"message (no 250 reply): {_reason(exc)}"), False
        if code != 250:
            return self._rejected(smtp, "message", code, reply), False
        detail = "; ".join(f"refused {r}: {c} {_text(t)}" for r, c, t in refused)
        return SendResult("sent", detail or _text(reply)), False

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        where = f"{self.host}:{self.port}"
        if self._gave_up:
            raise _NoConnection(self._gave_up)
        if self._connect_failures >= self.max_connect_failures:
            raise _NoConnection(f"{where} unreachable: gave up after "
                                f"{self._connect_failures} attempts in this run")
        context = self.ssl_context or ssl.create_default_context()
        smtp: smtplib.SMTP | None = None
        try:
            if self.security == "ssl":
                smtp = smtplib.SMTP_SSL(self.host, self.port, self.local_hostname,
                                        timeout=self.timeout, context=context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, self.local_hostname,
                                    timeout=self.timeout)
            smtp.ehlo_or_helo_if_needed()
            if self.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            self._login(smtp)
        except smtplib.SMTPAuthenticationError as exc:
            _close_quietly(smtp)
            self._gave_up = (f"login to {where} as {self.username or '(oauth2)'} failed: "
                             f"{exc.smtp_code} {_text(exc.smtp_error)}")
            raise _NoConnection(self._gave_up) from exc
        except (smtplib.SMTPException, OSError) as exc:
            _close_quietly(smtp)
            self._connect_failures += 1
            raise _NoConnection(f"cannot connect to {where} ({self.security}): "
                                f"{_reason(exc)}") from exc
        self._connect_failures = 0
        self.connections += 1
        self._smtp = smtp
        return smtp

    def _login(self, smtp: smtplib.SMTP) -> None:
        if self.oauth2_token is not None:
            try:
                token = self.oauth2_token()
            except Exception as exc:  # network or credentials file: report, do not crash
                raise smtplib.SMTPException(f"could not get an OAuth2 token: {exc}") from exc
            code, reply = smtp.docmd("AUTH", "XOAUTH2 " + token)
            if code == 334:  # the server sent an error challenge; finish the exchange
                code, reply = smtp.docmd("")
            if code != 235:
                raise smtplib.SMTPAuthenticationError(code, reply)
        elif self.username:
            smtp.login(self.username, self.password)

    def _rejected(self, smtp: smtplib.SMTP, what: str, code: int,
                  reply: bytes) -> SendResult:
        if code == 421:  # the server is closing the connection
            self._drop()
        else:
            self._reset(smtp)
        state: SendState = "refused" if code >= 500 else "failed"
        return SendResult(state, f"{what} refused: {code} {_text(reply)}")

    def _reset(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        _close_quietly(smtp)


def _close_quietly(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        with contextlib.suppress(OSError):
            smtp.close()


def _dot_stuffed(data: bytes) -> bytes:
    """DATA payload: leading dots doubled, ended by CRLF.CRLF (RFC 5321 4.5.2)."""
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _needs_smtputf8(sender: str, recipients: tuple[str, ...]) -> bool:
    return not all(address.isascii() for address in (sender, *recipients))


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


# -- building from config ------------------------------------------------------------------


def gmail_oauth2(credentials_file: Path, user: str) -> Callable[[], str]:
    """An XOAUTH2 token source for Gmail from a yagmail-style credentials JSON
    (`google_client_id`, `google_client_secret`, `google_refresh_token`): each call
    refreshes an access token with yagmail's helper."""

    def token() -> str:
        from yagmail.oauth2 import get_oauth_string

        info = json.loads(Path(credentials_file).read_text(encoding="utf-8"))
        keys = ("google_client_id", "google_client_secret", "google_refresh_token")
        return get_oauth_string(user, {k: info[k] for k in keys})

    return token


def mailer_from_config(config: Config) -> Outbox | SmtpMailer:
    """SMTP when `email.smtp.host` is set, else the outbox folder."""
    smtp = config.email.smtp
    if not smtp.host:
        return Outbox(config.path(config.email.outbox))
    token = gmail_oauth2(config.path(smtp.oauth2_file), smtp.username) if smtp.oauth2_file \
        else None
    return SmtpMailer(smtp.host, smtp.port, smtp.security, smtp.username,
                      "" if token else config.secret(smtp.password_env),
                      float(smtp.timeout_seconds), oauth2_token=token)
