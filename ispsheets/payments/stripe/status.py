"""The card part of `ispsheets status`: autopay clients, cards expiring, declined attempts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ispsheets.config import Config
from ispsheets.journal import Journal
from ispsheets.payments.stripe.plan import next_retry
from ispsheets.payments.stripe.store import StripeStore


@dataclass(frozen=True)
class CardStatus:
    autopay_clients: tuple[tuple[str, str, str], ...]  # (client, card, expires YYYY-MM)
    expiring: tuple[str, ...]  # clients whose card expires this month (or has expired)
    failed: tuple[tuple[str, str, str, str], ...]  # (invoice, client, outcome, next try)


def card_status(config: Config, today: dt.date) -> CardStatus | None:
    """From the journal, read-only; None when Stripe is off or nothing ran yet."""
    if not config.stripe_key or not config.journal_path.exists():
        return None
    journal = Journal.open(config.journal_path, trust_seal=True)
    try:
        store = StripeStore(journal)
        customers = store.customers()
        attempts = store.attempts()
        with journal.transaction() as db:
            clients_of = dict(db.execute("SELECT invoice_number, client_id FROM card_charges"))
    finally:
        journal.close()
    month = today.strftime("%Y-%m")
    rows = tuple(sorted((cid, k.card_label or "no card", k.card_expires)
                        for cid, k in customers.items()))
    expiring = tuple(cid for cid, label, expires in rows if expires and expires <= month)
    failed = []
    for number, tried in sorted(attempts.items()):
        last = tried[-1]
        if last.state not in ("declined", "requires_action"):
            continue
        retry = next_retry(tried, config.stripe.autopay_retry_days)
        failed.append((number, clients_of.get(number, ""), f"{last.state} ({len(tried)} tries)",
                       retry.isoformat() if retry else "none (the client must pay)"))
    return CardStatus(rows, expiring, tuple(failed))
