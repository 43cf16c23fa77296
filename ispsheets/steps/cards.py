"""Card payments in the daily cycle: pull what Stripe received, charge autopay invoices, keep a
pay link on every open invoice. Pure plans (`payments/stripe/plan.py`) decide; this step performs
them through the journal (key first, effect second, record third).

With no Stripe key nothing here runs and the cycle is what it was without cards. A Stripe that
cannot be reached is one problem (exit 1) and the rest of the run goes on; the next run catches
up, since every effect is keyed and every payment is recorded once by its Stripe id.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from decimal import Decimal

from ispsheets.book.changes import AppendRow, ChangeSet
from ispsheets.book.records import Client, Payment
from ispsheets.faults import checkpoint
from ispsheets.ids import PAYMENT_ID
from ispsheets.ledger import copy_invoice
from ispsheets.money import format_money
from ispsheets.payments.stripe.api import (
    Customer,
    Movement,
    StripeApi,
    StripeFailure,
    when,
)
from ispsheets.payments.stripe.plan import (
    OPEN,
    Attempt,
    Charge,
    next_retry,
    plan_autopay,
    plan_links,
)
from ispsheets.payments.stripe.store import StripeStore
from ispsheets.problems import Problem, warning
from ispsheets.reporting.cards import CardFacts
from ispsheets.steps.cycle import Cycle
from ispsheets.steps.reconcile import allocate_payments

PULL_OVERLAP = 2 * 86400  # seconds pulled again before the cursor: late writes, clock skew
FIRST_PULL_DAYS = 35  # how far back the first pull looks
PULL_BATCH = 500  # payments recorded in one journal transaction
CARD_EMAIL = "card_email"
# Where the crash tests kill a run (`ispsheets.faults.checkpoint`), besides the cycle's own.
KILL_POINTS = ("stripe-customer-created", "card-charged", "pay-link-made")


def stripe_on(cycle: Cycle) -> bool:
    return bool(cycle.config.stripe_key)


def take_card_payments(cycle: Cycle) -> None:
    """The card part of the cycle; runs after the day's invoices are issued and allocated."""
    if not stripe_on(cycle):
        return
    store = StripeStore(cycle.journal)
    restore_card_rows(cycle, store)
    if not cycle.dry_run and "reconcile" in cycle.options.steps:
        log_autopay_changes(cycle, store)
    if not cycle.dry_run and {"reconcile", "send"} & set(cycle.options.steps):
        api = StripeApi(cycle.config.stripe_key, cycle.config.currency,
                        cycle.config.stripe.api_base)
        try:
            if "reconcile" in cycle.options.steps:
                pull(cycle, api, store)
                allocate_payments(cycle)
                autopay(cycle, api, store)
                allocate_payments(cycle)
            pay_links(cycle, api, store)
        except StripeFailure as failure:
            cycle.problem(failure.problem)
        cycle.report.counts["stripe requests"] += api.requests
        cycle.report.counts["stripe milliseconds"] += round(api.seconds * 1000)
    elif cycle.dry_run and "reconcile" in cycle.options.steps:
        plan_offline(cycle, store)
    allocate_payments(cycle)
    show_links(cycle, store)
    send_card_emails(cycle)


def plan_offline(cycle: Cycle, store: StripeStore) -> None:
    """A dry run (and `status`) does not call Stripe: the charges it would make, from the cards
    the journal knows."""
    settings = cycle.config.stripe
    cards = {cid: bool(k.card) for cid, k in store.customers().items()}
    for charge in plan_autopay(cycle.invoices, cycle.book.client_map(), cards,
                               store.attempts(), cycle.today, settings.autopay_on,
                               settings.autopay_retry_days):
        cycle.plan("autopay", charge.client_id, f"{charge.invoice_number} "
                   f"{format_money(charge.amount, cycle.config.currency)} "
                   f"(attempt {charge.number})")


