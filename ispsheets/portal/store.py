"""The portal's own journal, `portal/portal.sqlite`: sign-in links, sessions, rate limits and
what clients did (sign-ins, autopay choices, payments started).

The portal is its only writer; a run reads the events it must act on (an autopay choice) and
keys each in its own journal, so a choice is written to the workbook exactly once. WAL mode and
short transactions: the portal never blocks a run, nor a run the portal.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ispsheets.portal.tokens import digest, new_token

STORE_NAME = "portal.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS signin_links (token TEXT PRIMARY KEY, client_id TEXT NOT NULL,
    email TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL, used_at TEXT);
CREATE TABLE IF NOT EXISTS sessions (token TEXT PRIMARY KEY, client_id TEXT NOT NULL,
    created_at TEXT NOT NULL, expires_at TEXT NOT NULL, via TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attempts (kind TEXT NOT NULL, value TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS attempts_value ON attempts (kind, value, at);
-- What clients did. kind: signin_requested, signed_in, signed_out, autopay_enabled,
-- autopay_disabled, payment_started, payment_made (detail: "amount stripe_id session"),
-- card_update_started, card_saved.
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL,
    kind TEXT NOT NULL, client_id TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS events_kind ON events (kind, id);
"""

CHOICE_KINDS = ("autopay_enabled", "autopay_disabled")
PAYMENT_MADE = "payment_made"
PENDING_DAYS = 30  # a portal payment counts as pending at most this long (a run files it)


@dataclass(frozen=True)
class CardPayment:
    """A card payment a client made in the portal, as Stripe confirmed it on their return."""

    at: dt.datetime
    amount: Decimal
    reference: str  # the PaymentIntent: the Payments row's reference once a run pulls it
    session: str


@dataclass(frozen=True)
class Event:
    id: int
    at: dt.datetime
    kind: str
    client_id: str
    detail: str


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stamp(moment: dt.datetime) -> str:
    """One text form for every time stored, so that they compare as text."""
    return moment.isoformat(timespec="microseconds")


