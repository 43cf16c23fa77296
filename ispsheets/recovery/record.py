"""What a rebuilt journal will hold, and what the owner is told about it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ispsheets.book.records import ActivityRow, Invoice
from ispsheets.journal import Billed
from ispsheets.problems import Problem


@dataclass(frozen=True)
class Action:
    key: str
    kind: str
    client_id: str = ""
    invoice_number: str = ""
    detail: str = ""


@dataclass(frozen=True)
class SentMessage:
    key: str
    kind: str
    client_id: str
    invoice_number: str
    when: dt.datetime


@dataclass
class Recovery:
    """What the new journal will hold, and what the owner should know about it."""

    invoices: list[tuple[Invoice, int, list[Billed], bool]] = field(default_factory=list)
    next_invoice: str = ""
    sequences: dict[str, int] = field(default_factory=dict)
    messages: list[SentMessage] = field(default_factory=list)
    actions: dict[str, Action] = field(default_factory=dict)
    tool_rows: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    suspended: dict[str, tuple[str, dt.date]] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)  # the last Clients.status the tool set
    activity: list[ActivityRow] = field(default_factory=list)
    generation: int | None = None  # the write number the workbook carries (None: none yet)
    problems: list[Problem] = field(default_factory=list)

    def act(self, key: str, kind: str, client_id: str = "", invoice_number: str = "",
            detail: str = "") -> None:
        self.actions.setdefault(key, Action(key, kind, client_id, invoice_number, detail))

    def count(self, kind: str) -> int:
        return sum(a.kind == kind for a in self.actions.values())

    def billed_count(self, kind: str) -> int:
        return sum(b.kind == kind for _, _, billed, _ in self.invoices for b in billed)

    def summary(self) -> list[str]:
        waived = self.count("waived")
        return [
            f"{len(self.invoices)} invoices (the next is {self.next_invoice}), "
            f"{sum(void for *_, void in self.invoices)} of them void",
            f"{self.billed_count('period')} billed service periods, "
            f"{self.billed_count('setup')} setup fees, {self.billed_count('credit')} credits, "
            f"{self.billed_count('charge')} billed Charges rows"
            + (f"; {waived} unbilled periods (waived while suspended) kept unbilled"
               if waived else ""),
            f"{sum(m.kind == 'invoice' for m in self.messages)} invoice emails and "
            f"{sum(m.kind == 'receipt' for m in self.messages)} receipts already sent",
            f"{self.count('reminder')} reminder stages, {self.count('late_fee')} late fees, "
            f"{self.count('suspend')} suspensions ({len(self.suspended)} still on), "
            f"{self.count('reconnect')} reconnections, {self.count('payment')} payments "
            "already applied",
            f"{len(self.activity)} Activity rows; "
            + (f"the workbook holds the tool's write #{self.generation}" if self.generation
               else "the workbook carries no write number yet"),
        ]