def log_autopay_changes(cycle: Cycle, store: StripeStore) -> None:
    """Activity `autopay_enabled` / `autopay_disabled` when the owner changes Clients.autopay
    (the first run with Stripe only notes how things stand)."""
    before = json.loads(store.get("autopay", "null"))
    now = {c.client_id: c.autopay for c in cycle.book.clients}
    if before is not None:
        for client_id, on in now.items():
            if client_id in before and before[client_id] != on:
                cycle.log("autopay_enabled" if on else "autopay_disabled", client_id, "",
                          "by the owner (Clients.autopay)")
    if before != now:
        store.put("autopay", json.dumps(now))


# -- Payments rows ------------------------------------------------------------------------------

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
    shown = {p.reference for p in cycle.book.payments if p.reference}
    missing = []
    for row in cycle.journal.unwritten_tool_rows():
        if row.tab == "Payments" and row.key.startswith("stripe/") \
                and row.values.get("reference") not in shown:
            missing.append(_payment(row.values))
    for key, reference in store.written_tool_rows("Payments", "stripe/"):
        if reference in shown:
            continue
        rows = [r for r in cycle.journal.tool_rows("Payments") if r.key == key]
        if not rows:
            continue
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

    @classmethod
    def of(cls, cycle: Cycle, store: StripeStore) -> Directory:
        by_customer = {c.stripe_customer_id: c.client_id for c in cycle.book.clients
                       if c.stripe_customer_id}
        by_customer.update({k.customer_id: cid for cid, k in store.customers().items()})
        return cls(cycle.book.client_map(), by_customer,
                   {p.payment_id for p in cycle.book.payments})


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
    """Record what Stripe received (and gave back) since the cursor."""
    first = int((cycle.now - dt.timedelta(days=FIRST_PULL_DAYS)).replace(
        tzinfo=cycle.config.tz).timestamp())
    cursor = int(store.get("cursor", str(first)))
    known = store.movement_ids()
    directory = Directory.of(cycle, store)
    newest = cursor
    fresh = []
    for movement in api.movements(cursor - PULL_OVERLAP):
        newest = max(newest, movement.created)
        if movement.id not in known:
            known.add(movement.id)
            fresh.append(movement)
    for start in range(0, len(fresh), PULL_BATCH):
        added = []
        with cycle.journal.transaction():  # one disk sync a batch: a crash redoes the batch
            for movement in fresh[start:start + PULL_BATCH]:
                payment = record_movement(cycle, store, movement, directory, add=False)
                if payment is not None:
                    added.append(payment)
                    cycle.plan("card payment", payment.client_id, f"{movement.id} "
                               f"{format_money(payment.amount, cycle.config.currency)}")
        _add_payments(cycle, added)
    store.put("cursor", str(newest))


# -- customers ---------------------------------------------------------------------------------

def customer_for(cycle: Cycle, api: StripeApi, store: StripeStore, client: Client,
                 directory: Directory | None = None) -> Customer:
    """The client's one Stripe customer, found before created: Clients.stripe_customer_id, the
    journal, a search by metadata.client_id; created under an idempotency key otherwise."""
    known = store.known_customer(client.client_id)
    customer_id = client.stripe_customer_id or (known.customer_id if known else "")
    customer = api.customer(customer_id) if customer_id else None
    if customer is None:
        customer = api.find_customer(client.client_id)
    email = client.emails[0] if client.emails else ""
    if customer is None:
        key = f"stripe_customer/{client.client_id}"
        cycle.journal.begin_action(key, "stripe_customer", client.client_id, "", cycle.now)
        customer = api.create_customer(client.client_id, client.name, email,
                                       f"ispsheets/{key}")
        checkpoint("stripe-customer-created")
        cycle.journal.finish_action(key, "done", customer.id, cycle.now)
    elif (customer.name, customer.email) != (client.name, email):
        api.update_customer(customer.id, client.name, email)
    if customer.card is None:
        cards = api.saved_cards(customer.id)  # a card saved through the card link
        if cards:
            api.make_default(customer.id, cards[0].payment_method)
            customer = replace(customer, card=cards[0])
    store.save_customer(client.client_id, customer.id, client.name, email, customer.card,
                        cycle.now)
    if directory is not None:
        directory.by_customer[customer.id] = client.client_id
    if client.stripe_customer_id != customer.id:  # a tool cell: found, made, or blanked
        cycle.journal.add_cell_write("Clients", client.client_id, "stripe_customer_id",
                                     customer.id, cycle.now)
    return customer


