"""What the journal saw in the Charges and Payments rows it acted on, by id.

When two rows carry one id, the row the journal already knows (same id, and the same content it
recorded) keeps its identity and only the newcomer is skipped: a payment applied and receipted
weeks ago never disappears because the owner typed its id again on a new row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ispsheets.book.records import Charge, Payment
from ispsheets.problems import Problem


def payment_fingerprint(payment: Payment) -> str:
    """What identifies a payment the journal logged: `2026-12-20|C001|49.99`."""
    return f"{payment.date.isoformat()}|{payment.client_id}|{payment.amount}"


def charge_fingerprint(charge: Charge) -> str:
    """What identifies a charge the journal billed or added: its date."""
    return charge.date.isoformat()


@dataclass(frozen=True)
class KnownRows:
    """id → fingerprint of each Payments and Charges row the journal has acted on."""

    payments: Mapping[str, str] = field(default_factory=dict)
    charges: Mapping[str, str] = field(default_factory=dict)
    # Payments rows the tool writes again if they go (card payments recorded from Stripe:
    # Stripe, not the tab, says they happened)
    rewritten: frozenset[str] = frozenset()
    # invoices the Payments rows name that are in the archive: number → client
    archived_invoices: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "payments", MappingProxyType(dict(self.payments)))
        object.__setattr__(self, "charges", MappingProxyType(dict(self.charges)))
        object.__setattr__(self, "archived_invoices",
                           MappingProxyType(dict(self.archived_invoices)))

    def knows(self, record: Payment | Charge) -> bool:
        """True if the journal acted on this very row (its id, with the content it saw)."""
        if isinstance(record, Payment):
            seen = self.payments.get(record.payment_id)
            return seen is not None and record.date is not None and \
                seen == payment_fingerprint(record)
        seen = self.charges.get(record.charge_id)
        return seen is not None and record.date is not None and seen == charge_fingerprint(record)


ACCEPT_DELETED_PAYMENTS = "--accept-deleted-payments"


def vanished_payments(known: KnownRows, shown: Iterable[str], newcomers: Iterable[str]
                      ) -> list[tuple[str, str]]:
    """(payment_id, fingerprint) of each payment the journal applied whose id no Payments row
    holds any more. A row the journal does not know under its id but that has the same date,
    client and amount (`newcomers`: their fingerprints) is that payment with a new id (its id
    cell cleared or retyped): it is not gone."""
    there = set(shown)
    unclaimed = Counter(newcomers)
    gone = []
    for payment_id, fingerprint in sorted(known.payments.items()):
        if payment_id in there or payment_id in known.rewritten:
            continue
        if unclaimed[fingerprint] > 0:
            unclaimed[fingerprint] -= 1
            continue
        gone.append((payment_id, fingerprint))
    return gone


def deleted_payment_problem(payment_id: str, fingerprint: str) -> Problem:
    """Deleting an applied payment would reopen what it paid: the run stops and asks."""
    day, client_id, amount = [*fingerprint.split("|"), "", "", ""][:3]
    return Problem(
        "Payments", f"payment {payment_id} ({day}, client {client_id}, {amount}), applied by an "
        "earlier run, is no longer on the Payments tab; deleting it would reopen what it paid, "
        "so nothing was done",
        "put the row back (undo, or copy it from a backup in backups/); if it was deleted on "
        f"purpose, run `ispsheets run {ACCEPT_DELETED_PAYMENTS}` once")
