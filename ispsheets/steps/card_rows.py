"""Card payments as Payments rows: money Stripe moved, pulled since a cursor and recorded once
per Stripe id (a tool row of the Payments tab), counted in the run that records it."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from decimal import Decimal

from ispsheets.book.changes import AppendRow, ChangeSet
from ispsheets.book.records import Client, Payment
from ispsheets.ids import PAYMENT_ID
from ispsheets.money import format_money
from ispsheets.payments.stripe.api import Movement, StripeApi, when
from ispsheets.payments.stripe.store import StripeStore
from ispsheets.problems import Problem, warning
from ispsheets.steps.cycle import Cycle

PULL_OVERLAP = 2 * 86400  # seconds pulled again before the cursor: late writes, clock skew
FIRST_PULL_DAYS = 35  # how far back the first pull looks
PULL_BATCH = 500  # payments recorded in one journal transaction
CARD_EMAIL = "card_email"


def _row_key(movement_id: str) -> str:
    return f"stripe/{movement_id}"


def _payment(values: dict[str, object]) -> Payment:
    return Payment(str(values["payment_id"]), dt.date.fromisoformat(str(values["date"])),
                   str(values["client_id"]), Decimal(str(values["amount"])), "card",
                   str(values["reference"]), str(values.get("invoice_number") or ""))


def _add_payments(cycle: Cycle, payments: list[Payment]) -> None:
    if payments:
        cycle.book = replace(cycle.book, payments=(*cycle.book.payments, *payments))


def fold_into_new_rows(changes: ChangeSet) -> ChangeSet:
    """Cells set on Payments rows that this same write appends (a card payment's applied_to
    and unapplied) go into the appended row: the sets are applied before the appends."""
    new = {str(a.values.get("payment_id")): i for i, a in enumerate(changes.appends)
           if a.tab == "Payments" and a.values.get("payment_id")}
    if not new:
        return changes
    appends = list(changes.appends)
    sets = []
    for cell in changes.sets:
        index = new.get(str(cell.key)) if cell.tab == "Payments" else None
        if index is None:
            sets.append(cell)
            continue
        row = appends[index]
        appends[index] = AppendRow(row.tab, {**row.values, cell.column: cell.value})
    return ChangeSet(changes.fills, tuple(sets), tuple(appends))


def restore_card_rows(cycle: Cycle, store: StripeStore) -> None:
    """Card payments recorded but not (or no longer) in the Payments tab count in this run: the
    unwritten ones go out with this run's write, and one the owner deleted is written again."""
    shown = {p.reference for p in cycle.book.payments if p.reference} | {
        p.payment_id for p in cycle.book.payments if p.payment_id}
    missing = []
    for row in cycle.journal.unwritten_tool_rows():
        if row.tab == "Payments" and row.key.startswith("stripe/") \
                and row.values.get("reference") not in shown:
            missing.append(_payment(row.values))
    for key, reference in store.written_tool_rows("Payments", "stripe/"):
        if reference in shown:
            continue
        rows = [r for r in cycle.journal.tool_rows("Payments") if r.key == key]
        if not rows or rows[0].values.get("payment_id") in shown:
            continue  # there, its reference edited
        if not cycle.dry_run:
            store.requeue_tool_row(key)
        cycle.problem(warning("Payments", f"the card payment {reference} was deleted from the "
                              "Payments tab; it is written again",
                              "refund it in Stripe instead: the refund is recorded as a "
                              "negative row"))
        missing.append(_payment(rows[0].values))
    _add_payments(cycle, missing)


@dataclass
class Directory:
    """Who is who for one phase of the step: clients by id, clients by Stripe customer."""

    clients: dict[str, Client]
    by_customer: dict[str, str]
    taken: set[str]  # payment ids in the Payments tab
    typed: set[str]  # references in the Payments tab (a Stripe id the owner typed in)

    @classmethod
    def of(cls, cycle: Cycle, store: StripeStore) -> Directory:
        by_customer = {c.stripe_customer_id: c.client_id for c in cycle.book.clients
                       if c.stripe_customer_id}
        by_customer.update({k.customer_id: cid for cid, k in store.customers().items()})
        return cls(cycle.book.client_map(), by_customer,
                   {p.payment_id for p in cycle.book.payments},
                   {p.reference for p in cycle.book.payments if p.reference})