# -- autopay -----------------------------------------------------------------------------------

def attempts(store: StripeStore) -> dict[str, list[Attempt]]:
    return store.attempts()


def autopay(cycle: Cycle, api: StripeApi, store: StripeStore) -> None:
    """Charge the cards of autopay clients whose invoices are due to be charged today."""
    settings = cycle.config.stripe
    clients = cycle.book.client_map()
    tried = attempts(store)
    args = (cycle.invoices, clients)
    rest = (tried, cycle.today, settings.autopay_on, settings.autopay_retry_days)
    maybe = plan_autopay(*args, dict.fromkeys(clients, True), *rest)
    customers: dict[str, Customer] = {}
    directory = Directory.of(cycle, store)
    settle_unconfirmed(cycle, store, tried, clients)
    for client_id in dict.fromkeys(c.client_id for c in maybe):
        customer = customer_for(cycle, api, store, clients[client_id], directory)
        customers[client_id] = customer
        if customer.card is None:
            tell_no_card(cycle, api, clients[client_id], customer)
    cards = {cid: c.card is not None for cid, c in customers.items()}
    for charge in plan_autopay(*args, cards, *rest):
        customer = customers[charge.client_id]
        assert customer.card is not None
        charge_card(cycle, api, store, charge, customer, tried.get(charge.invoice_number, []),
                    directory)


def settle_unconfirmed(cycle: Cycle, store: StripeStore, tried: dict[str, list[Attempt]],
                       clients: dict[str, Client]) -> None:
    """Attempts a run keyed but never saw answered, on invoices that are no longer open.

    When the pull found a payment by the client's customer for that invoice (pay links make
    none: only autopay charges a customer), the attempt reached Stripe and charged: it is
    recorded as that payment. Otherwise nothing was charged, and the attempt is closed as
    `abandoned` (never sent again: the invoice is settled). Attempts on invoices still open
    are planned again under their own key and amount: Stripe answers the first result."""
    paid_by_card = {m.invoice_number: m for m in store.movements()
                    if m.kind == "payment" and m.customer}
    for number, tries in tried.items():
        last, invoice = tries[-1], cycle.invoice(number)
        if last.state != "pending" or invoice is None or invoice.client_id not in clients:
            continue
        balance = invoice.balance if invoice.balance is not None else invoice.total
        if invoice.status in OPEN and balance > 0:
            continue  # planned again as a replay of the same request
        charge = Charge(number, invoice.client_id, last.number, last.amount)
        found = paid_by_card.get(number)
        if found is not None:  # it reached Stripe and charged: the pull recorded the payment
            with cycle.journal.transaction():
                cycle.journal.finish_card_charge(charge.key, "succeeded", found.id, "",
                                                 cycle.now)
                cycle.log("autopay_charged", charge.client_id, number,
                          f"{format_money(found.amount, cycle.config.currency)} {found.id}")
            cycle.report.counts["autopay charged"] += 1
            continue
        cycle.journal.finish_card_charge(charge.key, "abandoned", "", "invoice settled before "
                                         "the charge was confirmed", cycle.now)


