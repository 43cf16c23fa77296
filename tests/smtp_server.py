"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 that records what it receives.

It counts connections, can refuse recipients, drop the connection at a given message (in MAIL
or after the data), require a login, and speak STARTTLS or implicit TLS.
"""

from __future__ import annotations

import base64
import email
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    connection: int
    login: str

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.content, policy=default)  # type: ignore[return-value]


@dataclass
class Recorder:
    """The aiosmtpd handler: records envelopes and misbehaves on request."""

    refuse: set[str] = field(default_factory=set)  # 550 for these recipients
    defer: set[str] = field(default_factory=set)  # 450 for these recipients
    drop_at_mail: set[int] = field(default_factory=set)  # n-th MAIL FROM: close the connection
    drop_after_data: set[int] = field(default_factory=set)  # n-th message: close, no reply
    data_replies: dict[int, str] = field(default_factory=dict)  # n-th message: this reply
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    mails: int = 0
    datas: int = 0
    oauth_token: str = ""  # accept AUTH XOAUTH2 with this bearer token

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.mails += 1
        if self.mails in self.drop_at_mail:
            server.transport.close()
            return None
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        if address in self.defer:
            return "450 4.2.0 Mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.datas += 1
        if self.datas in self.drop_after_data:
            server.transport.abort()
            return None
        if self.datas in self.data_replies:
            return self.data_replies[self.datas]
        login = session.auth_data.login.decode() if isinstance(
            session.auth_data, LoginPassword) else str(session.auth_data or "")
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                      envelope.original_content or envelope.content,
                                      session.connection_number, login))
        return "250 Message accepted for delivery"

    async def auth_XOAUTH2(self, server, args):
        blob = base64.b64decode(args[1]).decode() if len(args) > 1 else ""
        fields = dict(part.split("=", 1) for part in blob.split("\1") if "=" in part)
        if fields.get("auth") == f"Bearer {self.oauth_token}" and self.oauth_token:
            return AuthResult(success=True, auth_data=fields.get("user", ""))
        return AuthResult(success=False, handled=False)


class _CountingSMTP(SMTP):
    """Numbers each TCP connection (STARTTLS calls connection_made again: not a new one)."""

    number = 0

    def connection_made(self, transport):
        upgrade = self._original_transport is not None
        super().connection_made(transport)
        if not upgrade:
            self.event_handler.connections += 1
            self.number = self.event_handler.connections
        self.session.connection_number = self.number


class SmtpServer(Controller):
    """`with SmtpServer(Recorder()) as server:`; `server.port`, `server.handler.received`."""

    def __init__(self, handler: Recorder, *, users: dict[str, str] | None = None,
                 tls: ssl.SSLContext | None = None, implicit_tls: bool = False,
                 port: int | None = None) -> None:
        self.users = users
        kwargs = {}
        if users is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=tls is not None and not implicit_tls)
        if tls is not None and not implicit_tls:
            kwargs.update(tls_context=tls, require_starttls=True)
        super().__init__(handler, hostname="127.0.0.1", port=port or free_port(),
                         ssl_context=tls if implicit_tls else None, **kwargs)

    def factory(self):
        return _CountingSMTP(self.handler, **self.SMTP_kwargs)

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword) and self.users is not None:
            login = auth_data.login.decode()
            ok = self.users.get(login) == auth_data.password.decode()
            return AuthResult(success=ok, handled=False, auth_data=login)
        return AuthResult(success=False, handled=False)

    def __enter__(self) -> SmtpServer:
        self.start()
        self.handler.connections = 0  # start() made one connection to check the server is up
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
