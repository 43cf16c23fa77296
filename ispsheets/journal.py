"""The tool's own record of what it did: an embedded SQLite database beside config.yaml.

The journal, not the workbook, decides what was billed, numbered, sent and charged, so a re-run,
a killed run or an owner who sorts or deletes rows never causes a duplicate or a gap.
Side effects follow one rule: key first, effect second, record third.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import sys
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ispsheets.book.fast_records import maker
from ispsheets.book.parse import TextValues, paused_gc
from ispsheets.book.records import ActivityRow, Invoice, InvoiceLine
from ispsheets.journal_seal import still_sealed, unseal, write_seal

SCHEMA_VERSION = 6


_V1 = """
        CREATE TABLE sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        CREATE TABLE invoices (
            number TEXT PRIMARY KEY,
            seq INTEGER NOT NULL UNIQUE,
            client_id TEXT NOT NULL,
            issue_date TEXT NOT NULL,
            period_start TEXT,
            period_end TEXT,
            due_date TEXT NOT NULL,
            subtotal TEXT NOT NULL,
            tax TEXT NOT NULL,
            total TEXT NOT NULL,
            lines TEXT NOT NULL,
            created_at TEXT NOT NULL,
            voided_at TEXT
        );
        CREATE INDEX invoices_client ON invoices (client_id);
        -- What an invoice billed: ('period', service/start), ('charge', charge_id), ('credit', ...)
        CREATE TABLE billed (
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            invoice_number TEXT NOT NULL REFERENCES invoices (number),
            data TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (kind, key)
        );
        -- Ids the tool gave to rows the owner left without one (charge_id, payment_id).
        CREATE TABLE assigned_ids (
            tab TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            id TEXT NOT NULL UNIQUE,
            PRIMARY KEY (tab, fingerprint)
        );
        -- Every message keyed before it is sent: pending → sent | refused | failed | unknown.
        CREATE TABLE messages (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            client_id TEXT NOT NULL,
            invoice_number TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        -- Every card charge keyed before it is attempted (its key is Stripe's idempotency key).
        CREATE TABLE card_charges (
            key TEXT PRIMARY KEY,
            invoice_number TEXT NOT NULL,
            client_id TEXT NOT NULL,
            amount TEXT NOT NULL,
            state TEXT NOT NULL,
            reference TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        -- Activity rows; written_gen is the workbook write that carried them to the Activity tab.
        CREATE TABLE activity (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            timestamp TEXT NOT NULL,
            action TEXT NOT NULL,
            client_id TEXT NOT NULL DEFAULT '',
            invoice_number TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '',
            written_gen INTEGER
        );
        CREATE INDEX activity_unwritten ON activity (written_gen);
        -- Workbook writes. A run killed between the file replace and `done` leaves a write
        -- `started`; the next run looks for its activity rows in the tab to settle it.
        CREATE TABLE writes (
            gen INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at TEXT NOT NULL,
            state TEXT NOT NULL
        );
"""

_V2 = """
        -- Side effects other than messages and card charges, keyed before they happen:
        -- late fees, suspensions, reconnections, provisioning commands, reminder stages, payments
        -- seen. pending → done | failed.
        CREATE TABLE actions (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            client_id TEXT NOT NULL DEFAULT '',
            invoice_number TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX actions_kind ON actions (kind, state);
        -- Rows the tool adds to the owner's tabs (fee Charges rows, card Payments rows): written
        -- once; a row the owner deletes afterwards (a waived fee) is never written again.
        CREATE TABLE tool_rows (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL UNIQUE,
            tab TEXT NOT NULL,
            data TEXT NOT NULL,
            created_at TEXT NOT NULL,
            written_gen INTEGER
        );
        -- One-shot cell values the tool sets in owner-or-both columns (Clients.status on
        -- suspension and reconnection): written once, then the owner's word stands.
        CREATE TABLE cell_writes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            tab TEXT NOT NULL,
            row_key TEXT NOT NULL,
            column_name TEXT NOT NULL,
            value TEXT NOT NULL,
            created_at TEXT NOT NULL,
            written_gen INTEGER
        );
        -- Clients the tool suspended and has not reconnected (or seen released by the owner).
        CREATE TABLE suspensions (
            client_id TEXT PRIMARY KEY,
            key TEXT NOT NULL,
            suspended_on TEXT NOT NULL
        );
"""

_V3 = """
        -- Rows moved to the yearly archive workbooks (`ispsheets.archive`), keyed before they
        -- move: copying (to the archive file) → copied (not yet removed from the workbook) →
        -- removed; `restored` when the owner brought them back (they never move again).
        CREATE TABLE archived (
            tab TEXT NOT NULL,
            key TEXT NOT NULL,
            year INTEGER NOT NULL,
            data TEXT NOT NULL,
            state TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (tab, key)
        );
        CREATE INDEX archived_state ON archived (state);
"""

_ARCHIVED_STATES = "('copying', 'copied', 'removed', 'restoring')"

_V4 = f"""
        -- The checkpoint that keeps a run's cost to the rows still alive (`ispsheets.archive`):
        -- an invoice keyed for the archive is settled and stays so; `archived` marks it (kept
        -- by the triggers below from the archive's own states) so runs read only the others.
        ALTER TABLE invoices ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
        -- 1 once its allocation is frozen in `frozen_applied` (0: backfilled by the next run)
        ALTER TABLE invoices ADD COLUMN frozen INTEGER NOT NULL DEFAULT 0;
        UPDATE invoices SET archived = 1 WHERE number IN (
            SELECT key FROM archived WHERE tab = 'Invoices' AND state IN {_ARCHIVED_STATES});
        CREATE INDEX invoices_live ON invoices (seq) WHERE archived = 0;
        CREATE INDEX invoices_unfrozen ON invoices (number) WHERE archived = 1 AND frozen = 0;
        CREATE TRIGGER archived_insert AFTER INSERT ON archived WHEN NEW.tab = 'Invoices'
        BEGIN
            UPDATE invoices SET archived = NEW.state IN {_ARCHIVED_STATES}
            WHERE number = NEW.key;
        END;
        CREATE TRIGGER archived_update AFTER UPDATE OF state ON archived
        WHEN NEW.tab = 'Invoices'
        BEGIN
            UPDATE invoices SET archived = NEW.state IN {_ARCHIVED_STATES}
            WHERE number = NEW.key;
        END;
        CREATE TRIGGER invoice_insert AFTER INSERT ON invoices
        BEGIN
            UPDATE invoices SET archived = EXISTS (
                SELECT 1 FROM archived WHERE tab = 'Invoices' AND key = NEW.number
                AND state IN {_ARCHIVED_STATES})
            WHERE number = NEW.number;
        END;
        -- Where the money of archived invoices came from, as the allocation had it when they
        -- were keyed: (invoice, payment id or `credit-note:NUMBER`, amount).
        CREATE TABLE frozen_applied (
            invoice_number TEXT NOT NULL,
            source TEXT NOT NULL,
            amount TEXT NOT NULL,
            PRIMARY KEY (invoice_number, source)
        );
        CREATE INDEX frozen_applied_source ON frozen_applied (source);
        -- What the report still needs of archived invoices and payments (its monthly tables
        -- and Client history reach back through archived months).
        CREATE TABLE archived_figures (
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            client_id TEXT NOT NULL,
            day TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (kind, key)
        );
        CREATE INDEX archived_figures_day ON archived_figures (day);
        -- What billing still needs of the periods archived invoices billed, per (kind, key).
        CREATE TABLE archived_billed (
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (kind, key)
        );
"""

_V5 = f"""
        -- A payment the archive took is marked on its `payment` action too, so the payments
        -- a run checks (seen before, deleted since?) are the live ones, through an index.
        ALTER TABLE actions ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
        UPDATE actions SET archived = 1 WHERE kind = 'payment' AND substr(key, 9) IN (
            SELECT key FROM archived WHERE tab = 'Payments' AND state IN {_ARCHIVED_STATES});
        CREATE INDEX actions_live ON actions (kind) WHERE archived = 0;
        CREATE TRIGGER archived_payment_insert AFTER INSERT ON archived
        WHEN NEW.tab = 'Payments'
        BEGIN
            UPDATE actions SET archived = NEW.state IN {_ARCHIVED_STATES}
            WHERE key = 'payment/' || NEW.key;
        END;
        CREATE TRIGGER archived_payment_update AFTER UPDATE OF state ON archived
        WHEN NEW.tab = 'Payments'
        BEGIN
            UPDATE actions SET archived = NEW.state IN {_ARCHIVED_STATES}
            WHERE key = 'payment/' || NEW.key;
        END;
        -- the day each frozen source's money came (a payment's date, a credit note's issue)
        ALTER TABLE frozen_applied ADD COLUMN day TEXT;
        -- what live invoices billed, read without scanning years of billed rows
        CREATE INDEX IF NOT EXISTS billed_invoice ON billed (invoice_number);
        -- a client's archived figures (the account summary of an invoice whose previous
        -- invoice is archived)
        CREATE INDEX archived_figures_client ON archived_figures (client_id, kind, day);
        -- an archived invoice's reminders and late fees are marked too
        CREATE INDEX actions_invoice ON actions (invoice_number)
            WHERE kind IN ('reminder', 'late_fee');
        UPDATE actions SET archived = 1 WHERE kind IN ('reminder', 'late_fee')
            AND invoice_number IN (SELECT number FROM invoices WHERE archived = 1);
        CREATE TRIGGER invoice_archived_actions AFTER UPDATE OF archived ON invoices
        BEGIN
            UPDATE actions SET archived = NEW.archived
            WHERE invoice_number = NEW.number AND kind IN ('reminder', 'late_fee');
        END;
        -- each client's invoices in number order (their first one: the welcome email)
        CREATE INDEX invoices_client_seq ON invoices (client_id, seq);
        CREATE TRIGGER payment_action_insert AFTER INSERT ON actions
        WHEN NEW.kind = 'payment'
        BEGIN
            UPDATE actions SET archived = EXISTS (
                SELECT 1 FROM archived WHERE tab = 'Payments' AND key = substr(NEW.key, 9)
                AND state IN {_ARCHIVED_STATES})
            WHERE key = NEW.key;
        END;
"""

_V6 = """
        -- What a run looks up among years of rows, each through a small index of its own
        -- instead of a scan of every row (at 20,000 clients with three years: 1.6 million
        -- messages, 700,000 invoices): the messages not sent (yet), the welcome emails, the
        -- archived invoices not void (the summary counts them), the tool's rows and cells
        -- not yet written. A query reaches a partial index only when its WHERE holds the
        -- index's own terms, as written here.
        CREATE INDEX messages_unsent ON messages (state) WHERE state <> 'sent';
        CREATE INDEX messages_welcome ON messages (state) WHERE kind = 'welcome';
        CREATE INDEX invoices_archived_counted ON invoices (archived)
            WHERE archived = 1 AND voided_at IS NULL;
        CREATE INDEX tool_rows_unwritten ON tool_rows (id) WHERE written_gen IS NULL;
        CREATE INDEX cell_writes_unwritten ON cell_writes (id) WHERE written_gen IS NULL;
"""

# Schema version → the SQL that brings the previous version to it. Append, never edit.
MIGRATIONS: dict[int, str] = {1: _V1, 2: _V2, 3: _V3, 4: _V4, 5: _V5, 6: _V6}



def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _line_to_json(line: InvoiceLine) -> dict[str, Any]:
    return {"line": line.line, "service_id": line.service_id, "description": line.description,
            "period_start": _iso(line.period_start), "period_end": _iso(line.period_end),
            "quantity": str(line.quantity), "unit_price": str(line.unit_price),
            "amount": str(line.amount), "tax_rate": str(line.tax_rate), "tax": str(line.tax),
            "charge_id": line.charge_id}


# a run decodes every live invoice (fast_records; its lines are made as usual: made so, each
# would hold a dict of its own, 9 MB more at 20,000 clients)
_make_invoice = maker(Invoice, "invoice_number", "client_id", "issue_date", "period_start",
                      "period_end", "due_date", "subtotal", "tax", "total", "status", "lines")


class _Decoder(TextValues):
    """Stored text back to values, each distinct text parsed once: amounts, rates and days
    repeat across thousands of invoices (Decimal and date values are immutable, so shared)."""

    def __init__(self) -> None:
        super().__init__()
        # a line's days and amounts as stored → parsed: a month's lines share a few of them
        self.figures: dict[tuple[str, ...], tuple[Any, ...]] = {}
        self.texts: dict[Any, Any] = {}  # (`key`)

    def line(self, number: str, data: dict[str, Any]) -> InvoiceLine:
        stored = (data["period_start"], data["period_end"], data["quantity"],
                  data["unit_price"], data["amount"], data["tax_rate"], data["tax"])
        figures = self.figures.get(stored)
        if figures is None:
            date, decimal = self.date, self.decimal
            start, end, quantity, unit_price, amount, tax_rate, tax = stored
            figures = self.figures[stored] = (
                date(start), date(end), decimal(quantity), decimal(unit_price), decimal(amount),
                decimal(tax_rate), decimal(tax))
        return InvoiceLine(number, data["line"], data["service_id"], data["description"],
                           *figures, data.get("charge_id", ""))

    def key(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        """A row of `_INVOICE_COLUMNS` but its lines, as `Journal._invoices` keeps it to see
        the row change: its days' and amounts' texts, which repeat, shared with the rows
        decoded before (80,000 invoices: 35 MB less)."""
        texts = self.texts
        return (*row[:3], *[texts.setdefault(text, text) for text in row[3:10]], *row[11:])

    def invoices(self, rows: list[tuple[Any, ...]]) -> list[JournalInvoice]:
        """Rows of `_INVOICE_COLUMNS`."""
        return [self.invoice(row, lines)
                for row, lines in zip(rows, _loads_all(row[10] for row in rows), strict=True)]

    def invoice(self, row: tuple[Any, ...], lines: list[dict[str, Any]]) -> JournalInvoice:
        """A row of `_INVOICE_COLUMNS`, its lines already parsed."""
        (number, seq, client_id, issue_date, period_start, period_end, due_date, subtotal, tax,
         total, _, voided_at) = row
        decimal, date = self.decimal, self.date
        invoice = _make_invoice(number, client_id, date(issue_date), date(period_start),
                                date(period_end), date(due_date), decimal(subtotal),
                                decimal(tax), decimal(total), "void" if voided_at else "open",
                                tuple([self.line(number, x) for x in lines]))
        return JournalInvoice(invoice, seq, bool(voided_at))


def _loads_all(texts: Iterable[str]) -> list[Any]:
    """Many JSON texts at once: one parse of them all is faster than one parse each."""
    return json.loads("[" + ",".join(texts) + "]")  # type: ignore[no-any-return]


# Invoices decoded at a time: their stored lines (JSON text) are let go of before the next are
# read, so the text of every invoice is never held at once (at 20,000 clients with 80,000 live
# invoices, 140 MB more for the rest of the run: freed, but not given back to the system).
DECODED_AT_ONCE = 2000

_INVOICE_COLUMNS = ("number, seq, client_id, issue_date, period_start, period_end, due_date, "
                    "subtotal, tax, total, lines, voided_at")


@dataclass(frozen=True)
class Billed:
    """One thing an invoice billed, keyed so it is billed once, ever."""

    kind: str
    key: str
    data: dict[str, Any]


@dataclass(frozen=True)
class FrozenPair:
    """What one source (payment id, `credit-note:NUMBER`) paid of an archived invoice, and the
    day its money came (None: not known, from before the day was kept)."""

    invoice_number: str
    source: str
    amount: Decimal
    day: dt.date | None = None


@dataclass(frozen=True)
class JournalInvoice:
    invoice: Invoice
    seq: int
    voided: bool


@dataclass(frozen=True)
class MessageRecord:
    key: str
    kind: str
    client_id: str
    invoice_number: str
    state: str
    detail: str
    updated_at: str


class JournalError(Exception):
    """The journal cannot be used (newer schema, corrupt file)."""


class JournalUnreadable(JournalError):
    """The file is not a journal any more (garbage, truncated, not a database): only a
    rebuild from the workbook (`ispsheets recover-journal`) brings it back."""


# SQLite's words for a file whose bytes are not (or no longer) a database.
_CORRUPT = ("SQLITE_NOTADB", "SQLITE_CORRUPT")


class Journal:
    """A thin, typed API over the SQLite file; every method is one short transaction."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self.path = path
        # When its pages were last fully checked, for a journal sealed when it closes
        # (`journal_seal`); None: not sealed.
        self._checked_at: float | None = None
        # Invoices decoded before: number → (the row's columns but `lines`, the invoice).
        self._decoded: dict[str, tuple[tuple[Any, ...], JournalInvoice]] = {}
        # A dry run's journal on its file: one transaction, rolled back when it closes
        # (`rehearse`); `_in_step`: one of its steps' transactions is open (a savepoint).
        self._rehearsing = False
        self._in_step = False

    # -- opening and migrating -----------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, sealed: bool = False, trust_seal: bool = False) -> Journal:
        """The journal at `path` (a new one if there is no file); JournalUnreadable when the
        file is garbage, truncated or damaged, JournalError when SQLite cannot use it.

        Every page is checked (`PRAGMA quick_check`) unless `sealed` or `trust_seal` and the
        file is exactly as the last sealed close left it (`journal_seal`). A `sealed` journal
        is unsealed now and sealed again when it closes (the run, through `journal_guard`);
        `trust_seal` leaves the seal alone (the owner's other commands: whatever they write
        changes the file, and with it what the seal describes, so the next open checks)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        checked_at = still_sealed(path, time.time()) if sealed or trust_seal else None
        if sealed:
            unseal(path)  # a command killed or stopped half-way leaves none
        db = sqlite3.connect(path, isolation_level=None, timeout=30)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            if checked_at is None:
                checked_at = time.time()
                damage = [row[0] for row in db.execute("PRAGMA quick_check")]
                if damage != ["ok"]:
                    raise JournalUnreadable(f"is damaged ({'; '.join(damage[:3])})")
            journal = cls(db, path)
            journal._migrate()
            journal._checked_at = checked_at if sealed else None
        except sqlite3.DatabaseError as exc:
            db.close()
            if getattr(exc, "sqlite_errorname", "") in _CORRUPT:
                raise JournalUnreadable(f"cannot be read ({exc}): the file is damaged or is "
                                        "not a journal") from exc
            raise JournalError(f"cannot be opened ({exc})") from exc
        except BaseException:
            db.close()
            raise
        return journal

    @classmethod
    def read_only(cls, path: Path) -> Journal:
        """The journal opened for reading only (the portal): no migration, nothing written."""
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=10)
        db.row_factory = sqlite3.Row
        return cls(db, path)

    @classmethod
    def memory(cls) -> Journal:
        """A throwaway journal for --dry-run and tests."""
        db = sqlite3.connect(":memory:", isolation_level=None)
        db.row_factory = sqlite3.Row
        journal = cls(db, Path(":memory:"))
        journal._migrate()
        return journal

    def rehearse(self) -> Journal:
        """This journal for a dry run too big to copy into memory (`DRY_RUN_COPY_BYTES`): the
        whole dry run is one transaction on the file, rolled back when the journal closes, so
        nothing it writes is ever committed; each of its `transaction`s is a savepoint, undone
        on an error as a real run's transaction would be. While the dry run writes, it holds
        the journal's write lock: a run started meanwhile waits (up to 30 s) for it."""
        self._db.execute("BEGIN")
        self._rehearsing = True
        return self

    def copy_to_memory(self) -> Journal:
        """An in-memory copy: --dry-run plans against real state and changes nothing on disk."""
        target = sqlite3.connect(":memory:", isolation_level=None)
        self._db.backup(target)
        target.row_factory = sqlite3.Row
        return Journal(target, Path(":memory:"))

    def close(self) -> None:
        """Close it; a journal opened `sealed` is sealed as it is now, unless it was distrusted
        or is closed while an error is on its way out (the next open checks every page)."""
        if self._rehearsing:
            with contextlib.suppress(sqlite3.Error):  # (SQLite may have rolled back itself)
                self._db.execute("ROLLBACK")
            self._rehearsing = False
        self._db.close()
        if self._checked_at is not None and sys.exc_info()[0] is None:
            write_seal(self.path, self._checked_at)
        self._checked_at = None

    def distrust(self) -> None:
        """SQLite found it damaged while in use: no seal, so the next open checks every page."""
        self._checked_at = None
        unseal(self.path)

    @property
    def version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.version
        if current > SCHEMA_VERSION:
            raise JournalError(f"{self.path} was written by a newer ispsheets "
                               f"(schema {current} > {SCHEMA_VERSION}); upgrade ispsheets")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            self._db.executescript(f"BEGIN IMMEDIATE;\n{MIGRATIONS[version]};\n"
                                   f"PRAGMA user_version = {version};\nCOMMIT;")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT; nested use joins the outer transaction. In a rehearsal
        (`rehearse`) a savepoint, released or rolled back to, in the dry run's transaction."""
        if self._rehearsing and not self._in_step:
            self._in_step = True
            self._db.execute("SAVEPOINT step")
            try:
                yield self._db
                self._db.execute("RELEASE step")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # (rolled back whole after a disk full)
                    self._db.execute("ROLLBACK TO step")
                    self._db.execute("RELEASE step")
                self._decoded.clear()
                raise
            finally:
                self._in_step = False
            return
        if self._db.in_transaction:
            yield self._db
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # SQLite has rolled back itself after a disk full
                self._db.execute("ROLLBACK")
            self._decoded.clear()  # it may hold invoices that are not there any more
            raise

    # -- sequences and ids ---------------------------------------------------------------------

    def peek_seq(self, name: str) -> int:
        """The next number `name` would get (1 for a new journal)."""
        row = self._db.execute("SELECT value FROM sequences WHERE name = ?", (name,)).fetchone()
        return (row["value"] if row else 0) + 1

    def _take_seq(self, name: str, value: int) -> None:
        expected = self.peek_seq(name)
        if value != expected:
            raise JournalError(f"sequence {name}: expected {expected}, got {value}")
        self._db.execute("INSERT INTO sequences VALUES (?, ?) ON CONFLICT(name) DO UPDATE "
                         "SET value = excluded.value", (name, value))

    def assign_id(self, tab: str, fingerprint: str, make: Callable[[int], str],
                  taken: Collection[str] = ()) -> str:
        """The id given to an id-less row: the same fingerprint always gets the same id.

        Numbers whose id the owner already typed somewhere (`taken`) are passed over.
        """
        with self.transaction() as db:
            row = db.execute("SELECT id FROM assigned_ids WHERE tab = ? AND fingerprint = ?",
                             (tab, fingerprint)).fetchone()
            if row:
                return str(row["id"])
            seq = self.peek_seq(f"id:{tab}")
            while make(seq) in taken:
                seq += 1
            db.execute("INSERT INTO sequences VALUES (?, ?) ON CONFLICT(name) DO UPDATE "
                       "SET value = excluded.value", (f"id:{tab}", seq))
            new_id = make(seq)
            db.execute("INSERT INTO assigned_ids VALUES (?, ?, ?)", (tab, fingerprint, new_id))
            return new_id

    # -- invoices ------------------------------------------------------------------------------

    def record_invoices(self, issued: Iterable[tuple[Invoice, int, Iterable[Billed]]],
                        now: dt.datetime) -> None:
        """Numbers, invoices and what they bill, all in one transaction: all or nothing."""
        with self.transaction() as db:
            for invoice, seq, billed in issued:
                self._take_seq("invoice", seq)
                db.execute(
                    "INSERT INTO invoices (number, seq, client_id, issue_date, period_start, "
                    "period_end, due_date, subtotal, tax, total, lines, created_at, voided_at) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,NULL)",
                    (invoice.invoice_number, seq, invoice.client_id, _iso(invoice.issue_date),
                     _iso(invoice.period_start), _iso(invoice.period_end),
                     _iso(invoice.due_date), str(invoice.subtotal), str(invoice.tax),
                     str(invoice.total), json.dumps([_line_to_json(x) for x in invoice.lines]),
                     now.isoformat()))
                db.executemany("INSERT INTO billed VALUES (?,?,?,?)",
                               [(b.kind, b.key, invoice.invoice_number, json.dumps(b.data))
                                for b in billed])

    def invoices(self, include_archived: bool = False) -> list[JournalInvoice]:
        """Every invoice still alive (all, with `include_archived`), in number order. An
        archived invoice is settled for good: runs continue from the archive's checkpoint.

        A recorded invoice never changes but for being voided, so each row is decoded once per
        Journal object and reused while its columns (all but `lines`) stay the same; a rolled
        back transaction forgets them all.
        """
        with paused_gc():
            return self._invoices("" if include_archived else "WHERE archived = 0 ")

    def archived_invoices(self, numbers: Iterable[str]) -> list[JournalInvoice]:
        """These invoices if they are archived (for a refund that names one)."""
        wanted = list(numbers)
        rows = [row for start in range(0, len(wanted), 500) for row in self._rows(
            f"SELECT {_INVOICE_COLUMNS} FROM invoices WHERE archived = 1 AND number IN "
            f"({','.join('?' * len(wanted[start:start + 500]))})", wanted[start:start + 500])]
        return _Decoder().invoices(sorted(rows, key=lambda row: row[1]))

    def _invoices(self, where: str) -> list[JournalInvoice]:
        decoded, decoder = self._decoded, _Decoder()
        if not decoded:
            result = []
            for rows in self._chunks(f"SELECT {_INVOICE_COLUMNS} FROM invoices {where}"
                                     "ORDER BY seq", DECODED_AT_ONCE):
                for row, invoice in zip(rows, decoder.invoices(rows), strict=True):
                    decoded[row[0]] = (decoder.key(row), invoice)
                    result.append(invoice)
            return result
        keys = self._rows(f"SELECT {_INVOICE_COLUMNS.replace(' lines,', '')} FROM invoices "
                          f"{where}ORDER BY seq")
        stale = [key[0] for key in keys if decoded.get(key[0], ((),))[0] != key]
        for start in range(0, len(stale), 500):
            numbers = stale[start:start + 500]
            rows = self._rows(f"SELECT {_INVOICE_COLUMNS} FROM invoices WHERE number IN "
                              f"({','.join('?' * len(numbers))})", numbers)
            for row, invoice in zip(rows, decoder.invoices(rows), strict=True):
                decoded[row[0]] = (decoder.key(row), invoice)
        return [decoded[key[0]][1] for key in keys]

    def invoice_numbers(self, live: bool = False) -> set[str]:
        """The number of every invoice the journal knows (`live`: not archived)."""
        return {row[0] for row in self._rows(
            "SELECT number FROM invoices" + (" WHERE archived = 0" if live else ""))}

    def unknown_invoices(self, numbers: Iterable[str]) -> set[str]:
        """Those of `numbers` the journal knows no invoice of (a lookup each)."""
        return {row[0] for row in self._with_wanted(numbers, (
            "SELECT w.key FROM temp.wanted w WHERE NOT EXISTS "
            "(SELECT 1 FROM invoices i WHERE i.number = w.key)"))}

    def invoice(self, number: str) -> JournalInvoice | None:
        """One invoice, with its lines."""
        rows = self._rows(f"SELECT {_INVOICE_COLUMNS} FROM invoices WHERE number = ?", (number,))
        return _Decoder().invoices(rows)[0] if rows else None

    def voided_numbers(self) -> list[str]:
        """The numbers of the invoices the owner voided."""
        return [row[0] for row in self._rows(
            "SELECT number FROM invoices WHERE voided_at IS NOT NULL ORDER BY seq")]

    def _rows(self, query: str, parameters: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows as plain tuples (faster than `sqlite3.Row` for wide scans)."""
        cursor = self._db.cursor()
        cursor.row_factory = None
        return cursor.execute(query, tuple(parameters)).fetchall()

    def _chunks(self, query: str, size: int) -> Iterator[list[tuple[Any, ...]]]:
        """`_rows`, `size` rows at a time."""
        cursor = self._db.cursor()
        cursor.row_factory = None
        cursor.execute(query)
        while rows := cursor.fetchmany(size):
            yield rows

    def billed(self, kind: str | None = None) -> list[tuple[Billed, str]]:
        """Everything billed (of one kind), with the invoice number that billed it."""
        query = ("SELECT kind, key, data, invoice_number FROM billed"
                 + (" WHERE kind = ?" if kind else ""))
        rows = self._rows(query, (kind,) if kind else ())
        with paused_gc():
            return [(Billed(k, key, data), number)
                    for (k, key, _, number), data in zip(rows, _loads_all(r[2] for r in rows),
                                                         strict=True)]

    def _billed_rows(self, query: str, parameters: Iterable[Any] = ()
                     ) -> list[tuple[Billed, str]]:
        rows = self._rows(query, parameters)
        with paused_gc():
            return [(Billed(k, key, data), number)
                    for (k, key, _, number), data in zip(rows, _loads_all(r[2] for r in rows),
                                                         strict=True)]

    def billed_live(self) -> list[tuple[Billed, str]]:
        """What the invoices not in the archive billed (`billed()` without archived years)."""
        return self._billed_rows(
            "SELECT b.kind, b.key, b.data, b.invoice_number FROM invoices AS i "
            "JOIN billed AS b ON b.invoice_number = i.number "
            "WHERE i.archived = 0")

    def billed_spans(self, *, live: bool) -> list[tuple[Any, ...]]:
        """The period and credit rows (of the invoices not in the archive, or of all), light:
        `(kind, key, service_id, start, end, credit data, invoice number)`, a period's
        service_id, start and end as its JSON holds them (not the rest of it), a credit's
        JSON text whole (None for a period). One pass over the live invoices' rows through
        their index: the invoices first, then the rows each billed."""
        source = ("invoices AS i CROSS JOIN billed AS b ON b.invoice_number = i.number "
                  "WHERE i.archived = 0 AND" if live else "billed AS b WHERE")
        period = "CASE b.kind WHEN 'period' THEN json_extract(b.data, '$.{}') END"
        return self._rows(
            f"SELECT b.kind, b.key, {period.format('service_id')}, {period.format('start')}, "
            f"{period.format('end')}, CASE b.kind WHEN 'credit' THEN b.data END, "
            f"b.invoice_number FROM {source} b.kind IN ('period', 'credit')")

    def billed_periods(self, keys: Iterable[str]) -> list[tuple[Billed, str]]:
        """The billed periods of these keys, whole (those the journal has), with their invoice
        numbers: a lookup each through the primary key, in one query."""
        rows = self._with_wanted(keys, (
            "SELECT b.kind, b.key, b.data, b.invoice_number FROM temp.wanted w "
            "JOIN billed b ON b.kind = 'period' AND b.key = w.key"))
        with paused_gc():
            return [(Billed(k, key, data), number)
                    for (k, key, _, number), data in zip(rows, _loads_all(r[2] for r in rows),
                                                         strict=True)]

    def billed_by(self, numbers: Iterable[str]) -> list[tuple[Billed, str]]:
        """What these invoices billed."""
        result: list[tuple[Billed, str]] = []
        for chunk in _chunks(list(numbers)):
            result += self._billed_rows(
                "SELECT kind, key, data, invoice_number FROM billed WHERE invoice_number IN "
                f"({','.join('?' * len(chunk))})", chunk)
        return result

    def billed_keys(self, kind: str, keys: Iterable[str]) -> set[str]:
        """Which of these keys of one kind were billed (by any invoice, archived or not)."""
        found: set[str] = set()
        for chunk in _chunks(list(set(keys))):
            found.update(row[0] for row in self._rows(
                f"SELECT key FROM billed WHERE kind = ? AND key IN ({','.join('?' * len(chunk))})",
                [kind, *chunk]))
        return found

    def billed_of_services(self, service_ids: Iterable[str], *, frozen_only: bool = False
                           ) -> list[tuple[Billed, str]]:
        """Every period and credit billed for these services (by any invoice, or by those
        frozen for the archive only)."""
        result: list[tuple[Billed, str]] = []
        for service_id in set(service_ids):
            # keys `SERVICE/YYYY-MM-DD`: the primary key's range of the prefix ('0' follows '/')
            rows = self._billed_rows(
                "SELECT b.kind, b.key, b.data, b.invoice_number FROM billed AS b "
                + ("JOIN invoices AS i ON i.number = b.invoice_number AND i.frozen = 1 "
                   if frozen_only else "")
                + "WHERE b.kind IN ('period', 'credit') AND b.key > ? AND b.key < ?",
                (f"{service_id}/", f"{service_id}0"))
            result += [row for row in rows if row[0].key.rpartition("/")[0] == service_id]
        return result

    def archived_billed_of(self, kind: str, keys: Iterable[str]) -> dict[str, Any]:
        """key → data of these keys of the summary (those it has)."""
        assert kind.isidentifier(), kind  # a word of the code's, written into the query
        rows = self._with_wanted(keys, (
            "SELECT a.key, a.data FROM temp.wanted w "
            f"JOIN archived_billed a ON a.kind = '{kind}' AND a.key = w.key"))
        with paused_gc():
            return dict(zip((r[0] for r in rows), _loads_all(r[1] for r in rows), strict=True))

    def drop_archived_billed(self, kind: str, keys: Iterable[str]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM archived_billed WHERE kind = ? AND key = ?",
                           [(kind, key) for key in keys])

    def frozen_among(self, numbers: Iterable[str]) -> set[str]:
        """Which of these invoices are marked frozen already."""
        return {row[0] for row in self._with_wanted(numbers, (
            "SELECT i.number FROM temp.wanted w JOIN invoices i ON i.number = w.key "
            "WHERE i.frozen = 1"))}

    def has_archived_billed(self) -> bool:
        return bool(self._rows("SELECT 1 FROM archived_billed LIMIT 1"))

    def put_archived_billed(self, kind: str, items: Mapping[str, Any]) -> None:
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO archived_billed VALUES (?, ?, ?)",
                           [(kind, key, json.dumps(data, sort_keys=True))
                            for key, data in items.items()])

    def voided_among(self, numbers: Iterable[str]) -> set[str]:
        """Which of these invoices are voided."""
        return {row[0] for row in self._with_wanted(numbers, (
            "SELECT i.number FROM temp.wanted w JOIN invoices i ON i.number = w.key "
            "WHERE i.voided_at IS NOT NULL"))}

    def reopened_numbers(self) -> list[str]:
        """Invoices frozen for the archive that are not archived (restored, or keyed and then
        not moved): what the checkpoint says of them may be out of date."""
        restored = [row[0] for row in self._rows(
            "SELECT key FROM archived WHERE state = 'restored' AND tab = 'Invoices'")]
        live_frozen = [row[0] for row in self._rows(
            "SELECT number FROM invoices WHERE archived = 0 AND frozen = 1")]
        return sorted({*restored, *live_frozen})

    def first_invoices(self, since: str = "") -> dict[str, tuple[str, str]]:
        """client_id → (number, created_at) of each client's first invoice (void or not),
        for the clients whose first invoice was recorded at `since` or later (ISO text):
        looked up for the clients with a live invoice recorded since then, one index seek
        each."""
        rows = self._rows(
            "WITH recent(client_id) AS (SELECT DISTINCT client_id FROM invoices "
            "INDEXED BY invoices_live WHERE archived = 0 AND created_at >= ?) "
            "SELECT r.client_id, f.number, f.created_at FROM recent r CROSS JOIN invoices f "
            "ON f.seq = (SELECT seq FROM invoices WHERE client_id = r.client_id "
            "ORDER BY seq LIMIT 1) WHERE f.created_at >= ?", (since, since))
        return {client: (number, created) for client, number, created in rows}

    def void(self, number: str, at: dt.datetime) -> bool:
        """Mark an invoice void (the owner's word); True if it was not void before."""
        with self.transaction() as db:
            cursor = db.execute("UPDATE invoices SET voided_at = ? WHERE number = ? "
                                "AND voided_at IS NULL", (at.isoformat(), number))
            return cursor.rowcount > 0

    # -- messages ------------------------------------------------------------------------------

    def message(self, key: str) -> MessageRecord | None:
        row = self._db.execute("SELECT * FROM messages WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return MessageRecord(row["key"], row["kind"], row["client_id"], row["invoice_number"],
                             row["state"], row["detail"], row["updated_at"])

    def messages(self, state: str | None = None, kind: str | None = None
                 ) -> list[MessageRecord]:
        """Messages (in one state, of one kind), by key. Those not sent and the welcome emails
        are found through their indexes (`_V6`), without reading years of sent ones."""
        where = []
        for column, value in (("state", state), ("kind", kind)):
            if value:
                assert value.replace("_", "").isalnum(), value  # a word of the code's
                where.append(f"{column} = '{value}'")  # as written: the index's own terms
        if state and state != "sent":
            where.append("state <> 'sent'")  # through messages_unsent
        query = ("SELECT key, kind, client_id, invoice_number, state, detail, updated_at "
                 "FROM messages" + (" WHERE " + " AND ".join(where) if where else "")
                 + " ORDER BY key")
        return [MessageRecord(*row) for row in self._rows(query)]

    def sent_invoice_times(self) -> list[tuple[str, str]]:
        """(invoice number, when) of the invoice email of every live invoice that was sent:
        the columns Invoices.sent_at needs, without whole records (and not for the years of
        invoices in the archive)."""
        return self._rows(  # type: ignore[return-value]
            "SELECT i.number, m.updated_at FROM invoices i CROSS JOIN messages m "
            "ON m.key = 'invoice/' || i.number WHERE i.archived = 0 AND m.state = 'sent' "
            "AND m.kind = 'invoice' ORDER BY i.seq")

    def begin_message(self, key: str, kind: str, client_id: str, invoice_number: str,
                      now: dt.datetime, transport: str = "") -> None:
        """Key a message before it is sent (state `pending`, detail = the transport used)."""
        with self.transaction() as db:
            db.execute("INSERT INTO messages VALUES (?,?,?,?,'pending',?,?,?) "
                       "ON CONFLICT(key) DO UPDATE SET state = 'pending', "
                       "detail = excluded.detail, updated_at = excluded.updated_at",
                       (key, kind, client_id, invoice_number, transport, now.isoformat(),
                        now.isoformat()))

    def finish_message(self, key: str, state: str, detail: str, now: dt.datetime) -> None:
        with self.transaction() as db:
            db.execute("UPDATE messages SET state = ?, detail = ?, updated_at = ? WHERE key = ?",
                       (state, detail, now.isoformat(), key))

    # -- card charges --------------------------------------------------------------------------

    def card_charge(self, key: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT * FROM card_charges WHERE key = ?", (key,)).fetchone()
        return dict(row) if row else None

    def begin_card_charge(self, key: str, invoice_number: str, client_id: str, amount: Decimal,
                          now: dt.datetime) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO card_charges VALUES (?,?,?,?,'pending','','',?,?)",
                       (key, invoice_number, client_id, str(amount), now.isoformat(),
                        now.isoformat()))

    def finish_card_charge(self, key: str, state: str, reference: str, detail: str,
                           now: dt.datetime) -> None:
        with self.transaction() as db:
            db.execute("UPDATE card_charges SET state = ?, reference = ?, detail = ?, "
                       "updated_at = ? WHERE key = ?",
                       (state, reference, detail, now.isoformat(), key))

    # -- activity and workbook writes ----------------------------------------------------------

    def log(self, row: ActivityRow) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO activity (timestamp, action, client_id, invoice_number, "
                       "detail) VALUES (?,?,?,?,?)",
                       (row.timestamp.isoformat(timespec="seconds"), row.action, row.client_id,
                        row.invoice_number, row.detail))

    def unwritten_activity(self) -> list[tuple[int, ActivityRow]]:
        rows = self._db.execute("SELECT * FROM activity WHERE written_gen IS NULL "
                                "ORDER BY id").fetchall()
        return [(r["id"], ActivityRow(dt.datetime.fromisoformat(r["timestamp"]), r["action"],
                                      r["client_id"], r["invoice_number"], r["detail"]))
                for r in rows]

    def activity(self) -> list[ActivityRow]:
        rows = self._db.execute("SELECT * FROM activity ORDER BY id").fetchall()
        return [ActivityRow(dt.datetime.fromisoformat(r["timestamp"]), r["action"],
                            r["client_id"], r["invoice_number"], r["detail"]) for r in rows]

    def begin_write(self, activity_ids: Iterable[int], now: dt.datetime) -> int:
        """Note a workbook write and what it carries: the given activity rows and every unwritten
        tool row and cell write. Returns its generation."""
        with self.transaction() as db:
            gen = db.execute("INSERT INTO writes (started_at, state) VALUES (?, 'started')",
                             (now.isoformat(),)).lastrowid
            assert gen is not None
            db.executemany("UPDATE activity SET written_gen = ? WHERE id = ?",
                           [(gen, i) for i in activity_ids])
            db.execute("UPDATE tool_rows SET written_gen = ? WHERE written_gen IS NULL", (gen,))
            db.execute("UPDATE cell_writes SET written_gen = ? WHERE written_gen IS NULL", (gen,))
            return gen

    def finish_write(self, gen: int) -> None:
        with self.transaction() as db:
            db.execute("UPDATE writes SET state = 'done' WHERE gen = ?", (gen,))

    def abandon_write(self, gen: int) -> None:
        """The write did not happen: what it carried goes back in the queue."""
        with self.transaction() as db:
            for table in ("activity", "tool_rows", "cell_writes"):
                db.execute(f"UPDATE {table} SET written_gen = NULL WHERE written_gen = ?",
                           (gen,))
            db.execute("UPDATE writes SET state = 'abandoned' WHERE gen = ?", (gen,))

    def written_since(self, gen: int) -> WrittenSince:
        """What writes after `gen` carried: for a workbook put back from an older copy."""
        activity = [(r["id"], ActivityRow(dt.datetime.fromisoformat(r["timestamp"]),
                                           r["action"], r["client_id"], r["invoice_number"],
                                           r["detail"]))
                    for r in self._db.execute("SELECT * FROM activity WHERE written_gen > ? "
                                              "ORDER BY id", (gen,))]
        rows = [(r["id"], ToolRow(r["key"], r["tab"], json.loads(r["data"])))
                for r in self._db.execute("SELECT * FROM tool_rows WHERE written_gen > ? "
                                          "ORDER BY id", (gen,))]
        cells = [(r["id"], CellWrite(r["tab"], r["row_key"], r["column_name"], r["value"]))
                 for r in self._db.execute("SELECT * FROM cell_writes WHERE written_gen > ? "
                                           "ORDER BY id", (gen,))]
        return WrittenSince(activity, rows, cells)

    def requeue(self, activity: Iterable[int] = (), tool_rows: Iterable[int] = (),
                cell_writes: Iterable[int] = ()) -> None:
        """Write these again with the next workbook write (they are missing from the file)."""
        with self.transaction() as db:
            for table, ids in (("activity", activity), ("tool_rows", tool_rows),
                               ("cell_writes", cell_writes)):
                db.executemany(f"UPDATE {table} SET written_gen = NULL WHERE id = ?",
                               [(i,) for i in ids])

    def last_write(self) -> int:
        """The generation of the newest workbook write known to have reached the file (0: none);
        it is also stamped into the workbook, so an older file shows an older number."""
        row = self._db.execute("SELECT max(gen) FROM writes WHERE state = 'done'").fetchone()
        return int(row[0] or 0)

    def newest_write(self) -> int:
        """The newest write generation handed out, whatever became of it (0: none)."""
        row = self._db.execute("SELECT max(gen) FROM writes").fetchone()
        return int(row[0] or 0)

    def unfinished_writes(self) -> dict[int, list[ActivityRow]]:
        """Writes never confirmed, with the activity rows each carried."""
        gens = [r["gen"] for r in self._db.execute(
            "SELECT gen FROM writes WHERE state = 'started' ORDER BY gen")]
        result: dict[int, list[ActivityRow]] = {}
        for gen in gens:
            rows = self._db.execute("SELECT * FROM activity WHERE written_gen = ? ORDER BY id",
                                    (gen,)).fetchall()
            result[gen] = [ActivityRow(dt.datetime.fromisoformat(r["timestamp"]), r["action"],
                                       r["client_id"], r["invoice_number"], r["detail"])
                           for r in rows]
        return result

    # -- actions: fees, suspensions, commands, reminder stages, payments seen -------------------

    def action(self, key: str) -> ActionRecord | None:
        row = self._db.execute("SELECT * FROM actions WHERE key = ?", (key,)).fetchone()
        return _action(row) if row else None

    def actions(self, kind: str, state: str | None = None, live: bool = False,
                pending: bool = False) -> list[ActionRecord]:
        """The actions of one kind (in one state; `pending`: not done); `live`: not of a
        payment or an invoice (its reminders and late fees) the archive took."""
        query = ("SELECT key, kind, client_id, invoice_number, state, detail, updated_at "
                 "FROM actions WHERE kind = ?" + (" AND state = ?" if state else "")
                 + (" AND state <> 'done'" if pending else "")
                 + (" AND archived = 0" if live else ""))
        return [ActionRecord(*row) for row in self._rows(query + " ORDER BY key",
                                                         (kind, state) if state else (kind,))]

    def reminded_stages(self) -> list[tuple[str, str]]:
        """(invoice number, stage) of every reminder stage sent for an invoice still in the
        workbook (`reminder/INV-…/STAGE`, done)."""
        return [(number, key.rsplit("/", 1)[-1]) for key, number in self._rows(
            "SELECT key, invoice_number FROM actions WHERE kind = 'reminder' AND state = 'done' "
            "AND archived = 0")]

    def action_details(self, kind: str, state: str | None = None, live: bool = False
                       ) -> dict[str, str]:
        """key → detail of the actions of one kind (in one state; `live`: not of a payment
        the archive took): a year of payments seen, without building a record each."""
        query = ("SELECT key, detail FROM actions WHERE kind = ?"
                 + (" AND state = ?" if state else "") + (" AND archived = 0" if live else ""))
        return dict(self._rows(query, (kind, state) if state else (kind,)))  # type: ignore[arg-type]

    def begin_action(self, key: str, kind: str, client_id: str, invoice_number: str,
                     now: dt.datetime, detail: str = "") -> bool:
        """Key an action before it is done; False if it is already done (do nothing)."""
        with self.transaction() as db:
            row = db.execute("SELECT state FROM actions WHERE key = ?", (key,)).fetchone()
            if row and row["state"] == "done":
                return False
            db.execute("INSERT INTO actions (key, kind, client_id, invoice_number, state, detail, "
                       "created_at, updated_at) VALUES (?,?,?,?,'pending',?,?,?) "
                       "ON CONFLICT(key) DO UPDATE SET state = 'pending', "
                       "updated_at = excluded.updated_at",
                       (key, kind, client_id, invoice_number, detail, now.isoformat(),
                        now.isoformat()))
            return True

    def finish_action(self, key: str, state: str, detail: str, now: dt.datetime) -> None:
        with self.transaction() as db:
            db.execute("UPDATE actions SET state = ?, detail = ?, updated_at = ? WHERE key = ?",
                       (state, detail, now.isoformat(), key))

    def record_action(self, key: str, kind: str, client_id: str, invoice_number: str,
                      now: dt.datetime, detail: str = "") -> bool:
        """An action that is its own record (nothing outside happens): done at once.
        False if it was done before."""
        with self.transaction():
            if not self.begin_action(key, kind, client_id, invoice_number, now, detail):
                return False
            self.finish_action(key, "done", detail, now)
            return True

    # -- tool rows and cell writes -------------------------------------------------------------

    def add_tool_row(self, key: str, tab: str, values: dict[str, Any], now: dt.datetime) -> bool:
        """Queue a row for an owner tab, once per key; False if the key was queued before."""
        with self.transaction() as db:
            cursor = db.execute("INSERT OR IGNORE INTO tool_rows (key, tab, data, created_at) "
                                "VALUES (?,?,?,?)",
                                (key, tab, json.dumps(values, default=_json_default),
                                 now.isoformat()))
            return cursor.rowcount > 0

    def unwritten_tool_rows(self) -> list[ToolRow]:
        rows = self._db.execute("SELECT * FROM tool_rows WHERE written_gen IS NULL ORDER BY id")
        return [ToolRow(r["key"], r["tab"], json.loads(r["data"])) for r in rows]

    def tool_rows(self, tab: str) -> list[ToolRow]:
        rows = self._db.execute("SELECT * FROM tool_rows WHERE tab = ? ORDER BY id", (tab,))
        return [ToolRow(r["key"], r["tab"], json.loads(r["data"])) for r in rows]

    def add_cell_write(self, tab: str, row_key: str, column: str, value: str,
                       now: dt.datetime) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO cell_writes (tab, row_key, column_name, value, created_at) "
                       "VALUES (?,?,?,?,?)", (tab, row_key, column, value, now.isoformat()))

    def unwritten_cell_writes(self) -> list[CellWrite]:
        rows = self._db.execute("SELECT * FROM cell_writes WHERE written_gen IS NULL "
                                "ORDER BY id")
        return [CellWrite(r["tab"], r["row_key"], r["column_name"], r["value"]) for r in rows]

    # -- suspensions ---------------------------------------------------------------------------

    def suspensions(self) -> dict[str, tuple[str, dt.date]]:
        """client_id → (key, day suspended) for clients the tool suspended."""
        rows = self._db.execute("SELECT * FROM suspensions ORDER BY client_id")
        return {r["client_id"]: (r["key"], dt.date.fromisoformat(r["suspended_on"]))
                for r in rows}

    def add_suspension(self, client_id: str, key: str, day: dt.date) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO suspensions VALUES (?,?,?)",
                       (client_id, key, day.isoformat()))

    def end_suspension(self, client_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM suspensions WHERE client_id = ?", (client_id,))

    def suspension_history(self) -> list[tuple[str, dt.date]]:
        """(client_id, day) of every suspension the tool made, for the reports."""
        return [(a.client_id, dt.date.fromisoformat(a.detail[:10]))
                for a in self.actions("suspend", "done") if a.detail[:10]]

    # -- recovery (`ispsheets recover-journal`) ------------------------------------------------

    def add_recovered_invoice(self, invoice: Invoice, seq: int, billed: Iterable[Billed],
                              voided_at: dt.datetime | None, now: dt.datetime) -> None:
        """An invoice rebuilt from the workbook, with what it billed (no sequence check:
        `set_sequence` sets the next number once all are in)."""
        with self.transaction() as db:
            db.execute("INSERT INTO invoices (number, seq, client_id, issue_date, period_start, "
                       "period_end, due_date, subtotal, tax, total, lines, created_at, voided_at) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       (invoice.invoice_number, seq, invoice.client_id,
                        _iso(invoice.issue_date), _iso(invoice.period_start),
                        _iso(invoice.period_end), _iso(invoice.due_date), str(invoice.subtotal),
                        str(invoice.tax), str(invoice.total),
                        json.dumps([_line_to_json(x) for x in invoice.lines]), now.isoformat(),
                        _iso(voided_at)))
            db.executemany("INSERT OR IGNORE INTO billed VALUES (?,?,?,?)",
                           [(b.kind, b.key, invoice.invoice_number, json.dumps(b.data))
                            for b in billed])

    def set_sequence(self, name: str, value: int) -> None:
        """The last number `name` gave out (never lowered)."""
        with self.transaction() as db:
            db.execute("INSERT INTO sequences VALUES (?, ?) ON CONFLICT(name) DO UPDATE "
                       "SET value = max(value, excluded.value)", (name, value))

    def add_written_activity(self, rows: Iterable[ActivityRow], gen: int,
                             now: dt.datetime) -> None:
        """Activity rows already on the tab (written by write `gen`, recorded as done), and
        every tool row and cell write queued so far with them."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO writes (gen, started_at, state) "
                       "VALUES (?, ?, 'done')", (gen, now.isoformat()))
            db.executemany("INSERT INTO activity (timestamp, action, client_id, "
                           "invoice_number, detail, written_gen) VALUES (?,?,?,?,?,?)",
                           [(r.timestamp.isoformat(timespec="seconds"), r.action, r.client_id,
                             r.invoice_number, r.detail, gen) for r in rows])
            for table in ("tool_rows", "cell_writes"):
                db.execute(f"UPDATE {table} SET written_gen = ? WHERE written_gen IS NULL",
                           (gen,))

    def pinned_file(self) -> sqlite3.Connection | None:
        """A read transaction (on a connection of its own, usable from another thread) under
        which the journal's file holds all of the journal and stays as it is: every write is
        folded into the file first, and while the transaction is open no checkpoint may write
        past it, so later writes wait in the write-ahead log. The file can then be copied as
        plain bytes while the run goes on. None when that cannot be had now (not a WAL-mode
        file, or another process keeps log frames unfolded): copy with `backup_to` then.
        Close the connection to let checkpoints run again."""
        if not self.path.is_file() or self._db.in_transaction:
            return None
        pin = sqlite3.connect(self.path, isolation_level=None, timeout=30,
                              check_same_thread=False)
        try:
            self._db.execute("PRAGMA wal_checkpoint(FULL)").fetchone()  # waits for readers
            pin.execute("BEGIN")
            pin.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot
            busy, frames, folded = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            pin.close()
            return None
        # every frame of the log is in the file, and none may be past the snapshot (a
        # checkpoint never folds what a reader cannot see): the file is the snapshot
        if busy == 0 and 0 <= frames == folded:
            return pin
        pin.close()
        return None

    def backup_to(self, target: Path) -> None:
        """A consistent copy of the journal in one file at `target` (SQLite's backup API),
        written beside it and renamed into place."""
        temp = target.with_name(f".{target.name}.tmp")
        temp.unlink(missing_ok=True)
        copy = sqlite3.connect(temp, isolation_level=None)
        try:
            self._db.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
        temp.replace(target)

    # -- the archive -------------------------------------------------------------------------

    def begin_archive(self, rows: Iterable[ArchivedRow], now: dt.datetime) -> None:
        """Key the rows about to move (state `copying`); a row keyed before keeps its state.
        `rows` are written as they come (a generator is never held whole)."""
        at = now.isoformat()
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO archived VALUES (?,?,?,?,'copying',?)",
                           ((r.tab, r.key, r.year, json.dumps(r.values), at) for r in rows))

    def set_archive_state(self, keys: Iterable[tuple[str, str]], state: str,
                          now: dt.datetime) -> None:
        with self.transaction() as db:
            db.executemany("UPDATE archived SET state = ?, updated_at = ? WHERE tab = ? AND "
                           "key = ?", [(state, now.isoformat(), tab, key) for tab, key in keys])

    def archive_keys(self, state: str) -> list[tuple[str, str]]:
        """(tab, key) of the archived rows in one state, in the order they were keyed (their
        cells not read)."""
        return [(t, k) for t, k in self._rows(
            "SELECT tab, key FROM archived WHERE state = ? ORDER BY rowid", (state,))]

    def copied_to(self, keys: Iterable[tuple[str, str]], file: str, digest: str,
                  now: dt.datetime, rows: Mapping[str, int] | None = None) -> None:
        """These rows are `copied` to the archive file `file`, which now reads `digest`
        (`archive_file_digest`), in one transaction: a file that reads so holds no row the
        journal does not know as copied. `rows`: the sheet rows each of its tabs then reaches
        (`archive_file_rows`: whether the next move fits in it, without reading it)."""
        with self.transaction() as db:
            self.set_archive_state(keys, "copied", now)
            entries = [(f"archive-file/{file}", "archive_file", digest)]
            if rows is not None:
                entries.append((f"archive-rows/{file}", "archive_rows",
                                json.dumps(dict(rows), sort_keys=True)))
            for key, kind, detail in entries:
                db.execute("INSERT INTO actions (key, kind, state, detail, created_at, "
                           "updated_at) VALUES (?, ?, 'done', ?, ?, ?) ON CONFLICT(key) DO "
                           "UPDATE SET detail = excluded.detail, updated_at = "
                           "excluded.updated_at",
                           (key, kind, detail, now.isoformat(), now.isoformat()))

    def archive_file_digest(self, file: str) -> str | None:
        """What the archive file `file` read when the archive last copied rows to it."""
        row = self._db.execute("SELECT detail FROM actions WHERE key = ?",
                               (f"archive-file/{file}",)).fetchone()
        return row[0] if row else None

    def archive_file_rows(self, file: str) -> dict[str, int] | None:
        """tab → the sheet rows it reached when the archive last copied rows to `file` (true
        while the file reads `archive_file_digest`); None if never said."""
        row = self._db.execute("SELECT detail FROM actions WHERE key = ?",
                               (f"archive-rows/{file}",)).fetchone()
        return {str(k): int(v) for k, v in json.loads(row[0]).items()} if row else None

    def archived(self, state: str | None = None, tab: str | None = None,
                 year: int | None = None) -> list[ArchivedRow]:
        """Archived rows (in one state, of one tab, of one year), in the order they were
        keyed."""
        wanted = (("state", state), ("tab", tab), ("year", year))
        where = [f"{column} = ?" for column, value in wanted if value]
        rows = self._rows("SELECT tab, key, year, data, state FROM archived"
                          + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY rowid",
                          [v for _, v in wanted if v])
        return [ArchivedRow(t, k, y, json.loads(d), st) for t, k, y, d, st in rows]

    def archived_years(self) -> list[int]:
        """The years of the rows in the archive files (moved, or moving)."""
        return [y for (y,) in self._rows(
            f"SELECT DISTINCT year FROM archived WHERE state IN {_ARCHIVED_STATES} ORDER BY 1")]

    def archive_file_digests(self) -> dict[str, str]:
        """Archive file name → what it read when the archive last copied rows to it."""
        return {key.removeprefix("archive-file/"): detail for key, detail in self._rows(
            "SELECT key, detail FROM actions WHERE kind = 'archive_file'")}

    def archive_states(self, tabs: Iterable[str] | None = None) -> dict[tuple[str, str], str]:
        """(tab, key) → state of every row the archive ever keyed (of these tabs)."""
        wanted = list(tabs) if tabs is not None else None
        query = "SELECT tab, key, state FROM archived" + (
            f" WHERE tab IN ({','.join('?' * len(wanted))})" if wanted else "")
        return {(t, k): st for t, k, st in self._rows(query, wanted or ())}

    def _with_wanted(self, keys: Iterable[str], query: str) -> list[tuple[Any, ...]]:
        """`query` over `temp.wanted` (a column `key`) joined to the journal's tables: a lookup
        per key through an index, where `IN (…)` over many keys would be many queries. The
        keys go in as one JSON array (`json_each`): nothing is written, even to a temporary
        table, so a read-only or full journal answers too."""
        wanted = json.dumps(sorted(set(keys)))
        # CROSS JOIN: the keys first, then an index lookup each (never a scan per key)
        return self._rows("WITH wanted(key) AS (SELECT value FROM json_each(?)) "
                          + query.replace("temp.wanted", "wanted")
                          .replace("wanted w JOIN", "wanted w CROSS JOIN"),
                          (wanted,))

    def archive_states_of(self, tab: str, keys: Iterable[str]) -> dict[str, str]:
        """key → archive state, for those of `keys` the archive keyed on `tab`."""
        return {key: state for key, state in self._with_wanted(keys, (
            "SELECT a.key, a.state FROM temp.wanted w JOIN archived a "
            f"ON a.tab = '{tab}' AND a.key = w.key"))}

    def archived_invoice_clients(self, numbers: Iterable[str]) -> dict[str, str]:
        """number → client of those of `numbers` that are archived invoices."""
        return dict(self._with_wanted(numbers, (  # type: ignore[arg-type]
            "SELECT i.number, i.client_id FROM temp.wanted w JOIN invoices i "
            "ON i.number = w.key WHERE i.archived = 1")))

    def logged_at(self, payment_ids: Iterable[str]) -> dict[str, dt.datetime]:
        """payment id → when a run first logged it (applied it), for those logged."""
        return {key.removeprefix("payment/"): dt.datetime.fromisoformat(at)
                for key, at in self._with_wanted(
                    (f"payment/{p}" for p in payment_ids),
                    "SELECT a.key, a.created_at FROM temp.wanted w JOIN actions a "
                    "ON a.key = w.key")}

    def archived_at(self, tab: str, keys: Iterable[str]) -> dict[str, dt.datetime]:
        """key → when the archive last changed it, for those of `keys` it holds (keyed,
        moving or moved) on `tab`."""
        return {key: dt.datetime.fromisoformat(at) for key, at in self._with_wanted(
            keys, "SELECT a.key, a.updated_at FROM temp.wanted w JOIN archived a ON "
                  f"a.tab = '{tab}' AND a.key = w.key AND a.state IN {_ARCHIVED_STATES}")}

    def frozen_from(self, sources: Iterable[str]) -> list[FrozenPair]:
        """The pairs frozen for archived invoices, of these sources."""
        return [FrozenPair(n, s, Decimal(a), _date(d)) for n, s, a, d in self._with_wanted(
            sources, "SELECT f.invoice_number, f.source, f.amount, f.day FROM temp.wanted w "
                     "JOIN frozen_applied f ON f.source = w.key")]

    def frozen_into(self, numbers: Iterable[str] = ()) -> list[FrozenPair]:
        """The pairs frozen for the invoices brought back from the archive and `numbers`."""
        restored = self._rows(
            "SELECT f.invoice_number, f.source, f.amount, f.day FROM archived a "
            "JOIN frozen_applied f ON f.invoice_number = a.key WHERE a.tab = 'Invoices' "
            "AND a.state = 'restored'")
        named = self._with_wanted(numbers, (
            "SELECT f.invoice_number, f.source, f.amount, f.day FROM temp.wanted w "
            "JOIN frozen_applied f ON f.invoice_number = w.key"))
        return [FrozenPair(n, s, Decimal(a), _date(d))
                for n, s, a, d in sorted(set(map(tuple, [*restored, *named])))]

    def write_frozen(self, pairs: Mapping[str, Mapping[str, Decimal]],
                     live_sources: Collection[str], days: Mapping[str, dt.date]) -> None:
        """Freeze where each invoice's money came from: the pairs from `live_sources` are
        replaced by `pairs` (the allocation now; `days`: when each source's money came),
        those from sources no longer alive stay."""
        with self.transaction() as db:
            for number, sources in pairs.items():
                kept = [(number, s, a, d) for s, a, d in db.execute(
                    "SELECT source, amount, day FROM frozen_applied WHERE invoice_number = ?",
                    (number,)).fetchall() if s not in live_sources and s not in sources]
                db.execute("DELETE FROM frozen_applied WHERE invoice_number = ?", (number,))
                db.executemany("INSERT INTO frozen_applied VALUES (?, ?, ?, ?)", [
                    *kept, *((number, s, str(a), _iso(days.get(s))) for s, a in sources.items()
                             if a != 0)])

    def archived_figures_end(self, kind: str) -> dt.date | None:
        """The latest `day` of the archived figures of one kind (None: none)."""
        row = self._db.execute("SELECT max(day) FROM archived_figures WHERE kind = ?",
                               (kind,)).fetchone()
        return dt.date.fromisoformat(row[0]) if row and row[0] else None

    def client_archived_figures(self, client_id: str
                                ) -> list[tuple[str, str, str, dict[str, Any]]]:
        """(kind, key, day, data) of one client's archived invoices and payments, by the
        client's index (an email's account summary, the portal's history: never all
        clients)."""
        return [(kind, key, day, json.loads(data)) for kind, key, day, data in self._rows(
            "SELECT kind, key, day, data FROM archived_figures WHERE client_id = ? AND kind IN "
            "('invoice', 'payment')", (client_id,))]

    def archived_payment_figures_after(self, day: dt.date
                                       ) -> list[tuple[str, dt.date, dict[str, Any]]]:
        """(client, date, data) of the archived payments dated after `day`."""
        return [(client, dt.date.fromisoformat(d), json.loads(data)) for client, d, data in
                self._rows("SELECT client_id, day, data FROM archived_figures WHERE "
                           "kind = 'payment' AND day > ?", (day.isoformat(),))]

    def count_archived_invoices(self, but: Collection[str] = ()) -> int:
        """How many archived invoices are not void (but those in `but`): counted by SQLite,
        not read row by row."""
        every = self._rows("SELECT count(*) FROM invoices WHERE archived = 1 "
                           "AND voided_at IS NULL")[0][0]
        return int(every) - len(self._with_wanted(but, (
            "SELECT i.number FROM temp.wanted w JOIN invoices i ON i.number = w.key "
            "WHERE i.archived = 1 AND i.voided_at IS NULL")))

    def mark_frozen(self, numbers: Iterable[str]) -> None:
        """These invoices' checkpoint is written (`ispsheets.archive.checkpoint`)."""
        with self.transaction() as db:
            db.executemany("UPDATE invoices SET frozen = 1 WHERE number = ?",
                           [(n,) for n in numbers])

    def unfrozen_archived(self) -> list[str]:
        """Archived invoices whose checkpoint is not written (cheap: a partial index)."""
        return [row[0] for row in self._rows(
            "SELECT number FROM invoices WHERE archived = 1 AND frozen = 0")]

    def archived_figures(self, kind: str | None = None,
                         keys: Iterable[tuple[str, str]] | None = None
                         ) -> list[tuple[str, str, str, str, str]]:
        """Report figures (`ispsheets.reporting.archived`) as (kind, key, client_id, day, data):
        all, of one kind, or those of the given (kind, key) pairs."""
        if keys is not None:
            by_kind: dict[str, list[str]] = {}
            for k, key in keys:
                by_kind.setdefault(k, []).append(key)
            rows = []
            for k, wanted in by_kind.items():
                for start in range(0, len(wanted), 500):
                    chunk = wanted[start:start + 500]
                    rows += self._rows("SELECT kind, key, client_id, day, data FROM "
                                       f"archived_figures WHERE kind = ? AND key IN "
                                       f"({','.join('?' * len(chunk))})", [k, *chunk])
            return rows
        return self._rows("SELECT kind, key, client_id, day, data FROM archived_figures"
                          + (" WHERE kind = ?" if kind else ""), [kind] if kind else [])

    def archived_figures_since(self, since: str, batch: int = 5000
                               ) -> Iterator[list[tuple[str, str, str, str, str]]]:
        """The report figures whose day is `since` or later (by the day index), in batches."""
        cursor = self._db.cursor()
        cursor.row_factory = None
        cursor.execute("SELECT kind, key, client_id, day, data FROM archived_figures "
                       "WHERE day >= ?", (since,))
        while rows := cursor.fetchmany(batch):
            yield rows

    def put_archived_figures(self, rows: Iterable[tuple[str, str, str, str, str]]) -> None:
        """Write (or replace) report figures: (kind, key, client_id, day, data)."""
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO archived_figures VALUES (?,?,?,?,?)",
                           list(rows))

    def delete_archived_figures(self, keys: Iterable[tuple[str, str]]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM archived_figures WHERE kind = ? AND key = ?",
                           list(keys))

    def oldest_activity(self) -> dt.datetime | None:
        """When the oldest Activity row the tool logged happened (None: none yet)."""
        row = self._db.execute("SELECT min(timestamp) FROM activity").fetchone()
        return dt.datetime.fromisoformat(row[0]) if row and row[0] else None

    def archive_unfinished(self) -> bool:
        """Is a move (or a restore) cut off half-way?"""
        return bool(self._rows("SELECT 1 FROM archived WHERE state IN ('copying', 'copied', "
                               "'restoring') LIMIT 1"))

    # -- rebilling -----------------------------------------------------------------------------

    def release_billed(self, number: str) -> int:
        """Forget what a voided invoice billed, so the next run bills it again."""
        with self.transaction() as db:
            row = db.execute("SELECT voided_at FROM invoices WHERE number = ?",
                             (number,)).fetchone()
            if row is None or row["voided_at"] is None:
                raise JournalError(f"{number} is not a voided invoice")
            return db.execute("DELETE FROM billed WHERE invoice_number = ?",
                              (number,)).rowcount


def _chunks(values: list[str], size: int = 500) -> Iterator[list[str]]:
    """SQLite takes at most so many `?` in one statement."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _json_default(value: object) -> str:
    if isinstance(value, Decimal | dt.date | dt.datetime):
        return value.isoformat() if not isinstance(value, Decimal) else str(value)
    raise TypeError(f"cannot store {value!r}")


@dataclass(frozen=True)
class ActionRecord:
    key: str
    kind: str
    client_id: str
    invoice_number: str
    state: str
    detail: str
    updated_at: str


def _action(row: sqlite3.Row) -> ActionRecord:
    return ActionRecord(row["key"], row["kind"], row["client_id"], row["invoice_number"],
                        row["state"], row["detail"], row["updated_at"])


@dataclass(frozen=True)
class ToolRow:
    """A row for an owner tab; `values` as JSON gave them back (text, numbers as text)."""

    key: str
    tab: str
    values: dict[str, Any]


@dataclass(frozen=True)
class ArchivedRow:
    """A row moved (or moving) to `archive/<workbook>-<year>.xlsx`: its cells as JSON-safe
    values (`ispsheets.archive.values`), and where the move is."""

    tab: str
    key: str
    year: int
    values: dict[str, Any]
    state: str = "copying"


@dataclass(frozen=True)
class CellWrite:
    tab: str
    row_key: str
    column: str
    value: str


@dataclass(frozen=True)
class WrittenSince:
    """Journal rows (id, row) that writes after some generation carried to the workbook."""

    activity: list[tuple[int, ActivityRow]]
    tool_rows: list[tuple[int, ToolRow]]
    cell_writes: list[tuple[int, CellWrite]]
