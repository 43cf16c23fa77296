"""The invoice planner: records + a run day + what was billed before in, the invoices to issue out.

Pure: it never reads the journal or the workbook. Every service day, Charges row, setup fee and
credit it bills carries a journal key (`Billed`), so the runner records them with the invoice in
one transaction and nothing is ever billed twice.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ispsheets.billing import describe
from ispsheets.billing.numbering import DEFAULT_FORMAT, format_number
from ispsheets.billing.periods import (
    ONE_DAY,
    days_between,
    first_billable_day,
    service_periods,
    unbilled_parts,
)
from ispsheets.billing.proration import charged_days, prorated_amount
from ispsheets.billing.tax import TaxedLine, apply_tax, line_rate
from ispsheets.book.records import Book, Charge, Client, Invoice, InvoiceLine, Package, Service
from ispsheets.journal import Billed
from ispsheets.money import ZERO, round_money
from ispsheets.payments.allocate import natural_key
from ispsheets.problems import Problem, warning

if TYPE_CHECKING:
    from ispsheets.config import Config


@dataclass(frozen=True)
class BillingRules:
    """The `invoicing` settings of config.yaml (and its currency) that billing follows."""

    billing_day: int = 1
    generate_days_before: int = 1
    due_days: int = 15
    tax_rate: Decimal = Decimal("0")  # percent, default for packages and charges
    prorate: bool = True
    prices_include_tax: bool = False
    number_format: str = DEFAULT_FORMAT
    currency: str = "USD"

    @classmethod
    def from_config(cls, config: Config) -> BillingRules:
        inv = config.invoicing
        return cls(inv.billing_day, inv.generate_days_before, inv.due_days, inv.tax_rate,
                   inv.prorate, inv.prices_include_tax, inv.number_format, config.currency)


# A year of billed periods holds a few distinct dates and amounts hundreds of thousands of
# times: each distinct text is parsed once.
@functools.lru_cache(maxsize=65536, typed=True)
def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


@functools.lru_cache(maxsize=65536, typed=True)  # 1 and 1.0 are not one Decimal
def _decimal(value: Any, default: Decimal = ZERO) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else default
    except InvalidOperation:
        return default


def period_key(service_id: str, start: dt.date) -> str:
    """`S1/2026-12-01`: the journal key of a service's billed days starting on `start`."""
    return f"{service_id}/{start.isoformat()}"


@dataclass(frozen=True)
class BilledPeriod:
    """Days of a service already invoiced, with what a later credit for unused days needs."""

    service_id: str
    start: dt.date
    end: dt.date
    full_days: int  # days of the full period the billed days lie in
    unit_price: Decimal
    quantity: Decimal = Decimal("1")
    discount_pct: Decimal = ZERO
    tax_rate: Decimal = ZERO
    amount: Decimal = ZERO
    tax: Decimal = ZERO
    tax_inclusive: bool = False
    invoice_number: str = ""

    @property
    def key(self) -> str:
        return period_key(self.service_id, self.start)

    def to_data(self) -> dict[str, Any]:
        """The journal's JSON for this period (the invoice number lives in its own column)."""
        return {"service_id": self.service_id, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "full_days": self.full_days,
                "unit_price": str(self.unit_price), "quantity": str(self.quantity),
                "discount_pct": str(self.discount_pct), "tax_rate": str(self.tax_rate),
                "amount": str(self.amount), "tax": str(self.tax),
                "tax_inclusive": self.tax_inclusive}

    @classmethod
    def from_data(cls, key: str, data: Mapping[str, Any],
                  invoice_number: str) -> BilledPeriod | None:
        """Read a journal row leniently; None only when not even its start day can be read."""
        key_service, _, key_start = key.rpartition("/")
        start = _date(data.get("start")) or _date(key_start)
        if start is None:
            return None
        end = _date(data.get("end")) or start
        try:
            full_days = int(data.get("full_days") or days_between(start, end))
        except (TypeError, ValueError):
            full_days = days_between(start, end)
        return cls(str(data.get("service_id") or key_service), start, end, full_days,
                   _decimal(data.get("unit_price")), _decimal(data.get("quantity"), Decimal(1)),
                   _decimal(data.get("discount_pct")), _decimal(data.get("tax_rate")),
                   _decimal(data.get("amount")), _decimal(data.get("tax")),
                   bool(data.get("tax_inclusive")), invoice_number)


