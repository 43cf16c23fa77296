"""Reminders: one message per client per run, at the latest stage each open invoice has reached.

Each stage goes out at most once per invoice. After missed runs only the latest stage due is sent
(never a burst of old ones), and never an earlier stage after a later one. Nothing is sent for a
paid or void invoice, a balance at or below `min_balance`, or a client whose credit covers what
they owe.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from ispsheets.book.records import Client, Invoice
from ispsheets.collections.overdue import (
    balance_of,
    client_balances,
    days_past_due,
    oldest_first,
    owes_more_than,
)
from ispsheets.config import ReminderStage
from ispsheets.payments.allocate import natural_key


def reminder_key(invoice_number: str, stage: str) -> str:
    return f"reminder/{invoice_number}/{stage}"


@dataclass(frozen=True)
class ReminderItem:
    """One invoice in a reminder; `stage` is the stage sent now (for `also_open`: the latest
    stage sent before, or "")."""

    invoice_number: str
    stage: str
    due_date: dt.date
    days_past_due: int
    balance: Decimal

    @property
    def key(self) -> str:
        return reminder_key(self.invoice_number, self.stage)


@dataclass(frozen=True)
class ReminderNotice:
    """One reminder message to one client.

    Record every `items[i].key` (`reminder/INV-00042/first_reminder`) in the journal: that is
    what stops a stage going out twice. `also_open` lists the client's other open invoices so
    the message can show everything owed; they are not recorded.
    """

    client_id: str
    date: dt.date
    stage: str  # the most advanced stage among the items
    template: str
    items: tuple[ReminderItem, ...]
    also_open: tuple[ReminderItem, ...] = ()
    balance: Decimal = Decimal("0.00")  # the client's overall balance
    reminded_before: bool = False  # an earlier stage went out for one of these invoices

    @property
    def key(self) -> str:
        """The message's key: one reminder per client per day."""
        return f"reminder/{self.client_id}/{self.date.isoformat()}"

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        return tuple((i.invoice_number, i.stage) for i in self.items)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(i.key for i in self.items)


class _Stages:
    """The configured stages ordered by days past due (config order breaks ties)."""

    def __init__(self, stages: Sequence[ReminderStage]) -> None:
        self.ordered = [s for _, s in sorted(enumerate(stages), key=lambda p: (p[1].days, p[0]))]
        self.rank: dict[str, int] = {}
        for rank, stage in enumerate(self.ordered):
            self.rank.setdefault(stage.name, rank)

    def latest_due(self, days: int) -> ReminderStage | None:
        reached = [s for s in self.ordered if s.days <= days]
        return reached[-1] if reached else None

    def latest_sent(self, sent: frozenset[str]) -> str:
        known = [name for name in sent if name in self.rank]
        return max(known, key=self.rank.__getitem__) if known else ""

    def new_stage(self, days: int, sent: frozenset[str]) -> ReminderStage | None:
        """The latest stage due, unless it or a later one was already sent."""
        stage = self.latest_due(days)
        if stage is None:
            return None
        done = self.latest_sent(sent)
        if done and self.rank[done] >= self.rank[stage.name]:
            return None
        return stage


def plan_reminders(invoices: Sequence[Invoice], clients: Sequence[Client], today: dt.date,
                   stages: Sequence[ReminderStage], min_balance: Decimal,
                   sent: Mapping[str, frozenset[str]],
                   balances: Mapping[str, Decimal] | None = None) -> list[ReminderNotice]:
    """The reminders to send today, one per client, ordered by client id.

    `invoices` carry their allocation (`paid`, `balance`, `status`); `sent` maps an invoice
    number to the stage names already sent for it; `balances` is the allocation's
    `client_balances` (without it, the sum of each client's open invoice balances).
    """
    ladder = _Stages(stages)
    known = {c.client_id for c in clients}
    overall = client_balances(invoices, balances)
    by_client: dict[str, list[Invoice]] = {}
    for invoice in oldest_first(i for i in invoices
                                if i.client_id in known and owes_more_than(i, min_balance)):
        by_client.setdefault(invoice.client_id, []).append(invoice)
    notices = []
    for client_id in sorted(by_client, key=natural_key):
        balance = overall.get(client_id, Decimal("0.00"))
        if balance <= 0:
            continue
        items, others = [], []
        reminded_before = False
        for invoice in by_client[client_id]:
            days = days_past_due(invoice, today)
            done = sent.get(invoice.invoice_number, frozenset())
            reminded_before = reminded_before or bool(done)
            stage = ladder.new_stage(days, done)
            item = ReminderItem(invoice.invoice_number, stage.name if stage else
                                ladder.latest_sent(done), invoice.due_date, days,
                                balance_of(invoice))
            (items if stage else others).append(item)
        if not items:
            continue
        stage = ladder.ordered[max(ladder.rank[i.stage] for i in items)]
        notices.append(ReminderNotice(client_id, today, stage.name, stage.template, tuple(items),
                                      tuple(others), balance, reminded_before))
    return notices
