"""What billing still needs of archived invoices, so a run reads only the invoices still alive.

The journal keeps every billed row for ever, but reading them all costs ~2.8 s a year of history
at 20,000 clients. When invoices are keyed to move to the archive, their periods are folded into
one summary row per service (`archived_billed`, kind `service`):

- `ranges`: the days the archived invoices billed, merged into covered ranges (a day is billed
  or not: merged ranges leave the same unbilled parts);
- `last`: the archived period that starts last, in full (a service ending inside it is credited
  its unused days, or warned about, exactly as from the full history);
- `before_last_end`: the last day billed by the other archived periods;
- `credits`: period key → the end date of each credit archived invoices gave.

Charges and setup fees need no summary: the journal is asked about the book's charge and service
ids only. Whatever the summary cannot answer, the service's own billed rows answer
(`needs_rows`): a service that now ends before `before_last_end` (a credit for an archived
period), that now starts after its first archived day (the start-moved warning), whose credited
end date changed (the warning names the credited period), or that a restored invoice billed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any

from ispsheets.billing.invoicing import BilledPeriod, BilledState
from ispsheets.billing.periods import ONE_DAY, first_billable_day
from ispsheets.book.records import Book, Service
from ispsheets.journal import Billed, Journal

SERVICE = "service"  # the archived_billed kind of a service's summary

Range = tuple[dt.date, dt.date]


def merge_ranges(ranges: Iterable[Range]) -> tuple[Range, ...]:
    """Overlapping and touching ranges joined, earliest first."""
    merged: list[Range] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + ONE_DAY:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return tuple(merged)


@dataclass(frozen=True)
class ArchivedService:
    """One service's summary of what archived invoices billed."""

    ranges: tuple[Range, ...] = ()
    last: BilledPeriod | None = None
    before_last_end: dt.date | None = None
    credits: Mapping[str, dt.date | None] | None = None

    @property
    def first_day(self) -> dt.date | None:
        return self.ranges[0][0] if self.ranges else None

    def merged(self, periods: Iterable[BilledPeriod],
               credits: Mapping[str, dt.date | None]) -> ArchivedService:
        """This summary with more archived periods and credits (idempotent, any order)."""
        periods = list(periods)
        candidates = periods + ([self.last] if self.last else [])  # a tie: the newer row
        last = max(candidates, key=lambda p: (p.start, p.end, p.key), default=None)
        ends = [p.end for p in candidates if last is None or p.key != last.key]
        if self.before_last_end is not None:
            ends.append(self.before_last_end)
        return ArchivedService(merge_ranges([*self.ranges, *((p.start, p.end) for p in periods)]),
                               last, max(ends, default=None),
                               {**(self.credits or {}), **credits})

    def to_data(self) -> dict[str, Any]:
        last = None if self.last is None else {
            **self.last.to_data(), "key": self.last.key, "invoice": self.last.invoice_number}
        return {"ranges": [[s.isoformat(), e.isoformat()] for s, e in self.ranges],
                "last": last,
                "before_last_end": _iso(self.before_last_end),
                "credits": {key: _iso(end) for key, end in sorted((self.credits or {}).items())}}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> ArchivedService:
        ranges = tuple((dt.date.fromisoformat(s), dt.date.fromisoformat(e))
                       for s, e in data.get("ranges") or ())
        raw = data.get("last")
        last = (BilledPeriod.from_data(raw["key"], raw, raw.get("invoice", ""))
                if raw else None)
        return cls(ranges, last, _date(data.get("before_last_end")),
                   {key: _date(end) for key, end in (data.get("credits") or {}).items()})


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def _date(text: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except (TypeError, ValueError):  # as leniently as the billed rows are read
        return None


def _service_of(key: str) -> str:
    return key.rpartition("/")[0]


# -- written when invoices are keyed to move ---------------------------------------------------

def summarize(existing: Mapping[str, ArchivedService],
              rows: Iterable[tuple[Billed, str]]) -> dict[str, ArchivedService]:
    """The summaries of the services these billed rows touch, merged with `existing`."""
    periods: dict[str, list[BilledPeriod]] = defaultdict(list)
    credits: dict[str, dict[str, dt.date | None]] = defaultdict(dict)
    for billed, number in rows:
        if billed.kind == "period":
            period = BilledPeriod.from_data(billed.key, billed.data, number)
            if period is not None:
                periods[period.service_id].append(period)
        elif billed.kind == "credit":
            credits[_service_of(billed.key)][billed.key] = _date(billed.data.get("end_date"))
    return {sid: existing.get(sid, ArchivedService()).merged(periods[sid], credits[sid])
            for sid in {*periods, *credits}}


def record_billed(journal: Journal, numbers: Iterable[str]) -> None:
    """Fold what these invoices billed into the summary (idempotent: again changes nothing).

    The summary of a service is what the invoices frozen for the archive billed. One frozen
    before and back in the workbook (restored: it may have been voided and rebilled since) may
    have left it out of date: the services of those invoices, and of any frozen again, are
    summarized anew from the rows of the frozen invoices and these.
    """
    numbers = list(numbers)
    with journal.transaction():
        again = _services_billed_by(journal, [*journal.frozen_among(numbers),
                                              *journal.reopened_numbers()])
        rows = [row for row in journal.billed_by(numbers) if row[0].kind in ("period", "credit")]
        fold = [row for row in rows if _service_of(row[0].key) not in again]
        services = {sid for b, _ in fold
                    for sid in (_service_of(b.key), str(b.data.get("service_id") or ""))}
        existing = {sid: ArchivedService.from_data(data)
                    for sid, data in journal.archived_billed_of(SERVICE, services).items()}
        summaries = summarize(existing, fold)
        rebuilt = summarize({}, [*journal.billed_of_services(again, frozen_only=True),
                                 *(row for row in rows if _service_of(row[0].key) in again)])
        journal.drop_archived_billed(SERVICE, again - set(rebuilt))
        journal.put_archived_billed(SERVICE, {sid: s.to_data()
                                              for sid, s in {**summaries, **rebuilt}.items()})


# -- read by every run -------------------------------------------------------------------------

def needs_rows(summary: ArchivedService, service: Service,
               credit_ends: Mapping[str, dt.date], materialized: Iterable[str]) -> bool:
    """Could the planner decide anything for `service` from an archived period the summary
    keeps only as covered days? Then the service's own billed rows are read instead."""
    end = service.end_date
    if end is not None and summary.before_last_end is not None and end < summary.before_last_end:
        return True  # a credit (or none) for unused days of an archived period
    first = summary.first_day
    if first is not None and first < first_billable_day(service.start_date,
                                                        service.billed_through):
        return True  # the warning for days billed before the service's (new) start
    if not credit_ends:
        return False
    shown = set(materialized)
    return any(credited != end and key not in shown for key, credited in credit_ends.items())


def billed_state(journal: Journal, book: Book, extra: Iterable[tuple[Billed, str]] = (),
                 extra_voided: Iterable[str] = ()) -> BilledState:
    """What was billed, as `BilledState.from_billed(journal.billed(), ...)` has it for the
    planner, reading the live invoices' rows, the archive's summary and only the few rows the
    summary cannot stand for. A journal with archived invoices not yet summarized, or with no
    summary at all, is read whole (as below, with no summary standing for any of it).

    Most services' billed periods can tell the planner nothing but which days they billed
    (`_days_only`): those are read as days (`BilledState.covered`, as archived ones are), the
    same days the planner would have from the periods, and nothing more of them is read. The
    other services' periods are read whole.

    `extra`: rows that are not the journal's billed rows (waived periods), read after them.
    """
    next_seq = journal.peek_seq("invoice")
    extra = list(extra)
    whole = bool(journal.unfrozen_archived()) or not journal.has_archived_billed()
    services: dict[str, list[Service]] = defaultdict(list)
    for service in book.services:
        services[service.service_id].append(service)
    reopened = set() if whole else _services_billed_by(journal, journal.reopened_numbers())
    summaries = {} if whole else {
        sid: ArchivedService.from_data(data) for sid, data in
        journal.archived_billed_of(SERVICE, services.keys() - reopened).items()}
    live = _LiveRows.read(journal, live=not whole)
    credit_rows = [(Billed("credit", key, {"end_date": _iso(end)}), "")
                   for summary in summaries.values()
                   for key, end in (summary.credits or {}).items()]
    credit_rows += live.credits
    credited = BilledState().with_billed(credit_rows)  # the credits, as the state has them
    credit_ends: dict[str, dict[str, dt.date]] = {}
    for key, end in credited.credit_ends.items():
        credit_ends.setdefault(_service_of(key), {})[key] = end
    lasts = {s.last.key: s.last for s in summaries.values() if s.last is not None}
    shown: dict[str, set[str]] = {}  # period keys by service, as rows show them (and `spans`)
    for key in [*lasts, *(b.key for b, _ in [*live.odd, *extra] if b.kind == "period")]:
        shown.setdefault(_service_of(key), set()).add(key)
    rows_read = {sid for billed, _ in extra for sid in (
        _service_of(billed.key), str(billed.data.get("service_id") or ""))}
    detailed = set(reopened)
    days_only: set[str] = set()
    covered: dict[str, tuple[tuple[dt.date, dt.date], ...]] = {}
    for sid, group in services.items():
        summary, spans = summaries.get(sid), live.spans.get(sid, [])
        ranges = [(start, end) for start, end, _ in spans]
        if summary is not None:
            ends = credit_ends.get(sid, {})
            materialized = chain(shown.get(sid, ()), (key for _, _, key in spans))
            if any(needs_rows(summary, s, ends, materialized) for s in group):
                detailed.add(sid)
                continue
        if sid in rows_read or sid in reopened or not all(
                _days_only(s, spans, credited) for s in group):
            if summary is not None:
                covered[sid] = summary.ranges
            continue
        days_only.add(sid)
        # with the summary's last period (kept whole, as `lasts`: the planner weighs it as
        # before), the very list of days the planner would have sorted from the periods
        if summary is not None:
            covered[sid] = (*summary.ranges, *ranges)
        elif ranges:
            covered[sid] = tuple(ranges)
    rows = [*credit_rows, *live.odd, *journal.billed_periods(
        key for sid in services.keys() - days_only for _, _, key in live.spans.get(sid, ()))]
    rows += [(Billed("charge", key, {}), "") for key in journal.billed_keys(
        "charge", (c.charge_id for c in book.charges if c.charge_id))]
    rows += [(Billed("setup", key, {}), "") for key in journal.billed_keys("setup", services)]
    rows += extra
    if detailed:
        rows += [*journal.billed_of_services(detailed), *extra]
    numbers = {number for billed, number in rows if billed.kind == "period"}
    numbers |= {p.invoice_number for p in lasts.values()}
    numbers |= {c.invoice_number for c in book.charges if c.invoice_number}
    voided = {*journal.voided_among(numbers), *extra_voided}  # all the planner asks about
    return BilledState(lasts, next_seq=next_seq, voided=frozenset(voided),
                       covered=covered).with_billed(rows)


Span = tuple[dt.date, dt.date, str]  # a billed period's first and last day, and its key


def _days_only(service: Service, spans: Iterable[Span], credited: BilledState) -> bool:
    """Can these billed periods of `service` tell the planner nothing but their days? None
    was billed before the service's first billable day (a warning), none can be credited days
    after the service's end date (a credit line), and none was credited to another end (a
    warning)."""
    first = first_billable_day(service.start_date, service.billed_through)
    end = service.end_date
    for start, last, key in spans:
        if start < first:
            return False
        if key in credited.credits:
            if credited.credit_ends.get(key, end) != end:
                return False
        elif end is not None and last > end:
            return False
    return True


@dataclass(frozen=True)
class _LiveRows:
    """The billed periods and credits of the live invoices (or of all). A period whose row
    says what its key says (`SERVICE/DAY`) is read as its days (`Span`); one that says
    otherwise (a journal edited by hand) is read whole: the planner sees it as it is."""

    spans: Mapping[str, list[Span]]  # service_id → its periods
    odd: list[tuple[Billed, str]]  # the other periods, whole
    credits: list[tuple[Billed, str]]  # whole

    @classmethod
    def read(cls, journal: Journal, *, live: bool) -> _LiveRows:
        spans: dict[str, list[Span]] = defaultdict(list)
        odd_keys: list[str] = []
        credits: list[tuple[Billed, str]] = []
        days: dict[Any, dt.date | None] = {None: None}
        for kind, key, sid, start, end, data, number in journal.billed_spans(live=live):
            if kind == "credit":
                credits.append((Billed(kind, key, json.loads(data)), number))
                continue
            service, _, day = key.rpartition("/")
            first = days[day] if day in days else days.setdefault(day, _date(day))
            if first is None or (sid is not None and sid != service) \
                    or (start is not None and start != day):
                odd_keys.append(key)
                continue
            last = days[end] if end in days else days.setdefault(end, _date(end))
            spans[service].append((first, last or first, key))
        return cls(spans, journal.billed_periods(odd_keys), credits)


def _services_billed_by(journal: Journal, numbers: Iterable[str]) -> set[str]:
    """The services whose periods, setup fees or credits these invoices billed (from their
    lines: what a released invoice billed is gone from the billed rows)."""
    services: set[str] = set()
    for number in numbers:
        recorded = journal.invoice(number)
        if recorded is not None:
            services |= {line.service_id for line in recorded.invoice.lines if line.service_id}
    return services
