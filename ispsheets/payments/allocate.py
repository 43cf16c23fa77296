"""Every payment against every invoice, recomputed from scratch on each run.

The result never depends on row order: events are replayed in date order (a day's invoices
before that day's payments; ties by invoice number, then payment id), so an owner who corrects an
old payment simply gets the right answer on the next run.

Rules, per client:
- a payment goes to its `invoice_number` first (when that invoice is the client's and open),
  then to the open invoices oldest due date first; what is left is credit;
- credit (left-over payments, credit notes) pays the client's next invoices when they are issued;
- a negative payment (refund, bounced check) takes back unapplied credit first, then the named
  invoice, then paid invoices newest due date first (reopening them); anything beyond is negative
  credit (the client owes it), cleared by later money once the open invoices are paid.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from types import MappingProxyType

from ispsheets.book.records import Invoice, Payment

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class InvoiceState:
    """An invoice after allocation; `paid_on` is the day its balance reached 0 (None if open)."""

    paid: Decimal
    balance: Decimal
    status: str
    paid_on: dt.date | None = None


@dataclass(frozen=True)
class PaymentState:
    """Where a payment went: `(invoice_number, amount)` pairs in order, and what is credit.

    `sum(applied) + unapplied == payment.amount`; for a negative payment both are ≤ 0 (what it
    took back from invoices, and from credit or beyond it).
    """

    applied: tuple[tuple[str, Decimal], ...] = ()
    unapplied: Decimal = ZERO

    @property
    def applied_to_text(self) -> str:
        """`INV-00042:49.99; INV-00051:10.00`, as the Payments tab shows it."""
        return "; ".join(f"{number}:{_text(amount)}" for number, amount in self.applied)


@dataclass(frozen=True)
class Allocation:
    invoices: Mapping[str, InvoiceState] = field(default_factory=dict)
    payments: Mapping[str, PaymentState] = field(default_factory=dict)
    client_balances: Mapping[str, Decimal] = field(default_factory=dict)  # open − credit
    client_credit: Mapping[str, Decimal] = field(default_factory=dict)  # < 0: the client owes

    def __post_init__(self) -> None:
        for name in ("invoices", "payments", "client_balances", "client_credit"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))


def _text(amount: Decimal) -> str:
    exponent = amount.as_tuple().exponent
    return f"{amount:.2f}" if isinstance(exponent, int) and exponent >= -2 else str(amount)


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """`INV-9` before `INV-10`: digit runs compare as numbers."""
    return tuple((0, int(part)) if part.isdigit() else (1, part)
                 for part in re.split(r"(\d+)", text) if part)


# ---------------------------------------------------------------- working state (mutable)

@dataclass
class _Inv:
    invoice: Invoice
    paid: Decimal = ZERO
    paid_on: dt.date | None = None

    @property
    def balance(self) -> Decimal:
        return self.invoice.total - self.paid

    @property
    def due_order(self) -> tuple[object, ...]:
        i = self.invoice
        return (i.due_date, i.issue_date, natural_key(i.invoice_number))


@dataclass
class _Source:
    """Credit waiting to be used: what is left of a payment (`payment_id`) or a credit note."""

    payment_id: str | None
    amount: Decimal


@dataclass
class _ClientState:
    invoices: dict[str, _Inv] = field(default_factory=dict)  # live, positive-total ones
    credit: list[_Source] = field(default_factory=list)  # oldest first
    debt: Decimal = ZERO  # negative credit

    @property
    def credit_total(self) -> Decimal:
        return sum((s.amount for s in self.credit), ZERO) - self.debt

    def open_invoices(self) -> list[_Inv]:
        return sorted((i for i in self.invoices.values() if i.balance > 0),
                      key=lambda i: i.due_order)

    def paid_invoices_newest_first(self) -> list[_Inv]:
        return sorted((i for i in self.invoices.values() if i.paid > 0),
                      key=lambda i: i.due_order, reverse=True)


class _Allocator:
    def __init__(self) -> None:
        self.clients: dict[str, _ClientState] = {}
        self.applied: dict[str, dict[str, Decimal]] = {}  # payment_id → invoice → amount
        self.amounts: dict[str, Decimal] = {}  # payment_id → sum of its rows' amounts
        self.credit_notes: dict[str, _Inv] = {}
        self.void: set[str] = set()

    def client(self, client_id: str) -> _ClientState:
        return self.clients.setdefault(client_id, _ClientState())

    def _record(self, payment_id: str | None, number: str, amount: Decimal) -> None:
        if payment_id is None:
            return
        per_invoice = self.applied.setdefault(payment_id, {})
        per_invoice[number] = per_invoice.get(number, ZERO) + amount

    def _pay(self, inv: _Inv, payment_id: str | None, amount: Decimal, day: dt.date) -> Decimal:
        """Apply up to `amount` to `inv`; return what is left."""
        used = min(amount, inv.balance)
        if used <= 0:
            return amount
        inv.paid += used
        if inv.balance == 0:
            inv.paid_on = day
        self._record(payment_id, inv.invoice.invoice_number, used)
        return amount - used

    def _take_back(self, inv: _Inv, payment_id: str, amount: Decimal) -> Decimal:
        taken = min(amount, inv.paid)
        if taken <= 0:
            return amount
        inv.paid -= taken
        inv.paid_on = None
        self._record(payment_id, inv.invoice.invoice_number, -taken)
        return amount - taken

    def _receive(self, state: _ClientState, payment_id: str | None, amount: Decimal,
                    day: dt.date) -> None:
        """Money in pays open invoices oldest due first, then clears negative credit, then waits."""
        for inv in state.open_invoices():
            amount = self._pay(inv, payment_id, amount, day)
        cleared = min(amount, state.debt)
        state.debt -= cleared
        if amount - cleared > 0:
            state.credit.append(_Source(payment_id, amount - cleared))

    def issue(self, invoice: Invoice) -> None:
        number = invoice.invoice_number
        if invoice.status == "void":
            self.void.add(number)
            return
        state = self.client(invoice.client_id)
        if invoice.total <= 0:
            self.credit_notes[number] = _Inv(invoice, paid_on=invoice.issue_date)
            if invoice.total < 0:
                self._receive(state, None, -invoice.total, invoice.issue_date)
            return
        inv = state.invoices[number] = _Inv(invoice)
        while state.credit and inv.balance > 0:
            source = state.credit[0]
            source.amount = self._pay(inv, source.payment_id, source.amount, invoice.issue_date)
            if source.amount == 0:
                state.credit.pop(0)

    def pay(self, payment: Payment) -> None:
        pid = payment.payment_id
        self.amounts[pid] = self.amounts.get(pid, ZERO) + payment.amount
        self.applied.setdefault(pid, {})
        state = self.client(payment.client_id)
        named = state.invoices.get(payment.invoice_number)
        if payment.amount >= 0:
            left = self._pay(named, pid, payment.amount, payment.date) if named else payment.amount
            self._receive(state, pid, left, payment.date)
            return
        left = -payment.amount
        while state.credit and left > 0:
            source = state.credit[-1]
            taken = min(source.amount, left)
            source.amount -= taken
            left -= taken
            if source.amount == 0:
                state.credit.pop()
        for inv in ([named] if named else []) + state.paid_invoices_newest_first():
            left = self._take_back(inv, pid, left)
        state.debt += left

    def result(self) -> Allocation:
        invoices: dict[str, InvoiceState] = {n: InvoiceState(ZERO, ZERO, "void") for n in self.void}
        for number, inv in self.credit_notes.items():
            invoices[number] = InvoiceState(ZERO, ZERO, "paid", inv.paid_on)
        for state in self.clients.values():
            for number, inv in state.invoices.items():
                invoices[number] = InvoiceState(inv.paid, inv.balance, _status(inv), inv.paid_on)
        payments = {}
        for pid, per_invoice in self.applied.items():
            applied = tuple((n, a) for n, a in per_invoice.items() if a != 0)
            payments[pid] = PaymentState(applied, self.amounts[pid] - sum(per_invoice.values(),
                                                                          ZERO))
        credit = {cid: s.credit_total for cid, s in self.clients.items()}
        balances = {cid: sum((i.balance for i in s.invoices.values()), ZERO) - credit[cid]
                    for cid, s in self.clients.items()}
        return Allocation(invoices, payments, balances, credit)


def _status(inv: _Inv) -> str:
    if inv.balance == 0:
        return "paid"
    return "partial" if inv.paid > 0 else "open"


def _payment_order(p: Payment) -> tuple[object, ...]:
    return (p.date, natural_key(p.payment_id), p.amount, p.client_id, p.invoice_number,
            p.method, p.reference)


def allocate(invoices: Sequence[Invoice], payments: Sequence[Payment]) -> Allocation:
    """Allocate all `payments` to `invoices` (the `paid`/`balance`/`status` they carry are ignored).

    Payment ids are expected filled and unique (rows sharing an id are reported as one).
    A credit note (negative total) is `paid` on its issue date and its amount becomes credit;
    a zero-total invoice is `paid` on its issue date; a void invoice stays `void`.
    """
    events: list[tuple[dt.date, int, tuple[object, ...], Invoice | Payment]] = []
    for invoice in invoices:
        events.append((invoice.issue_date, 0, (natural_key(invoice.invoice_number),), invoice))
    for payment in payments:
        events.append((payment.date, 1, _payment_order(payment), payment))
    allocator = _Allocator()
    for _day, _kind, _order, item in sorted(events, key=lambda e: e[:3]):
        if isinstance(item, Invoice):
            allocator.issue(item)
        else:
            allocator.pay(item)
    return allocator.result()


def with_allocation(invoices: Sequence[Invoice], allocation: Allocation) -> list[Invoice]:
    """The invoices with `paid`, `balance` and `status` as the allocation says."""
    result = []
    for invoice in invoices:
        state = allocation.invoices.get(invoice.invoice_number)
        if state is not None:
            invoice = replace(invoice, paid=state.paid, balance=state.balance,
                              status=state.status)
        result.append(invoice)
    return result