def charge_card(cycle: Cycle, api: StripeApi, store: StripeStore, charge: Charge,
                customer: Customer, earlier: list[Attempt], directory: Directory) -> None:
    currency = cycle.config.currency
    amount = format_money(charge.amount, currency)
    cycle.plan("autopay", charge.client_id, f"{charge.invoice_number} {amount} "
               f"(attempt {charge.number})")
    assert customer.card is not None
    with cycle.journal.transaction():
        cycle.journal.begin_card_charge(charge.key, charge.invoice_number, charge.client_id,
                                        charge.amount, cycle.now)
        store.note_attempt_day(charge.key, cycle.today)
    try:
        result = api.charge(customer.id, customer.card.payment_method, charge.amount,
                            {"invoice_number": charge.invoice_number,
                             "client_id": charge.client_id},
                            f"ispsheets/{charge.key}", cycle.config.stripe.statement_descriptor)
    except StripeFailure as failure:
        if not failure.key_reused:
            raise
        # Asked again after an interrupted run, with another card: Stripe refuses the key. The
        # pull ran first and found no payment for the invoice, so the first request charged
        # nothing; the attempt counts as declined and the next one (a new key) follows the
        # retry days.
        cycle.journal.finish_card_charge(charge.key, "declined", "", "interrupted; the card "
                                         "changed since", cycle.now)
        cycle.problem(warning("Clients", f"autopay attempt {charge.number} on "
                              f"{charge.invoice_number} was interrupted and the card changed "
                              "since; the next attempt follows the retry days", "nothing to do"))
        return
    checkpoint("card-charged")
    link = ""
    if result.state == "declined":  # where the client puts in another card
        link = card_link(cycle, api, directory.clients[charge.client_id], customer)
    with cycle.journal.transaction():
        cycle.journal.finish_card_charge(charge.key, result.state, result.reference,
                                         result.decline_code, cycle.now)
        if result.state == "succeeded":
            assert result.movement is not None
            record_movement(cycle, store, result.movement, directory)
            cycle.log("autopay_charged", charge.client_id, charge.invoice_number,
                      f"{amount} {result.reference} ({customer.card.brand} "
                      f"{customer.card.last4})".replace("( ", "(").replace(" )", ")"))
            cycle.report.counts["autopay charged"] += 1
            return
        attempts_now = [*earlier, Attempt(charge.number, "declined", cycle.today,
                                          charge.amount)]
        if result.state == "requires_action":
            detail = (f"attempt {charge.number}: {result.decline_code}: the bank asks the "
                      "client to confirm; no more tries")
            reason = "your bank asks you to confirm this payment yourself"
        else:
            retry = next_retry(attempts_now, cycle.config.stripe.autopay_retry_days)
            detail = (f"attempt {charge.number}: {result.decline_code}; "
                      + (f"next try {retry.isoformat()}" if retry else "no more tries"))
            reason = result.message or result.decline_code.replace("_", " ")
        cycle.log("autopay_failed", charge.client_id, charge.invoice_number, detail)
        cycle.report.counts["autopay failed"] += 1
        queue_card_email(cycle, f"autopay_failed/{charge.invoice_number}/{charge.number}",
                         charge.client_id, charge.invoice_number,
                         {"kind": "autopay_failed", "reason": reason, "card_link_url": link})


def tell_no_card(cycle: Cycle, api: StripeApi, client: Client, customer: Customer) -> None:
    """An autopay client without a card is told once, with a link where they add one."""
    key = f"card_needed/{client.client_id}"
    if cycle.journal.action(key) is not None:
        return
    link = card_link(cycle, api, client, customer)
    with cycle.journal.transaction():
        if not cycle.journal.begin_action(key, "card_needed", client.client_id, "", cycle.now,
                                          link):
            return
        cycle.journal.finish_action(key, "done", link, cycle.now)
        queue_card_email(cycle, key + "/email", client.client_id, "",
                         {"kind": "card_needed", "card_link_url": link})
        cycle.log("autopay_failed", client.client_id, "",
                  "no card on file: the client was sent a link to add one")


def card_link(cycle: Cycle, api: StripeApi, client: Client, customer: Customer) -> str:
    back = cycle.config.company.website or "https://stripe.com"
    n = len(cycle.journal.actions("card_link")) + 1
    key = f"card_link/{client.client_id}/{n}"
    cycle.journal.record_action(key, "card_link", client.client_id, "", cycle.now)
    return api.card_setup_link(customer.id, client.client_id, back, f"ispsheets/{key}").url


# -- card emails -------------------------------------------------------------------------------

def queue_card_email(cycle: Cycle, key: str, client_id: str, invoice_number: str,
                     payload: dict[str, object]) -> None:
    cycle.journal.begin_action(key, CARD_EMAIL, client_id, invoice_number, cycle.now,
                               json.dumps(payload))


