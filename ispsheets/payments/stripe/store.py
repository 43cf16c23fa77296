"""What the journal keeps about Stripe: customers, money moved (with fees), pay links, the pull
cursor. Its own tables, made on first use (`CREATE TABLE IF NOT EXISTS`) so the journal's
schema version is left to the journal; autopay attempts use the journal's `card_charges`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from decimal import Decimal

from ispsheets.journal import Journal
from ispsheets.payments.stripe.api import Card, Movement
from ispsheets.payments.stripe.plan import Attempt

_TABLES = """
CREATE TABLE IF NOT EXISTS stripe_customers (
    client_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    card TEXT NOT NULL DEFAULT '',          -- payment method id of the default card
    card_label TEXT NOT NULL DEFAULT '',    -- visa 4242
    card_expires TEXT NOT NULL DEFAULT '',  -- YYYY-MM
    updated_at TEXT NOT NULL
);
-- Money that moved on Stripe, one row per Stripe id: what the Payments rows were made from.
CREATE TABLE IF NOT EXISTS stripe_movements (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    amount TEXT NOT NULL,
    fee TEXT NOT NULL,
    created INTEGER NOT NULL,
    customer TEXT NOT NULL DEFAULT '',
    payment_intent TEXT NOT NULL DEFAULT '',
    charge TEXT NOT NULL DEFAULT '',
    invoice_number TEXT NOT NULL DEFAULT '',
    client_id TEXT NOT NULL DEFAULT '',
    recorded_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS stripe_movements_intent ON stripe_movements (payment_intent);
-- Pay links: keyed (state `pending`) before they are made, `active` until deactivated.
CREATE TABLE IF NOT EXISTS stripe_links (
    key TEXT PRIMARY KEY,
    invoice_number TEXT NOT NULL,
    amount TEXT NOT NULL,
    link_id TEXT NOT NULL DEFAULT '',
    url TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS stripe_links_invoice ON stripe_links (invoice_number, state);
CREATE TABLE IF NOT EXISTS stripe_state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Money a webhook heard about: the next run records it (as the pull would) once.
CREATE TABLE IF NOT EXISTS stripe_heard (id TEXT PRIMARY KEY, data TEXT NOT NULL);
-- The day (the run's --date) each autopay attempt was made: retries count from it.
CREATE TABLE IF NOT EXISTS stripe_attempt_days (key TEXT PRIMARY KEY, day TEXT NOT NULL);
"""


@dataclass(frozen=True)
class KnownCustomer:
    client_id: str
    customer_id: str
    name: str
    email: str
    card: str
    card_label: str
    card_expires: str


@dataclass(frozen=True)
class PayLinkRecord:
    key: str
    invoice_number: str
    amount: Decimal
    link_id: str
    url: str
    state: str


class StripeStore:
    """The Stripe tables of one journal."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._customers: dict[str, KnownCustomer] | None = None  # read once, kept in step
        with journal.transaction() as db:
            for statement in _TABLES.split(";"):
                if statement.strip():
                    db.execute(statement)

    # -- the pull cursor ----------------------------------------------------------------------

    def get(self, name: str, default: str = "") -> str:
        with self.journal.transaction() as db:
            row = db.execute("SELECT value FROM stripe_state WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else default

    def put(self, name: str, value: str) -> None:
        with self.journal.transaction() as db:
            db.execute("INSERT OR REPLACE INTO stripe_state VALUES (?, ?)", (name, value))

    # -- customers ----------------------------------------------------------------------------

    def customers(self) -> dict[str, KnownCustomer]:
        if self._customers is None:
            with self.journal.transaction() as db:
                rows = db.execute("SELECT client_id, customer_id, name, email, card, "
                                  "card_label, card_expires FROM stripe_customers").fetchall()
            self._customers = {r[0]: KnownCustomer(*r) for r in rows}
        return dict(self._customers)

    def known_customer(self, client_id: str) -> KnownCustomer | None:
        if self._customers is None:
            self.customers()
        assert self._customers is not None
        return self._customers.get(client_id)

    def save_customer(self, client_id: str, customer_id: str, name: str, email: str,
                      card: Card | None, now: dt.datetime) -> None:
        label = f"{card.brand} {card.last4}".strip() if card else ""
        expires = f"{card.exp_year:04d}-{card.exp_month:02d}" if card and card.exp_year else ""
        saved = KnownCustomer(client_id, customer_id, name, email,
                              card.payment_method if card else "", label, expires)
        if self.known_customer(client_id) == saved:
            return  # as it was: no write (a run charging 2,000 cards saves 2,000 syncs)
        with self.journal.transaction() as db:
            db.execute("INSERT OR REPLACE INTO stripe_customers VALUES (?,?,?,?,?,?,?,?)",
                       (client_id, customer_id, name, email, card.payment_method if card else "",
                        label, expires, now.isoformat()))
        if self._customers is not None:
            self._customers[client_id] = saved

    # -- money moved --------------------------------------------------------------------------

    def movement_ids(self) -> set[str]:
        with self.journal.transaction() as db:
            return {r[0] for r in db.execute("SELECT id FROM stripe_movements")}

    def movements(self) -> list[Movement]:
        with self.journal.transaction() as db:
            rows = db.execute("SELECT id, kind, amount, fee, created, customer, payment_intent, "
                              "charge, invoice_number, client_id FROM stripe_movements "
                              "ORDER BY created, id").fetchall()
        return [Movement(r[0], r[1], Decimal(r[2]), Decimal(r[3]), r[4], r[5], r[6], r[7],
                         r[8], r[9]) for r in rows]

    def add_movement(self, m: Movement, now: dt.datetime) -> bool:
        """Record money moved, once per Stripe id; False if it was recorded before."""
        with self.journal.transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO stripe_movements VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (m.id, m.kind, str(m.amount), str(m.fee), m.created, m.customer,
                 m.payment_intent, m.charge, m.invoice_number, m.client_id, now.isoformat()))
            return cursor.rowcount > 0

    def requeue_tool_row(self, key: str) -> None:
        """A tool row the owner deleted: written again by this run's write-back."""
        with self.journal.transaction() as db:
            db.execute("UPDATE tool_rows SET written_gen = NULL WHERE key = ?", (key,))

    def written_tool_rows(self, tab: str, prefix: str) -> list[tuple[str, str]]:
        """(key, reference) of tool rows already carried to the workbook."""
        with self.journal.transaction() as db:
            rows = db.execute("SELECT key, json_extract(data, '$.reference') FROM tool_rows "
                              "WHERE tab = ? AND key LIKE ? AND written_gen IS NOT NULL",
                              (tab, prefix + "%")).fetchall()
        return [(r[0], r[1] or "") for r in rows]

    # -- pay links ----------------------------------------------------------------------------

    def links(self, states: tuple[str, ...] = ("pending", "active")) -> list[PayLinkRecord]:
        marks = ",".join("?" * len(states))
        with self.journal.transaction() as db:
            rows = db.execute(f"SELECT key, invoice_number, amount, link_id, url, state FROM "
                              f"stripe_links WHERE state IN ({marks}) ORDER BY created_at, key",
                              states).fetchall()
        return [PayLinkRecord(r[0], r[1], Decimal(r[2]), r[3], r[4], r[5]) for r in rows]

    def begin_link(self, key: str, invoice_number: str, amount: Decimal,
                   now: dt.datetime) -> None:
        with self.journal.transaction() as db:
            db.execute("INSERT OR IGNORE INTO stripe_links VALUES (?,?,?,'','','pending',?,?)",
                       (key, invoice_number, str(amount), now.isoformat(), now.isoformat()))

    def finish_link(self, key: str, state: str, now: dt.datetime, link_id: str = "",
                    url: str = "") -> None:
        with self.journal.transaction() as db:
            db.execute("UPDATE stripe_links SET state = ?, link_id = COALESCE(NULLIF(?, ''), "
                       "link_id), url = COALESCE(NULLIF(?, ''), url), updated_at = ? "
                       "WHERE key = ?", (state, link_id, url, now.isoformat(), key))

    def link_count(self, invoice_number: str) -> int:
        with self.journal.transaction() as db:
            return int(db.execute("SELECT COUNT(*) FROM stripe_links WHERE invoice_number = ?",
                                  (invoice_number,)).fetchone()[0])

    # -- autopay attempts (the journal's card_charges) ----------------------------------------

    def attempts(self) -> dict[str, list[Attempt]]:
        """Invoice number → its autopay attempts, in order."""
        with self.journal.transaction() as db:
            rows = db.execute("SELECT c.key, invoice_number, amount, state, "
                              "COALESCE(d.day, c.created_at) FROM card_charges c "
                              "LEFT JOIN stripe_attempt_days d ON d.key = c.key "
                              "WHERE c.key LIKE 'autopay/%'").fetchall()
        found: dict[str, list[Attempt]] = {}
        for key, number, amount, state, day in rows:
            found.setdefault(number, []).append(Attempt(
                int(key.rsplit("/", 1)[1]), state, dt.date.fromisoformat(day[:10]),
                Decimal(amount)))
        return {n: sorted(a, key=lambda x: x.number) for n, a in found.items()}

    def note_attempt_day(self, key: str, day: dt.date) -> None:
        with self.journal.transaction() as db:
            db.execute("INSERT OR IGNORE INTO stripe_attempt_days VALUES (?, ?)",
                       (key, day.isoformat()))

    # -- what webhooks heard ------------------------------------------------------------------

    def hear(self, movement: Movement) -> None:
        """Keep money a webhook reported, for the next run (the portal's server calls this)."""
        data = json.dumps({**asdict(movement), "amount": str(movement.amount),
                           "fee": str(movement.fee)})
        with self.journal.transaction() as db:
            db.execute("INSERT OR IGNORE INTO stripe_heard VALUES (?, ?)", (movement.id, data))

    def heard(self) -> list[Movement]:
        with self.journal.transaction() as db:
            rows = db.execute("SELECT data FROM stripe_heard ORDER BY id").fetchall()
        found = []
        for (data,) in rows:
            values = json.loads(data)
            found.append(Movement(**{**values, "amount": Decimal(values["amount"]),
                                     "fee": Decimal(values["fee"])}))
        return found
