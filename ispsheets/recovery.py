"""`ispsheets recover-journal`: rebuild a lost or damaged journal from the workbook.

The workbook holds everything the tool wrote: Invoices and InvoiceLines (numbers, what each
invoice billed), Charges (which rows were billed, the tool's fee rows), Payments (ids, what was
applied) and Activity (what was sent, fined, suspended, reconnected). `plan_recovery` reads
those back into what a run consults in the journal, so that after recovery a run never
re-numbers, re-bills, re-emails or re-fees anything:

- invoices with their lines, the next invoice number, voided ones;
- billed keys: service periods (with the full-period days a later credit needs), setup fees,
  credits for unused days, Charges rows; days inside a service's billed range that no invoice
  billed (waived while suspended) stay unbilled for good;
- messages: invoice emails (Invoices.sent_at or Activity `invoice_sent`), receipts;
- actions: reminder stages (Activity and Invoices.reminder_stage), late fees (Activity and the
  `Late fee for INV-…` rows), suspensions and reconnections, payments already applied; the
  emails and commands those queued count as done;
- the tool's own rows (fee Charges rows), Activity, and the workbook's write generation.

Pure planning here; `apply_recovery` writes a new journal beside the old file and swaps it in,
keeping the old one under another name.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
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
from ispsheets.book.parse import Invalid, parse_datetime, parse_decimal, parse_int, parse_text
from ispsheets.book.reader import RawBook
from ispsheets.book.records import ActivityRow, Book, Invoice, InvoiceLine
from ispsheets.book.schema import ACTIVITY, INVOICE_LINES, TABS_BY_NAME, find_tab, normalise_header
from ispsheets.collections.late_fees import late_fee_key
from ispsheets.collections.reminders import reminder_key
from ispsheets.collections.suspension import reconnect_key, suspend_key
from ispsheets.config import Config
from ispsheets.journal import Billed, Journal
from ispsheets.money import round_money
from ispsheets.problems import Problem, warning

ZERO = Decimal("0")
_LATE_FEE = re.compile(r"^Late fee for (\S+)$")
_NUMBERS_AT_END = re.compile(r"\(([^()]*)\)\s*$")
_FEE_ID = re.compile(r"fee (\S+) ")


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
    activity: list[ActivityRow] = field(default_factory=list)
    generation: int = 1
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
            f"{len(self.activity)} Activity rows; the workbook's write #{self.generation}",
        ]


# -- reading the tool tabs the Book does not carry ----------------------------------------------


def _tab_rows(raw: RawBook, tab_name: str) -> list[dict[str, object]]:
    """A tab's rows as schema column name → raw value (columns matched like headers)."""
    name = find_tab(raw.names, TABS_BY_NAME[tab_name])
    if name is None:
        return []
    sheet = raw.sheets[name]
    wanted = {normalise_header(c.name): c.name for c in TABS_BY_NAME[tab_name].columns}
    index = {wanted[normalise_header(h)]: i for i, h in enumerate(sheet.header)
             if normalise_header(h) in wanted}
    rows = []
    for values in sheet.rows[1:]:
        row = {column: values[i] if i < len(values) else None for column, i in index.items()}
        if any(v not in (None, "") for v in row.values()):
            rows.append(row)
    return rows


def _text(value: object) -> str:
    text = parse_text(value)
    return "" if isinstance(text, Invalid) else text


def _decimal(value: object) -> Decimal:
    number = parse_decimal(value) if value not in (None, "") else ZERO
    return ZERO if isinstance(number, Invalid) else number


def _date(value: object, order: str) -> dt.date | None:
    when = parse_datetime(value, order)  # type: ignore[arg-type]
    return when.date() if isinstance(when, dt.datetime) else None


def _datetime(value: object, order: str) -> dt.datetime | None:
    when = parse_datetime(value, order)  # type: ignore[arg-type]
    return when if isinstance(when, dt.datetime) else None


def read_lines(raw: RawBook, order: str) -> dict[str, list[InvoiceLine]]:
    """InvoiceLines rows by invoice number (service_id holds the charge id on charge lines;
    `plan_recovery` tells them apart)."""
    lines: dict[str, list[InvoiceLine]] = defaultdict(list)
    for row in _tab_rows(raw, INVOICE_LINES.name):
        number = _text(row.get("invoice_number"))
        if not number:
            continue
        position = parse_int(row.get("line"))
        lines[number].append(InvoiceLine(
            number, position if isinstance(position, int) else len(lines[number]) + 1,
            _text(row.get("service_id")), _text(row.get("description")),
            _date(row.get("period_start"), order), _date(row.get("period_end"), order),
            _decimal(row.get("quantity") or 1), _decimal(row.get("unit_price")),
            _decimal(row.get("amount")), _decimal(row.get("tax_rate")),
            _decimal(row.get("tax"))))
    return {n: sorted(ls, key=lambda x: x.line) for n, ls in lines.items()}


def read_activity(raw: RawBook, order: str) -> list[ActivityRow]:
    result = []
    for row in _tab_rows(raw, ACTIVITY.name):
        when = _datetime(row.get("timestamp"), order)
        action = _text(row.get("action"))
        if when is None or not action:
            continue
        result.append(ActivityRow(when, action, _text(row.get("client_id")),
                                  _text(row.get("invoice_number")), _text(row.get("detail"))))
    return result


