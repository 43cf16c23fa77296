"""What the journal saw in the Charges and Payments rows it acted on, by id.

When two rows carry one id, the row the journal already knows (same id, and the same content it
recorded) keeps its identity and only the newcomer is skipped: a payment applied and receipted
weeks ago never disappears because the owner typed its id again on a new row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ispsheets.book.records import Charge, Payment


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "payments", MappingProxyType(dict(self.payments)))
        object.__setattr__(self, "charges", MappingProxyType(dict(self.charges)))

    def knows(self, record: Payment | Charge) -> bool:
        """True if the journal acted on this very row (its id, with the content it saw)."""
        if isinstance(record, Payment):
            seen = self.payments.get(record.payment_id)
            return seen is not None and record.date is not None and \
                seen == payment_fingerprint(record)
        seen = self.charges.get(record.charge_id)
        return seen is not None and record.date is not None and seen == charge_fingerprint(record)
