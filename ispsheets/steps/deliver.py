"""Delivery: invoice PDFs in a process pool, and every email through one transport per run.

A message is keyed in the journal before it is handed over and confirmed after, so a crash
never sends it twice: into the outbox the tool can look whether the file landed; over SMTP a
message whose fate a crash left unknown is reported, not silently sent again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from ispsheets.book.records import Client, Invoice, Payment
from ispsheets.collections.reminders import ReminderNotice
from ispsheets.config import Config
from ispsheets.delivery.document import CompanyInfo, InvoiceDocument
from ispsheets.delivery.mailer import Outbox, SendResult, SmtpMailer, mailer_from_config
from ispsheets.delivery.messages import (
    Attachment,
    EmailContext,
    InvoiceSummary,
    Message,
    MessageError,
    Sender,
    compose,
)
from ispsheets.failures import reason, remedy
from ispsheets.faults import checkpoint
from ispsheets.ledger import invoice_message_key
from ispsheets.money import ZERO, format_money
from ispsheets.payments.account import (
    NOTHING_ARCHIVED,
    AccountSummary,
    ArchivedAccount,
    account_summary,
)
from ispsheets.payments.autopay import will_charge_card
from ispsheets.problems import ExitCode, Problem, warning
from ispsheets.steps.cards import cards_on_file
from ispsheets.steps.cycle import Cycle
from ispsheets.steps.portal import account_link
from ispsheets.steps.uncertain import OUTBOX, UNKNOWN, is_unknown, stages_key

RECEIPT_WINDOW_DAYS = 7  # receipts for payments of the last 7 calendar dates, today's included
SENT_NOW, SENT_BEFORE, NOT_SENT = "sent now", "sent before", ""  # what send_message did
HELD = ".held"  # the outbox's folder for messages held back until their journal commit
T = TypeVar("T")


class Postman:
    """The run's one transport, opened on first use: the SMTP server, or the outbox folder.

    Into the outbox, messages can be held back (`hold_back`): written into the outbox's
    `.held` folder, moved into the outbox by `release` once the journal transaction that
    records them is committed, or deleted by `drop` when it is rolled back. A run killed in
    between leaves them held; the next run's `settle_held_back` moves in those the journal
    says were sent and deletes the others (their messages are made again, once).
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.transport = "smtp" if config.email.smtp.host else "outbox"
        self.outbox = Outbox(config.path(config.email.outbox))
        self.held_outbox = Outbox(self.outbox.folder / HELD)
        self.held: list[str] | None = None  # keys written into `.held` while holding back
        self._mailer: Outbox | SmtpMailer | None = None
        self.broken = ""  # why the outbox folder cannot be written: no more tries this run

    def send(self, message: Message) -> SendResult:
        if self.broken:
            return SendResult("failed", self.broken)
        if self.held is not None and self.transport == OUTBOX:
            result = self.held_outbox.send(message)
            if result.state == "sent":  # said as it will be once released
                self.held.append(message.key)
                result = SendResult("sent", f"written to {self.outbox.path(message.key)}")
        else:
            if self._mailer is None:
                self._mailer = mailer_from_config(self.config)
            result = self._mailer.send(message)
        if self.transport == OUTBOX and result.state == "failed":
            self.broken = result.detail
        return result

    def hold_back(self) -> None:
        self.held = []

    def release(self) -> None:
        """Move the held messages into the outbox (their journal records are committed)."""
        for key in self.held or ():
            os.replace(self.held_outbox.path(key), self.outbox.path(key))
        self.held = None

    def drop(self) -> None:
        """Delete the held messages (their journal records were rolled back)."""
        for key in self.held or ():
            with contextlib.suppress(OSError):  # what is left, the next run deletes
                self.held_outbox.path(key).unlink()
        self.held = None

    def close(self) -> None:
        if self._mailer is not None:
            self._mailer.close()
            self._mailer = None


def postman(cycle: Cycle) -> Postman:
    if cycle.postman is None:
        cycle.postman = Postman(cycle.config)
    return cycle.postman


