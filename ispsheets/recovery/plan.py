"""From the workbook to everything a run consults in the journal: pure."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from ispsheets.billing.invoicing import BilledPeriod, period_key
from ispsheets.billing.numbering import parse_number
from ispsheets.billing.periods import (
    ONE_DAY,
    Grid,
    anchor,
    days_between,
    first_billable_day,
    service_periods,
    unbilled_parts,
)
from ispsheets.book.reader import RawBook
from ispsheets.book.records import Book, Invoice, InvoiceLine
from ispsheets.collections.late_fees import late_fee_key
from ispsheets.collections.reminders import reminder_key
from ispsheets.collections.suspension import reconnect_key, suspend_key
from ispsheets.config import Config
from ispsheets.journal import Billed
from ispsheets.ledger import HELD
from ispsheets.money import round_money
from ispsheets.problems import warning
from ispsheets.recovery.record import Recovery, SentMessage
from ispsheets.recovery.tool_tabs import read_activity, read_lines

ZERO = Decimal("0")
_LATE_FEE = re.compile(r"^Late fee for (\S+)$")
_NUMBERS_AT_END = re.compile(r"\(([^()]*)\)\s*$")
_FEE_ID = re.compile(r"fee (\S+) ")


def plan_recovery(book: Book, raw: RawBook, config: Config, generation: int | None
                  ) -> Recovery:
    """Everything a run consults in the journal, as the workbook shows it."""
    order = config.workbook.date_order
    recovery = Recovery(generation=generation)
    recovery.activity = read_activity(raw, order)
    _invoices(recovery, book, read_lines(raw, order), config)
    _waived(recovery, book, config)
    _messages(recovery, book)
    _collections(recovery, book, config)
    _payments(recovery, book)
    _sequences(recovery, book)
    return recovery


def _seqs(numbers: Sequence[str], fmt: str) -> dict[str, int]:
    """Each number's sequence; numbers of another shape follow the highest, in their order."""
    seqs = {n: parse_number(fmt, n) for n in numbers}
    top = max((s for s in seqs.values() if s is not None), default=0)
    result = {}
    for number in numbers:
        seq = seqs[number]
        if seq is None:
            top += 1
            seq = top
        result[number] = seq
    return result