def send_card_emails(cycle: Cycle) -> None:
    """Every queued card email not sent yet (after the pay links exist, so they carry one)."""
    from ispsheets.steps.deliver import _context, send_message

    if cycle.dry_run or ("send" not in cycle.options.steps and \
            "reconcile" not in cycle.options.steps):
        return
    clients = cycle.book.client_map()
    for action in cycle.journal.actions(CARD_EMAIL):
        if action.state == "done":
            continue
        payload = json.loads(action.detail)
        client = clients.get(action.client_id)
        invoice = cycle.invoice(action.invoice_number) if action.invoice_number else None
        if client is None:
            cycle.journal.finish_action(action.key, "done", action.detail, cycle.now)
            continue
        context = _context(cycle, client, [invoice] if invoice else [],
                           failure_reason=payload.get("reason", ""),
                           card_link=payload.get("card_link_url", ""))
        kind = payload["kind"]
        if send_message(cycle, kind, action.key, client, context, action.invoice_number):
            cycle.journal.finish_action(action.key, "done", action.detail, cycle.now)


# -- pay links ---------------------------------------------------------------------------------

def pay_links(cycle: Cycle, api: StripeApi, store: StripeStore) -> None:
    """A Payment Link for the balance of every open invoice; stale ones deactivated."""
    settings = cycle.config.stripe
    for record in store.links(("pending",)):  # keyed by a run that stopped: same key again
        invoice = cycle.invoice(record.invoice_number)
        client_id = invoice.client_id if invoice else ""
        try:
            link = api.pay_link(record.invoice_number, client_id, record.amount,
                                settings.partial_minimum, f"ispsheets/{record.key}",
                                f"Invoice {record.invoice_number}")
        except StripeFailure as failure:
            if not failure.key_reused:
                raise
            store.finish_link(record.key, "abandoned", cycle.now)  # a new key next
            cycle.problem(warning("config.yaml: stripe", f"a pay link for "
                                  f"{record.invoice_number} begun by an interrupted run could "
                                  "not be finished (a setting changed since)",
                                  "in Stripe's dashboard, deactivate any other active link "
                                  f"for {record.invoice_number}"))
            continue
        store.finish_link(record.key, "active", cycle.now, link.id, link.url)
    active = store.links(("active",))
    current = {r.invoice_number: (r.key, r.amount) for r in active}
    ids = {r.key: r.link_id for r in active}
    plan = plan_links(cycle.invoices, current, settings.pay_links)
    for key, number in plan.deactivate:
        api.deactivate_link(ids[key])
        store.finish_link(key, "inactive", cycle.now)
        cycle.plan("pay link", "", f"{number}: old link deactivated")
    for number, client_id, amount in plan.create:
        key = f"paylink/{number}/{store.link_count(number) + 1}"
        store.begin_link(key, number, amount, cycle.now)
        link = api.pay_link(number, client_id, amount, settings.partial_minimum,
                            f"ispsheets/{key}", f"Invoice {number}")
        checkpoint("pay-link-made")
        store.finish_link(key, "active", cycle.now, link.id, link.url)
        cycle.report.counts["pay links made"] += 1


def show_links(cycle: Cycle, store: StripeStore) -> None:
    """Invoices carry their active link: in emails, on the PDF, in Invoices.pay_link."""
    links = {r.invoice_number: r.url for r in store.links(("active",))}
    cycle.invoices = [copy_invoice(i, pay_link=links.get(i.invoice_number, ""))
                      for i in cycle.invoices]


# -- the report ---------------------------------------------------------------------------------

def card_facts(cycle: Cycle) -> CardFacts | None:
    """Fees, autopay outcomes and usable cards from the journal; None when Stripe is off."""
    if not stripe_on(cycle):
        return None
    store = StripeStore(cycle.journal)
    tz = cycle.config.tz
    fees = tuple((when(m.created, tz).date(), m.fee) for m in store.movements()
                 if m.kind == "payment")
    tried = tuple((number, a.number, a.state) for number, found in attempts(store).items()
                  for a in found)
    usable = frozenset(cid for cid, k in store.customers().items()
                       if k.card and (not k.card_expires
                                      or k.card_expires >= cycle.today.strftime("%Y-%m")))
    return CardFacts(fees, tried, usable)