def settle_held_back(cycle: Cycle) -> None:
    """Messages a killed run held back (`Postman`): into the outbox if the journal says they
    were sent (the run died after committing them), else deleted (their records were rolled
    back: the steps that make them make them again, once), whichever transport the run
    uses now. One look at an absent folder on every other run."""
    if cycle.dry_run:
        return
    outbox, held_outbox = postman(cycle).outbox, postman(cycle).held_outbox
    try:
        held = sorted(held_outbox.folder.iterdir())
    except OSError:  # none held (no folder)
        return
    for path in held:
        key = _key_of(path) if path.suffix == ".eml" else ""  # else a killed write's temp file
        record = cycle.journal.message(key) if key else None
        if record is not None and record.state == "sent" and path == held_outbox.path(key):
            os.replace(path, outbox.path(key))
        else:
            path.unlink()


def _key_of(path: Path) -> str:
    """The journal key an outbox file carries (`X-Ispsheets-Key`), "" if none."""
    from email.parser import BytesHeaderParser

    with path.open("rb") as handle:
        return str(BytesHeaderParser().parse(handle).get("X-Ispsheets-Key", ""))


def _email_cell(client: Client) -> str:
    return client.origin.cell("email")


def _settled_earlier(cycle: Cycle, key: str) -> str | None:
    """What earlier runs did with this message: None = send it now; SENT_BEFORE; SENT_NOW when
    a run that was cut off had put it in the outbox (its caller logs it now); NOT_SENT when
    its fate is unknown (`uncertain.settle_uncertain` has reported it)."""
    record = cycle.journal.message(key)
    if record is None or record.state in ("failed", "refused"):
        return None
    if record.state == "sent":
        return SENT_BEFORE
    if record.state == "pending" and record.detail == OUTBOX:
        if postman(cycle).outbox.has(key):
            cycle.journal.finish_message(key, "sent", "found in the outbox", cycle.now)
            return SENT_NOW
        return None
    return NOT_SENT


def send_message(cycle: Cycle, kind: str, key: str, client: Client, context: EmailContext,
                 invoice_number: str = "", attachments: Sequence[Attachment | Path] = ()
                 ) -> str:
    """Compose and send one keyed message: SENT_NOW, SENT_BEFORE or NOT_SENT (falsy)."""
    if not client.emails:
        cycle.problem(warning(_email_cell(client), f"client {client.client_id} has no email "
                              f"address; the {kind.replace('_', ' ')} email was not sent",
                              "add one; it is sent on the next run"))
        return NOT_SENT
    earlier = _settled_earlier(cycle, key)
    if earlier is not None:
        return earlier
    sender = Sender.from_config(cycle.config)
    try:
        message = compose(
            kind, context, to=client.emails, key=key, from_address=sender.from_address,
            from_name=sender.from_name, reply_to=sender.reply_to, bcc=sender.bcc,
            attachments=attachments, templates_dir=sender.templates_dir,
            client_id=client.client_id, invoice_number=invoice_number,
            date=cycle.now.replace(tzinfo=cycle.config.tz))
    except MessageError as exc:
        cycle.problem(Problem("config.yaml: email.templates_dir", str(exc),
                              "fix the template; the message is sent on the next run"))
        return NOT_SENT
    post = postman(cycle)
    broken = post.broken
    cycle.journal.begin_message(key, kind, client.client_id, invoice_number, cycle.now,
                                post.transport)
    result = post.send(message)
    checkpoint("message-handed-over")
    cycle.journal.finish_message(key, result.state, result.detail, cycle.now)
    if result.state == "sent":
        cycle.report.counts["emails sent"] += 1
        return SENT_NOW
    cycle.report.counts["emails failed"] += 1
    if result.state == "refused":
        cycle.problem(Problem(_email_cell(client), f"the mail server refused the {kind} email "
                              f"to {', '.join(client.emails)} ({result.detail})",
                              "check the address; it is tried again on the next run"))
    elif post.transport == OUTBOX:
        if not broken:  # said once a run: the same folder refuses every message
            cycle.report.fail(ExitCode.WRITE_FAILED, Problem(
                str(post.outbox.folder), f"emails cannot be written into the outbox "
                f"({result.detail})", f"{remedy(result.detail)}; the emails not written are "
                "written by the next run"))
    else:
        cycle.problem(Problem("config.yaml: email.smtp", f"the {kind} email {key} was not "
                              f"sent ({result.detail})",
                              "check the mail server settings; it is sent on the next run"))
    return NOT_SENT