def _invoices(recovery: Recovery, book: Book, lines: dict[str, list[InvoiceLine]],
              config: Config) -> None:
    services = {s.service_id: s for s in book.services}
    charges = {c.charge_id: c for c in book.charges if c.charge_id}
    rows: dict[str, Invoice] = {}
    for invoice in book.invoices:
        if invoice.invoice_number and invoice.client_id:
            rows.setdefault(invoice.invoice_number, invoice)
    seqs = _seqs(list(rows), config.invoicing.number_format)
    used: set[int] = set()
    periods: dict[str, list[BilledPeriod]] = defaultdict(list)
    pending_credits = []
    for number in sorted(rows, key=lambda n: seqs[n]):
        invoice = rows[number]
        seq = seqs[number]
        if seq in used:
            recovery.problems.append(warning(
                "Invoices", f"{number} has the same sequence as another invoice",
                "it is recovered after the highest number; the next invoice number follows it"))
            seq = max(used) + 1
        used.add(seq)
        billed: list[Billed] = []
        own_lines = []
        for line in lines.get(number, []):
            charge = charges.get(line.service_id)
            is_charge = line.period_start is None and (
                line.service_id not in services
                or (charge is not None and charge.invoice_number == number))
            if is_charge:
                own_lines.append(InvoiceLine(
                    number, line.line, "", line.description, None, None, line.quantity,
                    line.unit_price, line.amount, line.tax_rate, line.tax, line.service_id))
                if line.service_id:
                    billed.append(Billed("charge", line.service_id, _money(
                        line, date=charge.date.isoformat() if charge else None)))
                continue
            own_lines.append(line)
            service = services.get(line.service_id)
            if line.period_start is None or line.period_end is None:
                billed.append(Billed("setup", line.service_id, _money(line, config.currency)))
            elif line.amount < 0:
                pending_credits.append((number, line))
            else:
                period = _period(line, service, book, config, number)
                periods[line.service_id].append(period)
                billed.append(Billed("period", period.key, period.to_data()))
        for charge in book.charges:  # billed rows whose line is missing from InvoiceLines
            if charge.charge_id and charge.invoice_number == number and \
                    not any(b.kind == "charge" and b.key == charge.charge_id for b in billed):
                billed.append(Billed("charge", charge.charge_id, {
                    "amount": str(charge.amount), "date": charge.date.isoformat()}))
        if not lines.get(number) and invoice.total != ZERO:
            recovery.problems.append(warning(
                "InvoiceLines", f"{number} has no lines: what it billed cannot be known",
                "service days inside a billed range are kept unbilled; check the client's "
                "next invoice"))
        money = functools.partial(round_money, currency=config.currency)
        journal_invoice = Invoice(
            number, invoice.client_id, invoice.issue_date, invoice.period_start,
            invoice.period_end, invoice.due_date, money(invoice.subtotal), money(invoice.tax),
            money(invoice.total), lines=tuple(
                replace(x, amount=money(x.amount), tax=money(x.tax)) for x in own_lines))
        recovery.invoices.append((journal_invoice, seq, billed, invoice.status == "void"))
        if invoice.status == HELD:  # still held: not sent, charged or reminded until released
            recovery.act(f"{HELD}/{number}", HELD, invoice.client_id, number,
                         "held (as the workbook showed when the journal was rebuilt)")
    by_number = {inv.invoice_number: billed for inv, _, billed, _ in recovery.invoices}
    for number, line in pending_credits:
        credited = next((p for p in periods.get(line.service_id, [])
                         if p.end == line.period_end and p.start <= line.period_start),  # type: ignore[operator]
                        None)
        key = credited.key if credited else period_key(line.service_id, line.period_start)  # type: ignore[arg-type]
        start, end = line.period_start, line.period_end
        assert start is not None and end is not None
        by_number[number].append(Billed("credit", key, _money(
            line, config.currency, service_id=line.service_id,
            period_start=(credited.start if credited else start).isoformat(),
            start=start.isoformat(), end=end.isoformat(),
            end_date=(start - ONE_DAY).isoformat(), days=days_between(start, end),
            full_days=credited.full_days if credited else days_between(start, end))))
    _rebilled_on_live_invoices(recovery)
    fmt = config.invoicing.number_format
    top = max(used, default=0)
    recovery.sequences["invoice"] = top
    recovery.next_invoice = fmt.format(seq=top + 1)


def _rebilled_on_live_invoices(recovery: Recovery) -> None:
    """What a voided invoice billed stays billed by it, unless the owner released it
    (`ispsheets rebill`) and a later invoice billed it again: then it belongs to that one."""
    live = {(b.kind, b.key) for _, _, billed, void in recovery.invoices if not void
            for b in billed}
    for _, _, billed, void in recovery.invoices:
        if void:
            billed[:] = [b for b in billed if (b.kind, b.key) not in live]


def _money(line: InvoiceLine, currency: str = "USD", **extra: Any) -> dict[str, Any]:
    return {**{k: v for k, v in extra.items() if v is not None},
            "amount": str(round_money(line.amount, currency)),
            "tax": str(round_money(line.tax, currency)), "tax_rate": str(line.tax_rate)}


def _period(line: InvoiceLine, service: Any, book: Book, config: Config,
            number: str) -> BilledPeriod:
    start, end = line.period_start, line.period_end
    assert start is not None and end is not None
    full_days = days_between(start, end)
    discount = ZERO
    if service is not None:
        package = next((p for p in book.packages if p.package_id == service.package_id), None)
        client = next((c for c in book.clients if c.client_id == service.client_id), None)
        day = (client.billing_day if client else None) or config.invoicing.billing_day
        if package is not None and package.interval in ("monthly", "quarterly", "semiannual",
                                                        "annual"):
            first = first_billable_day(service.start_date, service.billed_through)
            full_start, full_end = Grid(anchor(first, day), package.months).full_period(start)
            full_days = days_between(full_start, full_end)
        discount = service.discount_pct
    return BilledPeriod(line.service_id, start, end, full_days, line.unit_price, line.quantity,
                        discount, line.tax_rate, line.amount, line.tax,
                        config.invoicing.prices_include_tax, number)