class Store:
    """portal.sqlite, opened per use (the server may run several worker threads)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / STORE_NAME
        self._ready = False
        self._local = threading.local()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, in a transaction (the file and tables made on first use)."""
        db = getattr(self._local, "db", None)
        if db is None or not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # a lost last second costs a sign-in
            db.executescript(_SCHEMA)
            self._local.db = db
            self._ready = True
        with db:
            yield db

    # -- sign-in links ---------------------------------------------------------------------

    def new_signin_link(self, client_id: str, email: str, minutes: int,
                        now: dt.datetime | None = None) -> str:
        """A one-time token for a sign-in link; only its digest is kept."""
        now = now or _now()
        token = new_token()
        with self._db() as db:
            db.execute("INSERT INTO signin_links VALUES (?, ?, ?, ?, ?, NULL)",
                       (digest(token), client_id, email, now.isoformat(),
                        (now + dt.timedelta(minutes=minutes)).isoformat()))
        return token

    def signin_link_client(self, token: str, now: dt.datetime | None = None) -> str | None:
        """The client a sign-in link is for, if it is unused and unexpired (not using it)."""
        now = now or _now()
        with self._db() as db:
            row = db.execute("SELECT client_id FROM signin_links WHERE token = ? "
                             "AND used_at IS NULL AND expires_at > ?",
                             (digest(token), now.isoformat())).fetchone()
        return str(row[0]) if row else None

    def use_signin_link(self, token: str, now: dt.datetime | None = None) -> str | None:
        """Use the link once: its client, or None when it is unknown, used or expired."""
        now = now or _now()
        with self._db() as db:
            row = db.execute("UPDATE signin_links SET used_at = ? WHERE token = ? "
                             "AND used_at IS NULL AND expires_at > ? RETURNING client_id",
                             (now.isoformat(), digest(token), now.isoformat())).fetchone()
        return str(row[0]) if row else None

    # -- sessions --------------------------------------------------------------------------

    def new_session(self, client_id: str, days: int, via: str,
                    now: dt.datetime | None = None) -> str:
        now = now or _now()
        token = new_token()
        with self._db() as db:
            db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                       (digest(token), client_id, now.isoformat(),
                        (now + dt.timedelta(days=days)).isoformat(), via))
            db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now.isoformat(),))
        return token

    def session_client(self, token: str, now: dt.datetime | None = None) -> str | None:
        now = now or _now()
        with self._db() as db:
            row = db.execute("SELECT client_id FROM sessions WHERE token = ? AND expires_at > ?",
                             (digest(token), now.isoformat())).fetchone()
        return str(row[0]) if row else None

    def end_session(self, token: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE token = ?", (digest(token),))

    # -- rate limits -----------------------------------------------------------------------

    def allow(self, kind: str, value: str, per_hour: int,
              now: dt.datetime | None = None) -> bool:
        """Count one attempt of `kind` (email, ip) for `value`; False past `per_hour`."""
        now = now or _now()
        since = (now - dt.timedelta(hours=1)).isoformat()
        with self._db() as db:
            db.execute("DELETE FROM attempts WHERE at <= ?", (since,))
            (count,) = db.execute("SELECT count(*) FROM attempts WHERE kind = ? AND value = ?",
                                  (kind, value)).fetchone()
            if count >= per_hour:
                return False
            db.execute("INSERT INTO attempts VALUES (?, ?, ?)", (kind, value, now.isoformat()))
        return True

    # -- events ----------------------------------------------------------------------------

    def record(self, kind: str, client_id: str, detail: str = "",
               now: dt.datetime | None = None) -> None:
        with self._db() as db:
            db.execute("INSERT INTO events (at, kind, client_id, detail) VALUES (?, ?, ?, ?)",
                       (_stamp(now or _now()), kind, client_id, detail))

    def events(self, kinds: tuple[str, ...] = (), since: dt.datetime | None = None,
               client_id: str = "") -> list[Event]:
        """Events, oldest first, of these kinds (all if none), after `since`, of one client."""
        if not self.path.is_file():
            return []
        sql, params = "SELECT id, at, kind, client_id, detail FROM events WHERE 1", []
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            params += list(kinds)
        if since is not None:
            sql += " AND at >= ?"
            params.append(_stamp(since))
        if client_id:
            sql += " AND client_id = ?"
            params.append(client_id)
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
        try:
            rows = db.execute(sql + " ORDER BY id", params).fetchall()
        except sqlite3.OperationalError:  # created, but no table yet
            return []
        finally:
            db.close()
        return [Event(int(r[0]), dt.datetime.fromisoformat(r[1]), r[2], r[3], r[4])
                for r in rows]

    # -- card payments ---------------------------------------------------------------------

    def record_payment(self, client_id: str, amount: Decimal, reference: str, session: str,
                       now: dt.datetime | None = None) -> bool:
        """A `payment_made` event, once per Stripe payment (a reloaded return page adds none)."""
        with self._db() as db:
            rows = db.execute("SELECT detail FROM events WHERE kind = ? AND client_id = ?",
                              (PAYMENT_MADE, client_id)).fetchall()
            if any(_card_payment_fields(r[0])[1] == reference for r in rows):
                return False
            db.execute("INSERT INTO events (at, kind, client_id, detail) VALUES (?, ?, ?, ?)",
                       (_stamp(now or _now()), PAYMENT_MADE, client_id,
                        f"{amount} {reference} {session}"))
        return True

    def card_payments(self, client_id: str, now: dt.datetime | None = None
                      ) -> list[CardPayment]:
        """The client's portal card payments of the last PENDING_DAYS days, oldest first."""
        since = (now or _now()) - dt.timedelta(days=PENDING_DAYS)
        found = []
        for event in self.events((PAYMENT_MADE,), since=since, client_id=client_id):
            amount, reference, session = _card_payment_fields(event.detail)
            found.append(CardPayment(event.at, Decimal(amount), reference, session))
        return found


def _card_payment_fields(detail: str) -> tuple[str, str, str]:
    parts = [*detail.split(), "0", "", ""]
    return parts[0], parts[1], parts[2]