# -- planning --------------------------------------------------------------------------------


def plan_recovery(book: Book, raw: RawBook, config: Config, generation: int | None
                  ) -> Recovery:
    """Everything a run consults in the journal, as the workbook shows it."""
    order = config.workbook.date_order
    recovery = Recovery(generation=generation or 1)
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
                "it is recovered with the next free number's place"))
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
        elif row.action == "client_reconnected":
            made = last_suspension.pop(row.client_id, None)
            if made is None:
                continue
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


# -- writing ---------------------------------------------------------------------------------


def write_journal(journal: Journal, recovery: Recovery, now: dt.datetime) -> None:
    """Fill an empty journal with `recovery`, in one transaction."""
    with journal.transaction():
        for invoice, seq, billed, void in recovery.invoices:
            journal.add_recovered_invoice(invoice, seq, billed, now if void else None, now)
        for name, value in recovery.sequences.items():
            journal.set_sequence(name, value)
        for message in recovery.messages:
            journal.begin_message(message.key, message.kind, message.client_id,
                                  message.invoice_number, message.when, "recovered")
            journal.finish_message(message.key, "sent", "recovered from the workbook",
                                   message.when)
        for action in recovery.actions.values():
            journal.record_action(action.key, action.kind, action.client_id,
                                  action.invoice_number, now, action.detail)
        for key, tab, values in recovery.tool_rows:
            journal.add_tool_row(key, tab, values, now)
        for client_id, (key, day) in recovery.suspended.items():
            journal.add_suspension(client_id, key, day)
        journal.add_written_activity(recovery.activity, recovery.generation, now)


def apply_recovery(path: Path, recovery: Recovery, now: dt.datetime) -> Path | None:
    """Build the new journal beside `path`, keep the old file (if any) as
    `<name>.broken-YYYYMMDD-HHMMSS`, and put the new one in its place; the kept file."""
    temp = path.with_name(f".{path.name}.recovering")
    for leftover in (temp, *_sidecars(temp)):
        leftover.unlink(missing_ok=True)
    journal = Journal.open(temp)
    try:
        write_journal(journal, recovery, now)
    finally:  # closing the last connection folds the write-ahead log into the file
        journal.close()
    kept = None
    if path.exists():
        kept = path.with_name(f"{path.name}.broken-{now:%Y%m%d-%H%M%S}")
        path.replace(kept)
        for sidecar in _sidecars(path):
            if sidecar.exists():
                sidecar.replace(kept.with_name(kept.name + sidecar.name[len(path.name):]))
    for sidecar in _sidecars(temp):
        sidecar.unlink(missing_ok=True)
    temp.replace(path)
    return kept


def _sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]


# -- the command -----------------------------------------------------------------------------


@dataclass
class Outcome:
    """What `recover` did, for the command to print."""

    lines: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    changed: bool = False
    failed: bool = False


def recover(config: Config, now: dt.datetime, *, dry_run: bool = False,
            force: bool = False) -> Outcome:
    """Rebuild the journal from the workbook, unless the journal is sound (then `force`)."""
    from ispsheets.book.backend import WorkbookReadError, open_backend
    from ispsheets.book.load import load_book
    from ispsheets.journal_guard import JournalStop, open_trusted, shown_invoice_numbers
    from ispsheets.lock import AlreadyRunning, run_lock

    outcome = Outcome()
    try:
        backend = open_backend(config)
        raw = backend.read()
    except WorkbookReadError as exc:
        outcome.problems.append(exc.problem)
        outcome.failed = True
        return outcome
    book = load_book(raw, config.workbook.date_order, today=now.date())
    path = config.journal_path
    if path.exists() and not force:
        try:
            open_trusted(config, shown_invoice_numbers(raw), backend.generation).close()
        except JournalStop:
            pass
        else:
            outcome.lines.append(f"{config.paths.journal} is readable and knows every invoice "
                                 "the workbook shows: nothing to recover (--force rebuilds "
                                 "it anyway)")
            return outcome
    recovery = plan_recovery(book, raw, config, backend.generation)
    outcome.problems.extend(recovery.problems)
    verb = "would rebuild" if dry_run else "rebuilt"
    outcome.lines.append(f"{verb} {config.paths.journal} from {backend.name}:")
    outcome.lines.extend(f"  {line}" for line in recovery.summary())
    if dry_run:
        outcome.lines.append("dry run, nothing changed; run without --dry-run to rebuild")
        return outcome
    try:
        with run_lock(path.with_suffix(".lock")):
            kept = apply_recovery(path, recovery, now)
    except AlreadyRunning as exc:
        outcome.problems.append(Problem(exc.path.name, f"an ispsheets run is busy "
                                        f"({exc.holder})", "wait for it to end, then recover"))
        outcome.failed = True
        return outcome
    outcome.changed = True
    if kept is not None:
        outcome.lines.append(f"the old file is kept as {kept.name}")
    outcome.lines.append("next: `ispsheets run --dry-run` shows what the next run will do")
    return outcome
