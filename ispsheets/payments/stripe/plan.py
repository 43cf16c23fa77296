"""Pure decisions about card payments: who may be charged today, which pay links to make or
deactivate, where a Stripe payment belongs. Records and dates in, plans out; no I/O."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from ispsheets.book.records import Client, Invoice
from ispsheets.payments.autopay import card_will_be_charged

FIRST_TRY_DAYS = 7  # an invoice is first charged within this many days of its charge day
OPEN = ("open", "partial")


def autopay_eligible(stripe_on: bool, client: Client, has_card: bool,
                     invoice: Invoice) -> bool:
    """Will autopay really be attempted for this client's invoice: Stripe configured, the
    client's autopay = yes, a default card on file, and the invoice not held."""
    return card_will_be_charged(stripe_on, client, has_card) and invoice.status != "held"


def charge_day(invoice: Invoice, autopay_on: str) -> dt.date:
    return invoice.due_date if autopay_on == "due" else invoice.issue_date


@dataclass(frozen=True)
class Attempt:
    """An earlier autopay attempt on an invoice (from the journal's card_charges)."""

    number: int
    state: str  # pending | succeeded | declined | requires_action
    day: dt.date
    amount: Decimal


@dataclass(frozen=True)
class Charge:
    """Charge this invoice now: attempt `number`, for `amount` (a pending attempt's own amount,
    so its idempotency key replays the same request)."""

    invoice_number: str
    client_id: str
    number: int
    amount: Decimal

    @property
    def key(self) -> str:
        return autopay_key(self.invoice_number, self.number)


def autopay_key(invoice_number: str, attempt: int) -> str:
    """The journal key and Stripe idempotency key of one attempt."""
    return f"autopay/{invoice_number}/{attempt}"


def next_retry(attempts: Sequence[Attempt], retry_days: Sequence[int]) -> dt.date | None:
    """When the next try is due after declined attempts; None when no try is left."""
    if not attempts or attempts[-1].state != "declined" or len(attempts) > len(retry_days):
        return None
    return attempts[0].day + dt.timedelta(days=retry_days[len(attempts) - 1])


def plan_autopay(invoices: Iterable[Invoice], clients: Mapping[str, Client],
                 cards: Mapping[str, bool], attempts: Mapping[str, Sequence[Attempt]],
                 today: dt.date, autopay_on: str, retry_days: Sequence[int],
                 stripe_on: bool = True) -> list[Charge]:
    """The charges to make today, one per invoice at most."""
    plan = []
    for invoice in invoices:
        client = clients.get(invoice.client_id)
        balance = invoice.balance if invoice.balance is not None else invoice.total
        if client is None or invoice.status not in OPEN or balance <= 0:
            continue
        if not autopay_eligible(stripe_on, client, cards.get(client.client_id, False),
                                invoice):
            continue
        tried = list(attempts.get(invoice.invoice_number, ()))
        if tried and tried[-1].state == "pending":
            plan.append(Charge(invoice.invoice_number, client.client_id, tried[-1].number,
                               tried[-1].amount))
            continue
        if not tried:
            start = charge_day(invoice, autopay_on)
            if start <= today <= start + dt.timedelta(days=FIRST_TRY_DAYS):
                plan.append(Charge(invoice.invoice_number, client.client_id, 1, balance))
            continue
        retry = next_retry(tried, retry_days)
        if retry is not None and retry <= today:
            plan.append(Charge(invoice.invoice_number, client.client_id, len(tried) + 1,
                               balance))
    return plan


@dataclass(frozen=True)
class LinkPlan:
    create: tuple[tuple[str, str, Decimal], ...]  # (invoice, client, amount)
    deactivate: tuple[tuple[str, str], ...]  # (link key, invoice)


def plan_links(invoices: Iterable[Invoice], current: Mapping[str, tuple[str, Decimal]],
               enabled: bool) -> LinkPlan:
    """A link for the balance of every open invoice; a link whose invoice is settled, voided,
    held or whose balance changed is deactivated (and replaced where a balance remains).

    `current` is invoice number → (link key, amount) of its active link.
    """
    create, deactivate = [], []
    seen = set()
    for invoice in invoices:
        seen.add(invoice.invoice_number)
        balance = invoice.balance if invoice.balance is not None else invoice.total
        wanted = enabled and invoice.status in OPEN and balance > 0
        link = current.get(invoice.invoice_number)
        if link is not None and (not wanted or link[1] != balance):
            deactivate.append((link[0], invoice.invoice_number))
            link = None
        if wanted and link is None:
            create.append((invoice.invoice_number, invoice.client_id, balance))
    for number, (key, _) in current.items():
        if number not in seen:
            deactivate.append((key, number))
    return LinkPlan(tuple(create), tuple(deactivate))


def client_of(customer: str, by_customer: Mapping[str, str], metadata_client: str,
              clients: Mapping[str, Client]) -> str:
    """The client a Stripe payment belongs to: its metadata's client_id if that is a client,
    else the client whose customer paid; "" when it is nobody's."""
    if metadata_client and metadata_client in clients:
        return metadata_client
    return by_customer.get(customer, "")