def record_movement(cycle: Cycle, store: StripeStore, movement: Movement,
                    directory: Directory | None = None, add: bool = True) -> Payment | None:
    """One Payments row for money moved on Stripe, once per Stripe id (None if seen before);
    it counts in this run's allocation (`add`, or the caller adds it)."""
    directory = directory or Directory.of(cycle, store)
    clients = directory.clients
    client_id, invoice_number = _belongs_to(cycle, store, movement, directory)
    movement = replace(movement, client_id=client_id, invoice_number=invoice_number)
    key = _row_key(movement.id)
    amount_text = format_money(movement.amount, cycle.config.currency)
    with cycle.journal.transaction():
        if not store.add_movement(movement, cycle.now):
            return None
        if movement.id in directory.typed:
            return None  # the owner typed it into Payments already: it counts as typed
        if client_id not in clients:
            cycle.problem(Problem("Payments", f"Stripe {movement.kind} {movement.id} of "
                                  f"{amount_text} (customer {movement.customer or 'none'}) "
                                  "belongs to no client",
                                  "set that client's stripe_customer_id, or refund it in "
                                  "Stripe; type it into Payments by hand if it is a client's"))
            return None
        payment_id = cycle.journal.assign_id("Payments", key, PAYMENT_ID.format,
                                             directory.taken)
        values = {"payment_id": payment_id,
                  "date": when(movement.created, cycle.config.tz).date().isoformat(),
                  "client_id": client_id, "amount": str(movement.amount), "method": "card",
                  "reference": movement.id, "invoice_number": invoice_number}
        cycle.journal.add_tool_row(key, "Payments", values, cycle.now)
    payment = _payment(values)
    if add:
        _add_payments(cycle, [payment])
    return payment


def _belongs_to(cycle: Cycle, store: StripeStore, movement: Movement, directory: Directory
                ) -> tuple[str, str]:
    """(client, invoice) of a movement: metadata first, then the customer, then (refunds and
    disputes) the payment they take back."""
    clients, by_customer = directory.clients, directory.by_customer
    if movement.kind != "payment":
        for earlier in store.movements():
            if earlier.kind == "payment" and (
                    earlier.payment_intent == movement.payment_intent != ""
                    or earlier.charge == movement.charge != ""):
                return earlier.client_id, earlier.invoice_number
    client_id = movement.client_id if movement.client_id in clients else \
        by_customer.get(movement.customer, "")
    invoice = cycle.invoice(movement.invoice_number) if movement.invoice_number else None
    number = invoice.invoice_number if invoice is not None and \
        invoice.client_id == client_id else ""
    return client_id, number


def pull(cycle: Cycle, api: StripeApi, store: StripeStore) -> None:
    """Record what webhooks heard, then what Stripe received (and gave back) since the cursor."""
    known = store.movement_ids()
    directory = Directory.of(cycle, store)
    record_fresh(cycle, store, [m for m in store.heard() if m.id not in known], directory)
    known = store.movement_ids()
    first = int((cycle.now - dt.timedelta(days=FIRST_PULL_DAYS)).replace(
        tzinfo=cycle.config.tz).timestamp())
    cursor = int(store.get("cursor", str(first)))
    newest = cursor
    fresh = []
    for movement in api.movements(cursor - PULL_OVERLAP):
        newest = max(newest, movement.created)
        if movement.id not in known:
            known.add(movement.id)
            fresh.append(movement)
    record_fresh(cycle, store, fresh, directory)
    store.put("cursor", str(newest))


def record_fresh(cycle: Cycle, store: StripeStore, fresh: list[Movement],
                 directory: Directory) -> None:
    """Payments rows for movements not seen before, a journal transaction a batch (a crash
    redoes the batch: the cursor moves only after)."""
    for start in range(0, len(fresh), PULL_BATCH):
        added = []
        with cycle.journal.transaction():
            for movement in fresh[start:start + PULL_BATCH]:
                payment = record_movement(cycle, store, movement, directory, add=False)
                if payment is not None:
                    added.append(payment)
                    cycle.plan("card payment", payment.client_id, f"{movement.id} "
                               f"{format_money(payment.amount, cycle.config.currency)}")
        _add_payments(cycle, added)


def queue_card_email(cycle: Cycle, key: str, client_id: str, invoice_number: str,
                     payload: dict[str, object]) -> None:
    cycle.journal.begin_action(key, CARD_EMAIL, client_id, invoice_number, cycle.now,
                               json.dumps(payload))
