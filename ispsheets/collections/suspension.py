"""Suspension for non-payment, reconnection once paid, and the owner's word over both.

- Suspend an `active` client when invoices at least `suspend_after_days` past due still owe more
  than `suspend_min_balance` together. Each such invoice suspends at most once: a client the owner
  sets active again by hand stays active until a *new* invoice crosses the threshold.
- Reconnect a client the tool suspended (and whose status is still `suspended`) once that is no
  longer true, with the reconnection fee.
- A tool-suspended client whose status the owner changed by hand is released: the tool forgets
  it and does nothing else. A client the owner suspended by hand is never reconnected.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from ispsheets.book.records import Client, Invoice
from ispsheets.collections.overdue import (
    ZERO,
    balance_of,
    client_balances,
    days_past_due,
    oldest_first,
)
from ispsheets.config import Collections
from ispsheets.payments.allocate import natural_key

RECONNECTION_FEE_DESCRIPTION = "Reconnection fee"


def suspend_key(client_id: str, invoice_number: str) -> str:
    return f"suspend/{client_id}/{invoice_number}"


def reconnect_key(suspension_key: str) -> str:
    """`suspend/C001/INV-00042` → `reconnect/C001/INV-00042`: once per suspension."""
    return "reconnect/" + suspension_key.removeprefix("suspend/")


@dataclass(frozen=True)
class ToolSuspension:
    """A suspension the tool made and has not ended (the journal's `suspensions` table)."""

    client_id: str
    key: str
    date: dt.date


@dataclass(frozen=True)
class Suspend:
    """Suspend a client. Record every one of `keys` as done, not only `key`: each invoice past
    the threshold now must not suspend the client again after the owner re-activates them."""

    client_id: str
    key: str  # suspend/CLIENT/INV-…: the oldest invoice not acted on before
    keys: tuple[str, ...]  # one per invoice past the threshold, oldest first
    invoice_numbers: tuple[str, ...]
    overdue_balance: Decimal
    date: dt.date


@dataclass(frozen=True)
class Reconnect:
    """Reconnect a client the tool suspended; `fee` 0 = no reconnection fee row."""

    client_id: str
    key: str
    suspension_key: str
    fee: Decimal
    date: dt.date
    fee_description: str = RECONNECTION_FEE_DESCRIPTION
    fee_taxable: bool = False


@dataclass(frozen=True)
class Release:
    """The owner changed a tool-suspended client's status by hand: forget the suspension
    (no fee, no email, no command)."""

    client_id: str
    key: str
    status: str  # the status the owner set


@dataclass(frozen=True)
class SuspensionPlan:
    suspend: tuple[Suspend, ...] = ()
    reconnect: tuple[Reconnect, ...] = ()
    released: tuple[Release, ...] = ()


def past_threshold(invoices: Sequence[Invoice], today: dt.date,
                   config: Collections) -> dict[str, list[Invoice]]:
    """Each client's invoices at least `suspend_after_days` past due with a balance, oldest
    first."""
    result: dict[str, list[Invoice]] = {}
    for invoice in oldest_first(i for i in invoices if balance_of(i) > 0
                                and days_past_due(i, today) >= config.suspend_after_days):
        result.setdefault(invoice.client_id, []).append(invoice)
    return result


def plan_suspensions(invoices: Sequence[Invoice], clients: Sequence[Client], today: dt.date,
                     config: Collections, tool_suspended: Mapping[str, ToolSuspension],
                     done: frozenset[str], *,
                     balances: Mapping[str, Decimal] | None = None) -> SuspensionPlan:
    """Who to suspend, reconnect and release today; each client appears at most once.

    `invoices` carry their allocation; `tool_suspended` is keyed by client id; `done` holds the
    suspend and reconnect keys already done; `balances` is the allocation's `client_balances`
    (a client whose credit covers everything is never suspended).
    """
    overall = client_balances(invoices, balances)
    late = past_threshold(invoices, today, config)

    def overdue(client_id: str) -> tuple[list[Invoice], Decimal]:
        found = late.get(client_id, [])
        total = sum((balance_of(i) for i in found), ZERO)
        owes = total > config.suspend_min_balance and overall.get(client_id, ZERO) > 0
        return (found, total) if owes else ([], total)

    suspend, reconnect, released = [], [], []
    # only a client with invoices past the threshold or suspended by the tool has anything to do
    concerned = (c for c in clients if c.client_id in late or c.client_id in tool_suspended)
    for client in sorted(concerned, key=lambda c: natural_key(c.client_id)):
        cid = client.client_id
        found, total = overdue(cid)
        made = tool_suspended.get(cid)
        if made is not None:
            if client.status != "suspended":
                released.append(Release(cid, made.key, client.status))
            elif not found and (key := reconnect_key(made.key)) not in done:
                reconnect.append(Reconnect(cid, key, made.key, config.reconnection_fee, today))
            continue
        keys = [suspend_key(cid, i.invoice_number) for i in found]
        fresh = [k for k in keys if k not in done]
        if client.status == "active" and fresh:
            suspend.append(Suspend(cid, fresh[0], tuple(keys),
                                   tuple(i.invoice_number for i in found), total, today))
    return SuspensionPlan(tuple(suspend), tuple(reconnect), tuple(released))