# -- contexts ------------------------------------------------------------------------------


def _context(cycle: Cycle, client: Client, invoices: Sequence[Invoice] = (),
             **fields: Any) -> EmailContext:
    config = cycle.config
    balances = cycle.allocation.client_balances if cycle.allocation else {}
    facts: dict[str, Any] = {
        "currency": config.currency,
        "invoices": tuple(InvoiceSummary.of(i, cycle.today) for i in invoices),
        "balance": balances.get(client.client_id, Decimal("0.00")),
        "payment_instructions": config.invoicing.payment_instructions,
        "tax_name": config.invoicing.tax_name, "date_order": config.workbook.date_order,
        "late_fee_after_days": config.collections.late_fee_after_days,
        "suspend_after_days": config.collections.suspend_after_days,
        "autopay": will_charge_card(config, client,
                                    cards_on_file(cycle).get(client.client_id, False)),
        "portal_link": account_link(cycle, client.client_id,
                                    invoices[0].invoice_number if invoices else "")}
    return EmailContext(company=CompanyInfo.from_config(config), client=client,
                        today=cycle.today, **{**facts, **fields})


def send_reminder(cycle: Cycle, notice: ReminderNotice, client: Client, fees_added: Decimal,
                  fee_invoices: Sequence[str]) -> bool:
    """One reminder listing the client's invoices that are due or overdue, by due date; other
    open invoices not due yet are shown apart, never in the amount asked for."""
    about = sorted((invoice for i in (*notice.items, *notice.also_open)
                    if (invoice := cycle.invoice(i.invoice_number)) is not None),
                   key=lambda i: (i.due_date, i.invoice_number))
    due = [i for i in about if i.due_date <= cycle.today]
    coming = [i for i in about if i.due_date > cycle.today]
    fee = fees_added or cycle.config.collections.late_fee
    rules = cycle.config.collections
    listed = due or about
    # warn of a suspension only where the suspension rule would really act
    owed = sum((i.balance or ZERO for i in listed), ZERO)
    threat = client.status == "active" and owed > rules.suspend_min_balance
    context = _context(cycle, client, listed, stage=notice.stage, late_fee=fee,
                       late_fee_invoice=", ".join(fee_invoices),
                       reconnection_fee=rules.reconnection_fee or None,
                       suspend_after_days=rules.suspend_after_days if threat else None,
                       coming_due=tuple(InvoiceSummary.of(i, cycle.today) for i in coming)
                       if due else (), reminded_before=notice.reminded_before,
                       suspended=client.status == "suspended")
    if postman(cycle).transport != OUTBOX:  # what `--mark-sent` records if its fate is unknown
        cycle.journal.record_action(stages_key(notice.key), "reminder_stages", client.client_id,
                                    notice.items[0].invoice_number, cycle.now,
                                    " ".join(notice.keys))
    return bool(send_message(cycle, notice.template, notice.key, client, context,
                             notice.items[0].invoice_number))


def send_queued_email(cycle: Cycle, key: str, client: Client, payload: dict[str, Any]) -> bool:
    """A late fee, suspension or reconnection email queued by the collections step."""
    kind = payload["kind"]
    about = [invoice for n in payload.get("invoices", [])
             if (invoice := cycle.invoice(n)) is not None]
    fields: dict[str, Any] = {}
    if kind == "late_fee":
        fields = {"late_fee": Decimal(payload["amount"]),
                  "late_fee_invoice": about[0].invoice_number if about else ""}
    elif kind == "suspension":
        fields = {"suspended_on": cycle.today}
    elif kind == "reconnection":
        fields = {"reconnection_fee": Decimal(payload.get("fee", "0"))}
    return bool(send_message(cycle, kind, key, client, _context(cycle, client, about, **fields),
                             about[0].invoice_number if about else ""))


# -- invoices and receipts -----------------------------------------------------------------