def _waived(recovery: Recovery, book: Book, config: Config) -> None:
    """Days of a service between its first and last billed period that no invoice billed were
    waived (billing stops while suspended) or are unknown: either way never billed now."""
    billed: dict[str, list[BilledPeriod]] = defaultdict(list)
    for _, _, items, _ in recovery.invoices:
        for item in items:
            if item.kind == "period":
                period = BilledPeriod.from_data(item.key, item.data, "")
                if period is not None:
                    billed[period.service_id].append(period)
    for service in book.services:
        done = sorted(billed.get(service.service_id, []), key=lambda p: p.start)
        if len(done) < 2:
            continue
        package = next((p for p in book.packages if p.package_id == service.package_id), None)
        client = next((c for c in book.clients if c.client_id == service.client_id), None)
        if package is None or package.interval not in ("monthly", "quarterly", "semiannual",
                                                       "annual"):
            continue
        day = (client.billing_day if client else None) or config.invoicing.billing_day
        ranges = [(p.start, p.end) for p in done]
        for period in service_periods(done[0].start, day, package.months, service.end_date,
                                      done[-1].start):
            for start, stop in unbilled_parts(period.start, period.end, ranges):
                if stop >= done[-1].start:
                    continue
                gap = BilledPeriod(service.service_id, start, stop, period.full_days, ZERO)
                recovery.act(f"waived/{gap.key}", "waived", service.client_id, "",
                             json.dumps(gap.to_data()))


def _messages(recovery: Recovery, book: Book) -> None:
    known = {inv.invoice_number: inv for inv, *_ in recovery.invoices}
    sent: dict[str, SentMessage] = {}
    for row in book.invoices:
        if row.invoice_number in known and row.sent_at is not None:
            sent[row.invoice_number] = SentMessage(f"invoice/{row.invoice_number}", "invoice",
                                                   row.client_id, row.invoice_number,
                                                   row.sent_at)
    for row in recovery.activity:
        if row.action == "invoice_sent" and row.invoice_number in known:
            sent.setdefault(row.invoice_number, SentMessage(
                f"invoice/{row.invoice_number}", "invoice", row.client_id, row.invoice_number,
                row.timestamp))
    recovery.messages.extend(sent.values())
    receipts: dict[str, SentMessage] = {}
    for row in recovery.activity:
        if row.action == "receipt_sent" and row.detail:
            payment_id = row.detail.split()[0]
            receipts.setdefault(payment_id, SentMessage(f"receipt/{payment_id}", "receipt",
                                                        row.client_id, "", row.timestamp))
    for payment in book.payments:  # applied by a run, which sent its receipt then
        if payment.payment_id and (payment.applied_to or payment.unapplied is not None):
            receipts.setdefault(payment.payment_id, SentMessage(
                f"receipt/{payment.payment_id}", "receipt", payment.client_id, "",
                dt.datetime.combine(payment.date, dt.time())))
    recovery.messages.extend(receipts.values())


