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

With archived history (`Frozen`), the replay covers only what is alive: an archived invoice was
settled when it moved and stays so, and what it took of a payment or a credit note still alive
is taken out of that payment before the replay (and shown in where the payment went).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from types import MappingProxyType

from ispsheets.book.parse import paused_gc
from ispsheets.book.records import Invoice, Payment

ZERO = Decimal("0.00")
# Invoices nobody owes: voided by the owner, or held for the owner's check (not sent yet).
SET_ASIDE = frozenset({"void", "held"})


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
    # `credit-note:NUMBER` → invoice → what that credit note's credit paid of it
    notes_applied: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("invoices", "payments", "client_balances", "client_credit",
                     "notes_applied"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))


CREDIT_NOTE = "credit-note:"  # a credit note as a source of money, beside payment ids


@dataclass(frozen=True)
class Frozen:
    """Where the money of archived invoices came from, as far as the live replay needs it.

    `prepaid`: a live invoice → what sources no longer alive (archived payments, archived
    credit notes) paid of it, as `(source, amount, day)`: replayed on that day, on that
    invoice only (None: its issue date); `consumed`: a live source (payment id, or
    `credit-note:NUMBER`) → what it paid of archived invoices, as `(invoice, amount)`.
    """

    prepaid: Mapping[str, tuple[tuple[str, Decimal, dt.date | None], ...]] = field(
        default_factory=dict)
    consumed: Mapping[str, tuple[tuple[str, Decimal], ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("prepaid", "consumed"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))


NOTHING_FROZEN = Frozen()


def _text(amount: Decimal) -> str:
    exponent = amount.as_tuple().exponent
    return f"{amount:.2f}" if isinstance(exponent, int) and exponent >= -2 else str(amount)


_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """`INV-9` before `INV-10`: digit runs compare as numbers."""
    return tuple([(0, int(part)) if part.isdigit() else (1, part)
                  for part in _DIGITS.split(text) if part])


# ---------------------------------------------------------------- working state (mutable)

class _Inv:
    """A live invoice being paid; its `order` (oldest due first) is worked out when needed."""

    __slots__ = ("invoice", "number", "order", "paid", "paid_on", "position", "total")

    def __init__(self, invoice: Invoice, position: int = 0,
                 paid_on: dt.date | None = None) -> None:
        self.invoice = invoice
        self.number = invoice.invoice_number
        self.total = invoice.total
        self.paid = ZERO
        self.paid_on = paid_on
        self.order: tuple[object, ...] | None = None
        self.position = position  # where its number first came in the client's invoices


class _Source:
    """Credit waiting to be used: what is left of a payment (`payment_id`) or a credit note."""

    __slots__ = ("amount", "payment_id")

    def __init__(self, payment_id: str | None, amount: Decimal) -> None:
        self.payment_id = payment_id
        self.amount = amount


def _due_order(inv: _Inv) -> tuple[object, ...]:
    order = inv.order
    if order is None:
        invoice = inv.invoice
        order = inv.order = (invoice.due_date, invoice.issue_date, natural_key(inv.number))
    return order


def _open_order(inv: _Inv) -> tuple[object, ...]:
    return (_due_order(inv), inv.position)


class _ClientState:
    __slots__ = ("credit", "debt", "invoices", "open", "positions")

    def __init__(self) -> None:
        self.invoices: dict[str, _Inv] = {}  # live, positive-total ones
        self.open: dict[str, _Inv] = {}  # those of them with a balance left
        self.positions: dict[str, int] = {}
        self.credit: list[_Source] = []  # oldest first
        self.debt = ZERO  # negative credit

    @property
    def credit_total(self) -> Decimal:
        return sum((s.amount for s in self.credit), ZERO) - self.debt

    def add(self, invoice: Invoice) -> _Inv:
        number = invoice.invoice_number
        position = self.positions.setdefault(number, len(self.positions))
        inv = self.invoices[number] = _Inv(invoice, position)
        self.open[number] = inv
        return inv

    def sync(self, inv: _Inv) -> None:
        """Keep `open` to the invoices with a balance left (after `inv` changed)."""
        if inv.total - inv.paid > 0:
            self.open[inv.number] = inv
        else:
            self.open.pop(inv.number, None)

    def open_invoices(self) -> list[_Inv]:
        """Open invoices, oldest due date first (ties as they came in)."""
        if len(self.open) == 1:
            return list(self.open.values())
        return sorted(self.open.values(), key=_open_order)

    def paid_invoices_newest_first(self) -> list[_Inv]:
        return sorted((i for i in self.invoices.values() if i.paid > 0), key=_due_order,
                      reverse=True)


class _Allocator:
    def __init__(self, frozen: Frozen = NOTHING_FROZEN) -> None:
        self.frozen = frozen
        self.clients: dict[str, _ClientState] = {}
        self.applied: dict[str, dict[str, Decimal]] = {}  # payment_id → invoice → amount
        self.notes: dict[str, dict[str, Decimal]] = {}  # credit-note:N → invoice → amount
        self.amounts: dict[str, Decimal] = {}  # payment_id → sum of its rows' amounts
        self.credit_notes: dict[str, _Inv] = {}
        self.aside: dict[str, str] = {}  # void and held invoices: number → status

    def client(self, client_id: str) -> _ClientState:
        state = self.clients.get(client_id)
        if state is None:
            state = self.clients[client_id] = _ClientState()
        return state

    def _record(self, payment_id: str | None, number: str, amount: Decimal) -> None:
        if payment_id is None:
            return
        book = self.notes if payment_id.startswith(CREDIT_NOTE) else self.applied
        per_invoice = book.setdefault(payment_id, {})
        per_invoice[number] = per_invoice.get(number, ZERO) + amount

    def _consumed(self, source: str) -> Decimal:
        """What `source` paid of archived invoices (recorded as applied there), once per
        source: later rows sharing a payment id find nothing left."""
        pairs = self.frozen.consumed.get(source)
        if not pairs:
            return ZERO
        book = self.notes if source.startswith(CREDIT_NOTE) else self.applied
        per_invoice = book.setdefault(source, {})
        if any(number in per_invoice for number, _ in pairs):
            return ZERO
        for number, amount in pairs:
            per_invoice[number] = amount
        return sum((amount for _, amount in pairs), ZERO)

    def _pay(self, inv: _Inv, payment_id: str | None, amount: Decimal, day: dt.date) -> Decimal:
        """Apply up to `amount` to `inv`; return what is left (the caller syncs `open`)."""
        balance = inv.total - inv.paid
        used = balance if balance < amount else amount  # min(), which keeps the first on ties
        if used <= 0:
            return amount
        inv.paid += used
        if used == balance:
            inv.paid_on = day
        self._record(payment_id, inv.number, used)
        return amount - used

    def _take_back(self, inv: _Inv, payment_id: str | None, amount: Decimal) -> Decimal:
        taken = min(amount, inv.paid)
        if taken <= 0:
            return amount
        inv.paid -= taken
        inv.paid_on = None
        self._record(payment_id, inv.number, -taken)
        return amount - taken

    def _receive(self, state: _ClientState, payment_id: str | None, amount: Decimal,
                 day: dt.date) -> None:
        """Money in pays open invoices oldest due first, then clears negative credit, then waits."""
        if amount > 0 and state.open:
            for inv in state.open_invoices():
                amount = self._pay(inv, payment_id, amount, day)
                state.sync(inv)
                if amount <= 0:
                    break
        cleared = min(amount, state.debt)
        state.debt -= cleared
        if amount - cleared > 0:
            state.credit.append(_Source(payment_id, amount - cleared))

    def issue(self, invoice: Invoice) -> None:
        number = invoice.invoice_number
        if invoice.status in SET_ASIDE:
            self.aside[number] = invoice.status
            return
        state = self.client(invoice.client_id)
        if invoice.total <= 0:
            self.credit_notes[number] = _Inv(invoice, paid_on=invoice.issue_date)
            if invoice.total < 0:
                source = CREDIT_NOTE + number
                self.notes.setdefault(source, {})  # replayed (even if it pays nothing)
                credit = -invoice.total - self._consumed(source)
                if credit > 0:
                    self._receive(state, source, credit, invoice.issue_date)
            return
        inv = state.add(invoice)
        while state.credit and inv.total - inv.paid > 0:
            source = state.credit[0]
            source.amount = self._pay(inv, source.payment_id, source.amount, invoice.issue_date)
            if source.amount == 0:
                state.credit.pop(0)
        state.sync(inv)

    def prepay(self, payment: Payment) -> None:
        """An archived source's part of a live invoice, on its own day, on that invoice; what
        it cannot pay there (the replay ordered other money first) stays credit: money is
        never lost."""
        state = self.client(payment.client_id)
        inv = state.invoices.get(payment.invoice_number)
        if payment.amount < 0:  # an archived refund's take-back from it
            left = -payment.amount
            if inv is not None:
                left = self._take_back(inv, None, left)
                state.sync(inv)
            state.debt += left
            return
        left = payment.amount
        if inv is not None:
            left = self._pay(inv, None, left, payment.date)
            state.sync(inv)
        if left > 0:
            self._receive(state, None, left, payment.date)

    def pay(self, payment: Payment) -> None:
        pid = payment.payment_id
        self.amounts[pid] = self.amounts.get(pid, ZERO) + payment.amount
        self.applied.setdefault(pid, {})
        state = self.client(payment.client_id)
        named = state.invoices.get(payment.invoice_number)
        live = payment.amount - self._consumed(pid)  # what archived invoices did not take
        if live >= 0:
            left = live
            if named:
                left = self._pay(named, pid, left, payment.date)
                state.sync(named)
            self._receive(state, pid, left, payment.date)
            return
        left = -live
        while state.credit and left > 0:
            source = state.credit[-1]
            taken = min(source.amount, left)
            source.amount -= taken
            left -= taken
            if source.amount == 0:
                state.credit.pop()
        for inv in ([named] if named else []) + state.paid_invoices_newest_first():
            left = self._take_back(inv, pid, left)
            state.sync(inv)
        state.debt += left

    def result(self) -> Allocation:
        invoices: dict[str, InvoiceState] = {n: InvoiceState(ZERO, ZERO, status)
                                             for n, status in self.aside.items()}
        for number, inv in self.credit_notes.items():
            invoices[number] = InvoiceState(ZERO, ZERO, "paid", inv.paid_on)
        credit, balances = {}, {}
        for cid, state in self.clients.items():
            owed = ZERO
            for number, inv in state.invoices.items():
                paid = inv.paid
                balance = inv.total - paid
                owed += balance
                status = "paid" if balance == 0 else "partial" if paid > 0 else "open"
                invoices[number] = InvoiceState(paid, balance, status, inv.paid_on)
            credit[cid] = state.credit_total
            balances[cid] = owed - credit[cid]
        payments = {}
        amounts = self.amounts
        for pid, per_invoice in self.applied.items():
            if len(per_invoice) == 1:  # most payments pay one invoice
                [(number, amount)] = per_invoice.items()
                applied = ((number, amount),) if amount != 0 else ()
                payments[pid] = PaymentState(applied, amounts[pid] - (ZERO + amount))
                continue
            applied = tuple((n, a) for n, a in per_invoice.items() if a != 0)
            payments[pid] = PaymentState(applied, amounts[pid] - sum(per_invoice.values(),
                                                                     ZERO))
        return Allocation(invoices, payments, balances, credit, self.notes)


def _payment_order(p: Payment) -> tuple[object, ...]:
    return (p.date, natural_key(p.payment_id), p.amount, p.client_id, p.invoice_number,
            p.method, p.reference)


def _invoice_order(invoice: Invoice) -> tuple[object, ...]:
    return (natural_key(invoice.invoice_number),)


def _in_order(invoices: Sequence[Invoice], payments: Sequence[Payment]
              ) -> list[Invoice | Payment]:
    """Events by day, a day's invoices before its payments, ties by invoice number, then by
    payment id (and the rest of the row); rows equal in all that keep their given order."""
    events: list[tuple[dt.date, int, Invoice | Payment]] = [
        (i.issue_date, 0, i) for i in invoices]
    events.extend((p.date, 1, p) for p in payments)
    events.sort(key=_day_and_kind)
    if len({(e[0], e[1]) for e in events}) < len(events):  # ties: sort them by the rest too
        events.sort(key=_full_order)
    return [e[2] for e in events]


def _day_and_kind(event: tuple[dt.date, int, object]) -> tuple[dt.date, int]:
    return event[0], event[1]


def _full_order(event: tuple[dt.date, int, Invoice | Payment]) -> tuple[object, ...]:
    item = event[2]
    if event[1] == 0:
        return event[0], 0, _invoice_order(item)  # type: ignore[arg-type]
    return event[0], 1, _payment_order(item)  # type: ignore[arg-type]


def _by_client(invoices: Sequence[Invoice], payments: Sequence[Payment]
               ) -> list[tuple[list[Invoice], list[Payment]]]:
    """The events of each client apart (clients never touch each other's money); all together
    when an invoice number or payment id turns up for two clients, which would tie them."""
    groups: dict[str, tuple[list[Invoice], list[Payment]]] = {}
    numbers: dict[str, str] = {}
    ids: dict[str, str] = {}
    for invoice in invoices:
        cid = invoice.client_id
        if numbers.setdefault(invoice.invoice_number, cid) != cid:
            return [(list(invoices), list(payments))]
        group = groups.get(cid)
        if group is None:
            group = groups[cid] = ([], [])
        group[0].append(invoice)
    for payment in payments:
        cid = payment.client_id
        if ids.setdefault(payment.payment_id, cid) != cid:
            return [(list(invoices), list(payments))]
        group = groups.get(cid)
        if group is None:
            group = groups[cid] = ([], [])
        group[1].append(payment)
    return list(groups.values())


def allocate(invoices: Sequence[Invoice], payments: Sequence[Payment],
             frozen: Frozen = NOTHING_FROZEN) -> Allocation:
    """Allocate all `payments` to `invoices` (the `paid`/`balance`/`status` they carry are ignored).

    Payment ids are expected filled and unique (rows sharing an id are reported as one).
    A credit note (negative total) is `paid` on its issue date and its amount becomes credit;
    a zero-total invoice is `paid` on its issue date; a void or held invoice stays as it is,
    owing nothing and paid by nothing.

    With `frozen` (archived history), `invoices` and `payments` are the live ones and the
    replay continues from what the archived invoices took (`Frozen`).
    """
    with paused_gc():
        allocator = _Allocator(frozen)
        prepaid = _prepaid(invoices, frozen)
        for client_invoices, client_payments in _by_client(invoices, [*payments, *prepaid]):
            for item in _in_order(client_invoices, client_payments):
                if isinstance(item, Invoice):
                    allocator.issue(item)
                elif prepaid and item.method == _PREPAID:
                    allocator.prepay(item)
                else:
                    allocator.pay(item)
        return allocator.result()


_PREPAID = "\0archived"  # the method of the payments `_prepaid` makes (no row has it)


def _prepaid(invoices: Sequence[Invoice], frozen: Frozen) -> list[Payment]:
    """What archived sources paid of the live invoices, as payments replayed in their turn."""
    if not frozen.prepaid:
        return []
    result = []
    for invoice in invoices:
        for source, amount, day in frozen.prepaid.get(invoice.invoice_number, ()):
            day = max(day or invoice.issue_date, invoice.issue_date)  # not before it exists
            result.append(Payment(source, day, invoice.client_id, amount, method=_PREPAID,
                                  invoice_number=invoice.invoice_number))
    return result


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