def _unsent(cycle: Cycle) -> list[Invoice]:
    sent = {number for number, _ in cycle.journal.sent_invoice_times()}
    return [i for i in cycle.invoices
            if i.status not in ("void", "held") and i.invoice_number not in sent]


def account_summaries(cycle: Cycle, invoices: Sequence[Invoice]
                      ) -> dict[str, AccountSummary]:
    """Invoice number → the account summary it carries (only where it tells more than the
    invoice), from the run's allocation."""
    wanted = {i.client_id for i in invoices}
    if not wanted:
        return {}
    by_client: dict[str, list[Invoice]] = {}
    for invoice in cycle.invoices:
        if invoice.client_id in wanted:
            by_client.setdefault(invoice.client_id, []).append(invoice)
    payments: dict[str, list[Payment]] = {}
    for payment in cycle.book.payments:
        if payment.client_id in wanted:
            payments.setdefault(payment.client_id, []).append(payment)
    balances = cycle.allocation.client_balances if cycle.allocation else {}
    archived = _archived_accounts(cycle, invoices, by_client)
    result = {}
    for invoice in invoices:
        summary = account_summary(invoice, by_client.get(invoice.client_id, ()),
                                  payments.get(invoice.client_id, ()),
                                  balances.get(invoice.client_id, ZERO), cycle.today,
                                  archived.get(invoice.client_id, NOTHING_ARCHIVED))
        if summary is not None and summary.tells_more:
            result[invoice.invoice_number] = summary
    return result


def _archived_accounts(cycle: Cycle, invoices: Sequence[Invoice],
                       by_client: Mapping[str, Sequence[Invoice]]) -> dict[str, ArchivedAccount]:
    """What the archive holds that these invoices' summaries reach back to. A client whose
    previous invoice may be archived (none live is newer than the newest archived one) has
    all of theirs read; the others only the archived payments dated after their previous
    invoice (one indexed read of the recent archived payments, usually none)."""
    journal = cycle.journal
    invoice_end = journal.archived_figures_end("invoice")
    payment_end = journal.archived_figures_end("payment")
    if invoice_end is None and payment_end is None:
        return {}
    since: dict[str, dt.date | None] = {}
    for invoice in invoices:
        since[invoice.client_id] = max(
            (i.issue_date for i in by_client.get(invoice.client_id, ())
             if i.invoice_number != invoice.invoice_number and i.status not in ("void", "held")),
            default=None)
    result: dict[str, ArchivedAccount] = {}
    for client_id, day in since.items():
        if invoice_end is not None and (day is None or day < invoice_end):
            figures = journal.client_archived_figures(client_id)
            result[client_id] = ArchivedAccount(
                tuple(dt.date.fromisoformat(data["issued"]) for kind, _, _, data in figures
                      if kind == "invoice"),
                tuple((dt.date.fromisoformat(d), Decimal(data["amount"]))
                      for kind, _, d, data in figures if kind == "payment"))
    later = [day for c, day in since.items() if c not in result and day is not None]
    if payment_end is not None and later and min(later) < payment_end:
        recent: dict[str, list[tuple[dt.date, Decimal]]] = {}
        for client_id, day, data in journal.archived_payment_figures_after(min(later)):
            recent.setdefault(client_id, []).append((day, Decimal(data["amount"])))
        for client_id, payments in recent.items():
            if client_id in since and client_id not in result:
                result[client_id] = ArchivedAccount(payments=tuple(payments))
    return result


def render_pdfs(cycle: Cycle, invoices: Sequence[Invoice],
                summaries: Mapping[str, AccountSummary] | None = None
                ) -> Iterator[dict[str, Path]]:
    """PDFs of these invoices as they are ready (number → path): first the ones kept from an
    earlier run, then a group at a time as the process pool renders the rest."""
    folder = cycle.config.path(cycle.config.invoicing.pdf_dir)
    clients = cycle.book.client_map()
    docs, kept = [], {}
    for invoice in invoices:
        client = clients.get(invoice.client_id)
        if client is None:
            continue
        doc = InvoiceDocument.from_config(cycle.config, client, invoice,
                                          paper=cycle.config.invoicing.paper,
                                          account=(summaries or {}).get(invoice.invoice_number))
        path = folder / doc.filename
        if path.exists():
            kept[invoice.invoice_number] = path
        else:
            docs.append(doc)
    if kept:
        yield kept
    if docs:  # (the PDF module's imports, 0.15-0.3 s of CPU, only for a PDF to draw)
        from ispsheets.delivery.pdf import render_in_groups

        font = cycle.config.invoicing.pdf_font
        for group, paths in render_in_groups(docs, folder, progress=cycle.options.progress,
                                             font=cycle.config.path(font) if font else None):
            yield {doc.invoice.invoice_number: path
                   for doc, path in zip(group, paths, strict=True)}