@dataclass(frozen=True)
class BilledState:
    """What the journal says was billed, as plain values; built by the runner."""

    periods: Mapping[str, BilledPeriod] = field(default_factory=dict, hash=False)
    charges: frozenset[str] = frozenset()  # charge_ids billed
    credits: frozenset[str] = frozenset()  # period keys whose unused days were credited
    setup_fees: frozenset[str] = frozenset()  # service_ids whose setup fee was billed
    next_seq: int = 1
    credit_ends: Mapping[str, dt.date] = field(default_factory=dict, hash=False)
    voided: frozenset[str] = frozenset()  # invoice numbers the owner voided
    # service_id → days billed by archived invoices, merged (`billing.archived`): billed, and
    # nothing else to know of them
    covered: Mapping[str, tuple[tuple[dt.date, dt.date], ...]] = field(
        default_factory=dict, hash=False)

    _by_service: Mapping[str, tuple[BilledPeriod, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "periods", MappingProxyType(dict(self.periods)))
        object.__setattr__(self, "credit_ends", MappingProxyType(dict(self.credit_ends)))
        object.__setattr__(self, "covered", MappingProxyType(dict(self.covered)))
        by_service: dict[str, list[BilledPeriod]] = defaultdict(list)
        for period in self.periods.values():
            by_service[period.service_id].append(period)
        object.__setattr__(self, "_by_service", {
            sid: tuple(sorted(ps, key=lambda p: (p.start, p.end)))
            for sid, ps in by_service.items()})

    @classmethod
    def from_billed(cls, rows: Iterable[tuple[Billed, str]], next_seq: int,
                    voided: Iterable[str] = ()) -> BilledState:
        """From `Journal.billed()` rows, the journal's next sequence and its voided numbers."""
        return cls(next_seq=next_seq, voided=frozenset(voided)).with_billed(rows)

    def with_billed(self, rows: Iterable[tuple[Billed, str]],
                    next_seq: int | None = None) -> BilledState:
        """This state with more billed rows added (e.g. a plan just recorded)."""
        periods = dict(self.periods)
        charges, credits, setups = set(self.charges), set(self.credits), set(self.setup_fees)
        credit_ends = dict(self.credit_ends)
        for billed, number in rows:
            if billed.kind == "period":
                period = BilledPeriod.from_data(billed.key, billed.data, number)
                if period is not None:
                    periods[billed.key] = period
            elif billed.kind == "charge":
                charges.add(billed.key)
            elif billed.kind == "setup":
                setups.add(billed.key)
            elif billed.kind == "credit":
                credits.add(billed.key)
                if (end := _date(billed.data.get("end_date"))) is not None:
                    credit_ends[billed.key] = end
        return replace(self, periods=periods, charges=frozenset(charges),
                       credits=frozenset(credits), setup_fees=frozenset(setups),
                       credit_ends=credit_ends,
                       next_seq=self.next_seq if next_seq is None else next_seq)

    def after(self, plan: InvoicePlan) -> BilledState:
        """The state once `plan` is recorded: for dry runs, tests and planning ahead."""
        rows = [(b, p.invoice.invoice_number) for p in plan.invoices for b in p.billed]
        seqs = [p.seq for p in plan.invoices]
        return self.with_billed(rows, max(seqs) + 1 if seqs else self.next_seq)

    def periods_of(self, service_id: str) -> tuple[BilledPeriod, ...]:
        """A service's billed days, earliest first."""
        return self._by_service.get(service_id, ())

    def billed_ranges(self, service_id: str) -> list[tuple[dt.date, dt.date]]:
        """Every range of days billed for a service (archived ones too), earliest first."""
        return sorted([*self.covered.get(service_id, ()),
                       *((b.start, b.end) for b in self.periods_of(service_id))])


@dataclass(frozen=True)
class PlannedInvoice:
    invoice: Invoice  # number, dates, totals and lines filled in
    seq: int
    billed: tuple[Billed, ...]  # what it bills, to record with it


@dataclass(frozen=True)
class InvoicePlan:
    invoices: tuple[PlannedInvoice, ...] = ()
    problems: tuple[Problem, ...] = ()

    def charge_numbers(self) -> dict[str, str]:
        """charge_id → the invoice number that bills it (for the Charges tab)."""
        return {b.key: p.invoice.invoice_number for p in self.invoices for b in p.billed
                if b.kind == "charge"}


@dataclass(frozen=True)
class _Line:
    """An invoice line before its invoice has a number."""

    description: str
    quantity: Decimal
    unit_price: Decimal
    taxed: TaxedLine
    tax_rate: Decimal
    billed: Billed
    service_id: str = ""
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    charge_id: str = ""

    @property
    def is_period(self) -> bool:
        return self.billed.kind == "period"

    def to_line(self, number: str, index: int) -> InvoiceLine:
        return InvoiceLine(number, index, self.service_id, self.description, self.period_start,
                           self.period_end, self.quantity, self.unit_price, self.taxed.amount,
                           self.tax_rate, self.taxed.tax, self.charge_id)


def _money_data(taxed: TaxedLine, rate: Decimal, **extra: Any) -> dict[str, Any]:
    return {**extra, "amount": str(taxed.amount), "tax": str(taxed.tax), "tax_rate": str(rate)}


@dataclass
class _ClientDraft:
    """What one client gets this run, gathered service by service."""

    periods: list[_Line] = field(default_factory=list)  # period lines, each setup fee after
    extras: list[_Line] = field(default_factory=list)  # credits, then charges
    bills_again: bool = False  # some service still has days to bill on a later run

    def due(self) -> bool:
        """Service periods are due, or credits/charges would be stranded with no later invoice."""
        return bool(self.periods) or (bool(self.extras) and not self.bills_again)


class _ServicePlanner:
    """The lines one service contributes this run, and the warnings it raises."""

    def __init__(self, service: Service, client: Client, package: Package, rules: BillingRules,
                 today: dt.date, state: BilledState) -> None:
        self.service, self.package, self.rules, self.state = service, package, rules, state
        self.today = today
        self.billing_day = client.billing_day or rules.billing_day
        self.prorate = rules.prorate if package.prorate is None else package.prorate
        self.rate = line_rate(client.tax_exempt, package.tax_rate, rules.tax_rate)
        self.price = package.price if service.price is None else service.price
        self.first = first_billable_day(service.start_date, service.billed_through)
        self.billed = state.periods_of(service.service_id)
        self.problems: list[Problem] = []

    def _taxed(self, price: Decimal, rate: Decimal | None = None,
               inclusive: bool | None = None) -> TaxedLine:
        return apply_tax(price, self.rate if rate is None else rate,
                         self.rules.prices_include_tax if inclusive is None else inclusive,
                         self.rules.currency)

    def period_lines(self) -> tuple[list[_Line], bool]:
        """Lines for every unbilled part of every due period; and whether days remain later."""
        service = self.service
        last_start = self.today + dt.timedelta(days=self.rules.generate_days_before)
        end = service.end_date
        horizon = last_start if end is None else max(last_start, end)
        ranges = self.state.billed_ranges(service.service_id)
        lines: list[_Line] = []
        bills_again = end is None
        for period in service_periods(self.first, self.billing_day, self.package.months, end,
                                      horizon, _first_unbilled(self.first, ranges)):
            parts = unbilled_parts(period.start, period.end, ranges)
            if period.start > last_start:
                if parts:
                    bills_again = True
                    break
                continue
            for start, stop in parts:
                days = days_between(start, stop)
                # Days left over next to days already billed are always prorated: the rest
                # of that period was paid for already.
                trimmed = (start, stop) != (period.start, period.end)
                charged = days if trimmed else charged_days(days, period.full_days, self.prorate)
                lines.append(self._period_line(start, stop, charged, days, period.full_days))
        return lines, bills_again

    def _period_line(self, start: dt.date, stop: dt.date, charged: int, days: int,
                     full_days: int) -> _Line:
        service = self.service
        price = prorated_amount(self.price, service.quantity, service.discount_pct, charged,
                                full_days, self.rules.currency)
        taxed = self._taxed(price)
        billed = BilledPeriod(service.service_id, start, stop, full_days, self.price,
                              service.quantity, service.discount_pct, self.rate, taxed.amount,
                              taxed.tax, self.rules.prices_include_tax)
        fraction = (days, full_days) if charged < full_days else None
        text = describe.period_line(self.package, start, stop, service.discount_pct, fraction)
        return _Line(text, service.quantity, self.price, taxed, self.rate,
                     Billed("period", billed.key, billed.to_data()), service.service_id, start,
                     stop)

    def setup_line(self) -> _Line | None:
        """The setup fee, on the invoice carrying the service's first period billed by the tool.

        A service moved in with `billed_through` was set up before the tool, so it has none.
        """
        service, fee = self.service, self.package.setup_fee
        if (fee <= 0 or service.billed_through is not None or self.billed
                or service.service_id in self.state.covered
                or service.service_id in self.state.setup_fees):
            return None
        taxed = self._taxed(round_money(fee, self.rules.currency))
        return _Line(describe.setup_line(self.package), Decimal(1), fee, taxed, self.rate,
                     Billed("setup", service.service_id, _money_data(taxed, self.rate)),
                     service.service_id)

    def credit_lines(self) -> list[_Line]:
        """Unused days of periods already invoiced, now after the service's end date."""
        service, end = self.service, self.service.end_date
        lines = []
        for billed in self.billed:
            if billed.key in self.state.credits:
                self._check_credit_still_matches(billed)
                continue
            if (end is None or billed.end <= end or not self.prorate
                    or billed.invoice_number in self.state.voided):
                continue
            start = max(billed.start, end + ONE_DAY)
            unused = days_between(start, billed.end)
            value = prorated_amount(billed.unit_price, billed.quantity, billed.discount_pct,
                                    unused, billed.full_days, self.rules.currency)
            taxed = self._taxed(-value, billed.tax_rate, billed.tax_inclusive)
            data = _money_data(taxed, billed.tax_rate, service_id=service.service_id,
                               period_start=billed.start.isoformat(), start=start.isoformat(),
                               end=billed.end.isoformat(), end_date=end.isoformat(),
                               days=unused, full_days=billed.full_days)
            text = describe.credit_line(self.package, start, billed.end, unused,
                                        billed.full_days, billed.discount_pct)
            lines.append(_Line(text, billed.quantity, -billed.unit_price, taxed,
                               billed.tax_rate, Billed("credit", billed.key, data),
                               service.service_id, start, billed.end))
        return lines

    def _check_credit_still_matches(self, billed: BilledPeriod) -> None:
        credited_end = self.state.credit_ends.get(billed.key)
        if credited_end is None or credited_end == self.service.end_date:
            return
        now = ("now has no end date" if self.service.end_date is None
               else f"now ends {describe.day_text(self.service.end_date)}")
        self.problems.append(warning(
            self.service.origin.cell("end_date"),
            f"service {self.service.service_id} {now}, but the days after "
            f"{describe.day_text(credited_end)} of {describe.date_range(billed.start, billed.end)}"
            f" (invoice {billed.invoice_number}) were already credited; nothing more is billed "
            "or credited for them",
            "add a Charges row if the client owes or is owed for those days"))

    def check_billed_before_start(self) -> None:
        """Days billed before the service's first billable day (start moved later): warn."""
        for billed in self.billed:
            if billed.start >= self.first:
                break
            self.problems.append(warning(
                self.service.origin.cell("start_date"),
                f"service {self.service.service_id} now bills from "
                f"{describe.day_text(self.first)}, but "
                f"{describe.date_range(billed.start, min(billed.end, self.first - ONE_DAY))}"
                f" was already billed on {billed.invoice_number}; nothing is credited "
                "automatically",
                "add a negative Charges row if the client is owed for those days"))


def _first_unbilled(first: dt.date, ranges: list[tuple[dt.date, dt.date]]) -> dt.date:
    """The first day from `first` on that no billed range covers: the periods before the one
    holding it have nothing left to bill (years of them, once history is long)."""
    cursor = first
    for start, end in ranges:
        if start > cursor:
            break
        cursor = max(cursor, end + ONE_DAY)
    return cursor


def _charge_line(charge: Charge, client: Client, rules: BillingRules) -> _Line:
    rate = line_rate(client.tax_exempt or not charge.taxable, None, rules.tax_rate)
    price = round_money(charge.amount, rules.currency)
    taxed = apply_tax(price, rate, rules.prices_include_tax, rules.currency)
    return _Line(charge.description or f"Charge of {describe.day_text(charge.date)}",
                 Decimal(1), charge.amount, taxed, rate,
                 Billed("charge", charge.charge_id,
                        _money_data(taxed, rate, date=charge.date.isoformat())),
                 charge_id=charge.charge_id)


def _unbilled_charges(book: Book, today: dt.date, state: BilledState,
                      problems: list[Problem]) -> list[Charge]:
    """Charges rows dated on or before today that no invoice has billed yet. A row whose
    invoice_number names a voided invoice counts as billed only if the journal says so (it
    does, unless the owner released it with `ispsheets rebill`)."""
    result = []
    for charge in book.charges:
        marked = charge.invoice_number and charge.invoice_number not in state.voided
        if marked or charge.date > today or charge.charge_id in state.charges:
            continue
        if not charge.charge_id:
            problems.append(warning(charge.origin.cell("charge_id"),
                                    "charge has no charge_id yet, so it is not billed this run",
                                    "the next run fills one and bills it"))
            continue
        result.append(charge)
    return sorted(result, key=lambda c: (c.date, c.charge_id))


def _build_invoice(client_id: str, lines: list[_Line], seq: int, rules: BillingRules,
                   today: dt.date) -> PlannedInvoice:
    number = format_number(rules.number_format, seq)
    invoice_lines = tuple(line.to_line(number, i) for i, line in enumerate(lines, start=1))
    periods = [line for line in lines if line.is_period]
    subtotal = sum((x.amount for x in invoice_lines), ZERO)
    tax = sum((x.tax for x in invoice_lines), ZERO)
    invoice = Invoice(number, client_id, today,
                      min((p.period_start for p in periods if p.period_start), default=None),
                      max((p.period_end for p in periods if p.period_end), default=None),
                      today + dt.timedelta(days=rules.due_days), subtotal, tax, subtotal + tax,
                      lines=invoice_lines)
    return PlannedInvoice(invoice, seq, tuple(line.billed for line in lines))


def plan_invoices(book: Book, rules: BillingRules, today: dt.date, state: BilledState,
                  skip_clients: frozenset[str] = frozenset()) -> InvoicePlan:
    """The invoices to issue on `today`: one per client with anything due, numbered in order.

    Every due, unbilled service period goes on it (missed runs included), with the setup fee of
    a new service, credits for unused days, and the client's unbilled Charges rows. Credits and
    charges alone wait for the client's next invoice, unless no service of the client will bill
    again.
    """
    packages, clients = book.package_map(), book.client_map()
    problems: list[Problem] = []
    drafts: dict[str, _ClientDraft] = defaultdict(_ClientDraft)

    for service in sorted(book.services, key=lambda s: (s.client_id, s.start_date, s.service_id)):
        client, package = clients.get(service.client_id), packages.get(service.package_id)
        if service.client_id in skip_clients or client is None or package is None:
            continue
        planner = _ServicePlanner(service, client, package, rules, today, state)
        planner.check_billed_before_start()
        lines, bills_again = planner.period_lines()
        draft = drafts[service.client_id]
        draft.bills_again |= bills_again
        if lines:
            setup = planner.setup_line()
            draft.periods += lines[:1] + ([setup] if setup else []) + lines[1:]
        draft.extras += planner.credit_lines()
        problems += planner.problems

    for charge in _unbilled_charges(book, today, state, problems):
        client = clients.get(charge.client_id)
        if client is not None and charge.client_id not in skip_clients:
            drafts[charge.client_id].extras.append(_charge_line(charge, client, rules))

    planned = []
    seq = state.next_seq
    for client_id in sorted(drafts, key=natural_key):  # C9 before C10, as everywhere
        draft = drafts[client_id]
        if draft.due():
            planned.append(_build_invoice(client_id, draft.periods + draft.extras, seq, rules,
                                          today))
            seq += 1
    return InvoicePlan(tuple(planned), tuple(problems))