def _collections(recovery: Recovery, book: Book, config: Config) -> None:
    stages = [s.name for s in config.collections.reminders]
    for row in book.invoices:  # the furthest stage shown, and every stage before it
        if row.reminder_stage in stages:
            for stage in stages[:stages.index(row.reminder_stage) + 1]:
                recovery.act(reminder_key(row.invoice_number, stage), "reminder",
                             row.client_id, row.invoice_number, "recovered")
    fees_by_charge: dict[str, str] = {}
    for charge in book.charges:
        found = _LATE_FEE.match(charge.description.strip())
        if found:
            fees_by_charge[charge.charge_id] = found.group(1)
            _late_fee(recovery, found.group(1), charge.client_id, charge.charge_id,
                      charge.amount)
    charges = {c.charge_id: c for c in book.charges if c.charge_id}
    last_suspension: dict[str, tuple[str, dt.date]] = {}
    for row in recovery.activity:
        if row.action == "reminder_sent":
            stage, _, numbers = row.detail.partition(":")
            for number in (n.strip() for n in numbers.split(",")):
                if number and stage.strip() in stages:
                    recovery.act(reminder_key(number, stage.strip()), "reminder",
                                 row.client_id, number, "recovered")
        elif row.action == "late_fee_added" and row.invoice_number:
            charge_id = row.detail.split()[0] if row.detail else ""
            charge = charges.get(charge_id)
            _late_fee(recovery, row.invoice_number, row.client_id, charge_id,
                      charge.amount if charge else None)
        elif row.action == "client_suspended":
            found = _NUMBERS_AT_END.search(row.detail)
            numbers = [n.strip() for n in (found.group(1) if found else "").split(",")
                       if n.strip()]
            if not numbers:
                continue
            key = suspend_key(row.client_id, numbers[0])
            recovery.act(key, "suspend", row.client_id, numbers[0],
                         row.timestamp.date().isoformat())
            for number in numbers[1:]:
                recovery.act(suspend_key(row.client_id, number), "suspend_covered",
                             row.client_id, number, "recovered")
            for effect in ("command", "email"):
                recovery.act(f"{key}/{effect}", "effect", row.client_id, numbers[0], "{}")
            last_suspension[row.client_id] = (key, row.timestamp.date())
            recovery.statuses[row.client_id] = "suspended"
        elif row.action == "client_reconnected":
            made = last_suspension.pop(row.client_id, None)
            if made is None:
                continue
            recovery.statuses[row.client_id] = "active"
            key = reconnect_key(made[0])
            recovery.act(key, "reconnect", row.client_id, "", row.timestamp.date().isoformat())
            for effect in ("command", "email"):
                recovery.act(f"{key}/{effect}", "effect", row.client_id, "", "{}")
            fee = _FEE_ID.search(row.detail)
            charge = charges.get(fee.group(1)) if fee else None
            if charge is not None:
                recovery.tool_rows.append((key, "Charges", _charge_values(charge)))
    statuses = {c.client_id: c.status for c in book.clients}
    recovery.suspended = {cid: made for cid, made in last_suspension.items()
                          if statuses.get(cid) == "suspended"}
    for charge_id, number in fees_by_charge.items():
        charge = charges.get(charge_id)
        if charge is not None:
            recovery.tool_rows.append((late_fee_key(number), "Charges", _charge_values(charge)))


def _late_fee(recovery: Recovery, number: str, client_id: str, charge_id: str,
              amount: Decimal | None) -> None:
    key = late_fee_key(number)
    recovery.act(key, "late_fee", client_id, number, f"{charge_id} {amount or ''}".strip())
    recovery.act(f"{key}/email", "effect", client_id, number, "{}")


def _charge_values(charge: Any) -> dict[str, Any]:
    return {"charge_id": charge.charge_id, "client_id": charge.client_id,
            "date": charge.date.isoformat(), "description": charge.description,
            "amount": str(charge.amount), "taxable": "yes" if charge.taxable else "no"}


def _payments(recovery: Recovery, book: Book) -> None:
    """A payment the tool had applied (its tool cells are filled, or Activity says so) is not
    logged again; one typed since the last run is still new."""
    applied = {row.detail.split()[0] for row in recovery.activity
               if row.action == "payment_applied" and row.detail}
    for payment in book.payments:
        if not payment.payment_id:
            continue
        if payment.payment_id in applied or payment.applied_to or payment.unapplied is not None:
            recovery.act(f"payment/{payment.payment_id}", "payment", payment.client_id, "",
                         f"{payment.date.isoformat()}|{payment.client_id}|{payment.amount}")


def _sequences(recovery: Recovery, book: Book) -> None:
    """Ids the tool gives to id-less rows continue after the highest one it gave."""
    for tab, ids, prefix in (("Charges", [c.charge_id for c in book.charges], "CHG-"),
                             ("Payments", [p.payment_id for p in book.payments], "PAY-")):
        numbers = [int(i[len(prefix):]) for i in ids
                   if i.startswith(prefix) and i[len(prefix):].isdigit()]
        if numbers:
            recovery.sequences[f"id:{tab}"] = max(numbers)