OUTBOX_BATCH = 250  # outbox messages keyed in one journal transaction


def in_batches(cycle: Cycle, items: Sequence[T]
               ) -> Iterator[tuple[AbstractContextManager[Any], Sequence[T]]]:
    """`items` in groups, each with the context to send it in.

    Into the outbox a group's messages share one journal transaction (one disk sync instead of
    three a message): a crash rolls the whole group back, and the next run writes the same
    files again under the same names, since these messages' keys never change. Over SMTP each
    message keeps its own transactions, so a crash leaves at most one message of unknown fate.
    """
    if postman(cycle).transport != "outbox":
        yield contextlib.nullcontext(), items
        return
    for start in range(0, len(items), OUTBOX_BATCH):
        yield cycle.journal.transaction(), items[start:start + OUTBOX_BATCH]


class OutboxBatch:
    """`in_batches` for messages that come a group at a time (the PDF pool's groups of 50):
    into the outbox, OUTBOX_BATCH messages share one journal transaction whichever groups
    they came in (a disk sync per 250 emails, not per 50), committed when full and when
    the batch ends; an exception rolls the open transaction back, with the same outcome as
    `in_batches`. Over SMTP each message keeps its own transactions.

    With `hold_back` (reminders, whose keys name the day) the batch's files reach the outbox
    only once its transaction is committed, so a run killed inside a batch leaves none there
    for a later day's run to repeat under another key."""

    def __init__(self, cycle: Cycle, hold_back: bool = False) -> None:
        self.journal = cycle.journal
        self.postman = postman(cycle)
        self.on = self.postman.transport == OUTBOX
        self.hold_back = hold_back
        self.open = contextlib.ExitStack()
        self.count = 0

    def __enter__(self) -> OutboxBatch:
        return self

    def __exit__(self, *exc: Any) -> bool:
        return self.open.__exit__(*exc)

    def before(self) -> None:
        """Before a message: its journal records go into the open transaction."""
        if self.on and self.count == 0:
            self.open.enter_context(self._held_back() if self.hold_back
                                    else self.journal.transaction())

    @contextlib.contextmanager
    def _held_back(self) -> Iterator[None]:
        """A transaction whose messages stay out of the outbox until it is committed: for
        messages whose key names the day (reminders), which a later day's run would not
        write over (see `Postman`)."""
        self.postman.hold_back()
        try:
            with self.journal.transaction():
                yield
        except BaseException:
            self.postman.drop()
            raise
        checkpoint("outbox-batch-committed")
        self.postman.release()

    def after(self) -> None:
        """After a message: the transaction is committed when it holds OUTBOX_BATCH."""
        if self.on:
            self.count += 1
            if self.count >= OUTBOX_BATCH:
                self.open.close()
                self.count = 0


def send_invoices(cycle: Cycle) -> None:
    unsent = _unsent(cycle)
    clients = cycle.book.client_map()
    if cycle.dry_run:
        for invoice in unsent:
            if is_unknown(cycle, invoice_message_key(invoice.invoice_number)):
                continue  # waits for the owner's word, as the run will
            client = clients.get(invoice.client_id)
            to = ", ".join(client.emails) if client and client.emails else "(no email address)"
            cycle.plan("email", invoice.client_id, f"invoice {invoice.invoice_number} to {to}")
        return
    wanted = {i.invoice_number for i in cycle.issued} | {i.invoice_number for i in unsent}
    to_send = {i.invoice_number: i for i in unsent}
    rendering = [i for i in cycle.invoices
                 if i.invoice_number in wanted and i.status != "held"]
    summaries = account_summaries(cycle, rendering)
    rendered = render_pdfs(cycle, rendering, summaries)
    with OutboxBatch(cycle) as batch:
        _send_rendered(cycle, rendered, to_send, clients, summaries, batch)


