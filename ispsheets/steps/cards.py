"""Card payments in the daily cycle: pull what Stripe received, charge autopay invoices, keep a
pay link on every open invoice. Pure plans (`payments/stripe/plan.py`) decide; this step performs
them through the journal (key first, effect second, record third).

With no Stripe key nothing here runs and the cycle is what it was without cards. A Stripe that
cannot be reached is one problem (exit 1) and the rest of the run goes on; the next run catches
up, since every effect is keyed and every payment is recorded once by its Stripe id.
"""

from __future__ import annotations

import json

from ispsheets.payments.stripe.api import StripeApi, StripeFailure, when
from ispsheets.payments.stripe.store import StripeStore
from ispsheets.reporting.cards import CardFacts
from ispsheets.steps.autopay import autopay, log_autopay_changes, plan_offline
from ispsheets.steps.card_rows import CARD_EMAIL, pull, restore_card_rows
from ispsheets.steps.cycle import Cycle
from ispsheets.steps.pay_links import pay_links, show_links
from ispsheets.steps.reconcile import allocate_payments

# Where the crash tests kill a run (`ispsheets.faults.checkpoint`), besides the cycle's own.
KILL_POINTS = ("stripe-customer-created", "card-charged", "pay-link-made")


def stripe_on(cycle: Cycle) -> bool:
    return bool(cycle.config.stripe_key)


def cards_on_file(cycle: Cycle) -> dict[str, bool]:
    """Client id → has a card on file with Stripe (as the journal knows it); read once a run."""
    if cycle.cards is None:
        cycle.cards = ({cid: c.card is not None
                        for cid, c in StripeStore(cycle.journal).customers().items()}
                       if stripe_on(cycle) else {})
    return cycle.cards


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


def card_facts(cycle: Cycle) -> CardFacts | None:
    """Fees, autopay outcomes and usable cards from the journal; None when Stripe is off."""
    if not stripe_on(cycle):
        return None
    store = StripeStore(cycle.journal)
    tz = cycle.config.tz
    fees = tuple((when(m.created, tz).date(), m.fee) for m in store.movements()
                 if m.kind == "payment")
    tried = tuple((number, a.number, a.state) for number, found in store.attempts().items()
                  for a in found)
    usable = frozenset(cid for cid, k in store.customers().items()
                       if k.card and (not k.card_expires
                                      or k.card_expires >= cycle.today.strftime("%Y-%m")))
    return CardFacts(fees, tried, usable)
