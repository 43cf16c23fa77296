"""Autopay: the cards of autopay clients charged on their invoices' charge day, retried after
declines; each attempt keyed in the journal before Stripe is asked (its key is the idempotency
key), so a killed run never charges twice. Customers are found before they are made."""

from __future__ import annotations

import json
from dataclasses import replace

from ispsheets.book.records import Client
from ispsheets.faults import checkpoint
from ispsheets.money import format_money
from ispsheets.payments.stripe.api import Customer, StripeApi, StripeFailure
from ispsheets.payments.stripe.plan import OPEN, Attempt, Charge, next_retry, plan_autopay
from ispsheets.payments.stripe.store import StripeStore
from ispsheets.problems import warning
from ispsheets.steps.card_rows import Directory, queue_card_email, record_movement
from ispsheets.steps.cycle import Cycle


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