def _send_rendered(cycle: Cycle, rendered: Iterator[dict[str, Path]],
                   to_send: Mapping[str, Invoice], clients: Mapping[str, Client],
                   summaries: Mapping[str, AccountSummary], batch: OutboxBatch) -> None:
    """Each invoice's email as soon as its PDF is ready."""
    while True:
        try:
            paths = next(rendered, None)
        except OSError as exc:  # disk full or a read-only folder, here or in a worker
            folder = cycle.config.path(cycle.config.invoicing.pdf_dir)
            cycle.report.fail(ExitCode.WRITE_FAILED, Problem(
                str(folder), f"invoice PDFs could not be written ({reason(exc)}); the "
                "invoices without one were not emailed", f"{remedy(exc)}; the next run "
                "writes and emails them"))
            return
        if paths is None:
            return
        for number in paths:
            if (invoice := to_send.get(number)) is not None:
                batch.before()
                _send_invoice(cycle, invoice, clients.get(invoice.client_id), paths,
                              summaries.get(invoice.invoice_number))
                batch.after()


def _send_invoice(cycle: Cycle, invoice: Invoice, client: Client | None,
                  paths: dict[str, Path], account: AccountSummary | None) -> None:
    if client is None or invoice.invoice_number not in paths:
        return
    key = invoice_message_key(invoice.invoice_number)
    context = _context(cycle, client, [invoice], account=account)
    sent = send_message(cycle, "invoice", key, client, context, invoice.invoice_number,
                        [paths[invoice.invoice_number]])
    if sent == SENT_NOW:
        cycle.log("invoice_sent", client.client_id, invoice.invoice_number,
                  f"to {', '.join(client.emails)}")


def in_receipt_window(paid_on: dt.date, today: dt.date) -> bool:
    """Dated today or in the 6 days before (7 calendar dates): such a payment gets a receipt;
    an older one (an old statement imported, a year of history typed in) does not."""
    return today - dt.timedelta(days=RECEIPT_WINDOW_DAYS - 1) <= paid_on <= today


def send_receipts(cycle: Cycle) -> None:
    """A receipt for each payment received in the last week that has none yet."""
    if not cycle.config.email.send_receipts or cycle.allocation is None:
        return
    clients = cycle.book.client_map()
    currency = cycle.config.currency
    due = []
    for payment in cycle.book.payments:
        if payment.amount <= 0 or not in_receipt_window(payment.date, cycle.today):
            continue
        key = f"receipt/{payment.payment_id}"
        record = cycle.journal.message(key)
        if record is not None and record.state in ("sent", UNKNOWN):
            continue
        client = clients.get(payment.client_id)
        if client is None:
            continue
        if cycle.dry_run:
            cycle.plan("receipt", client.client_id,
                       f"{payment.payment_id} {format_money(payment.amount, currency)}")
            continue
        due.append((key, payment, client))
    if not due:
        return
    for batch, receipts in in_batches(cycle, due):
        with batch:
            for key, payment, client in receipts:
                _send_receipt(cycle, key, payment, client)


def _send_receipt(cycle: Cycle, key: str, payment: Payment, client: Client) -> None:
    assert cycle.allocation is not None
    currency = cycle.config.currency
    state = cycle.allocation.payments.get(payment.payment_id)
    context = _context(cycle, client, payment=payment,
                       applied=state.applied if state else (),
                       credit=state.unapplied if state else Decimal("0"))
    if send_message(cycle, "receipt", key, client, context) == SENT_NOW:
        cycle.report.counts["receipts sent"] += 1
        cycle.log("receipt_sent", client.client_id, "",
                  f"{payment.payment_id} {format_money(payment.amount, currency)}")


def deliver(cycle: Cycle) -> None:
    from ispsheets.steps.welcome import send_welcomes

    send_invoices(cycle)
    send_welcomes(cycle)
    send_receipts(cycle)
