"""The account summary an invoice carries, as ISP bills do: what was owed before, what was paid
since the last invoice, this invoice, and the total amount due now.

Pure and from the run's one allocation: the total due is the client's balance (open invoices
less unused credit); what was owed apart from this invoice is that less this invoice's total,
and the previous balance is that plus the payments received since the previous invoice. So
the four lines always add up, and the total is what the workbook's `Clients.balance` says.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from ispsheets.book.records import Invoice, Payment

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class AccountSummary:
    previous_balance: Decimal  # owed before the payments below (negative: credit)
    payments: Decimal  # payments and credits received since `since`
    this_invoice: Decimal
    total_due: Decimal  # owed now, this invoice included (negative: credit carried)
    since: dt.date | None  # the previous invoice's issue date (None: no previous invoice)

    @property
    def tells_more(self) -> bool:
        """Worth printing: the account holds more than this invoice."""
        return self.previous_balance != 0 or self.payments != 0


@dataclass(frozen=True)
class ArchivedAccount:
    """What the archive holds of a client that a summary may reach back to: the issue dates of
    the archived invoices (not void) and the archived payments as (date, amount)."""

    issued: tuple[dt.date, ...] = ()
    payments: tuple[tuple[dt.date, Decimal], ...] = ()


NOTHING_ARCHIVED = ArchivedAccount()


def account_summary(invoice: Invoice, client_invoices: Iterable[Invoice],
                    client_payments: Iterable[Payment], balance_now: Decimal,
                    today: dt.date, archived: ArchivedAccount = NOTHING_ARCHIVED
                    ) -> AccountSummary | None:
    """The summary for `invoice`, or None when it is not the client's latest invoice (an
    older one sent late: its summary would count the newer invoice as 'before'). `archived`:
    the client's rows in the archive, when the previous invoice may be there."""
    others = [i for i in client_invoices
              if i.invoice_number != invoice.invoice_number and i.status not in ("void", "held")]
    if any((i.issue_date, i.invoice_number) > (invoice.issue_date, invoice.invoice_number)
           for i in others) or any(day > invoice.issue_date for day in archived.issued):
        return None
    since = max([*(i.issue_date for i in others), *archived.issued], default=None)
    dated = [*((p.date, p.amount) for p in client_payments), *archived.payments]
    paid = sum((amount for day, amount in dated
                if (since is None or day > since) and day <= today), ZERO)
    forward = balance_now - invoice.total
    return AccountSummary(forward + paid, paid, invoice.total, balance_now, since)
