"""Emails whose fate is unknown, and the owner's word on them (`send --resend` / `--mark-sent`).

A message is keyed `pending` in the journal before it is handed to the mail server and gets
its answer after. Only a run that died between the two leaves a message whose fate nobody
knows: the server may have taken it. Such a message is never sent again on its own; every run
that sends email names it (an error: exit 1) until the owner has looked and said which it was.
A refused or broken transaction (no `250` after the message) is simply `failed`: not sent,
tried again by the next run.
"""

from __future__ import annotations

from collections.abc import Sequence

from ispsheets.journal import Journal, MessageRecord
from ispsheets.problems import Problem, warning
from ispsheets.steps.cycle import Cycle

UNKNOWN = "unknown"
RESEND, MARK_SENT = "--resend", "--mark-sent"
ASKED = "to be sent again (--resend)"
# Versions before this one called a line dropped before the server's `250` "unknown" too; such
# a message was not accepted (RFC 5321 6.1), so the first run of this version sends it again.
OLD_DROP = "connection lost while the message was handed over"
OUTBOX = "outbox"  # the transport noted on a pending message written into the outbox folder


def check_requests(journal: Journal, resend: Sequence[str], mark_sent: Sequence[str]
                   ) -> list[Problem]:
    """What is wrong with the keys the owner gave (each must name a message the journal
    knows; one the server accepted is not sent again). Checked before anything is done."""
    problems = []
    for option, keys in ((RESEND, resend), (MARK_SENT, mark_sent)):
        for key in keys:
            record = journal.message(key)
            if record is None:
                problems.append(Problem(
                    f"{option} {key}", "no email with this key in the journal",
                    "copy the key from the problem line, or see `ispsheets status`, e.g. "
                    "invoice/INV-00042"))
            elif record.state == "sent" and option == RESEND:
                problems.append(Problem(
                    f"{option} {key}", f"the mail server accepted this {record.kind} email on "
                    f"{record.updated_at[:16].replace('T', ' ')}; ispsheets does not send an "
                    "accepted email twice",
                    "forward it from your mail program's sent folder (invoice PDFs are in the "
                    "invoices folder)"))
    return problems


def apply_requests(cycle: Cycle) -> None:
    """The owner's word: `--resend` keys are sent again by the step that makes them;
    `--mark-sent` keys count as delivered (never sent again)."""
    journal, now = cycle.journal, cycle.now
    for key in cycle.options.resend:
        journal.finish_message(key, "failed", ASKED, now)
    for key in cycle.options.mark_sent:
        record = journal.message(key)
        if record is None or record.state == "sent":
            continue
        journal.finish_message(key, "sent", "marked as arrived (--mark-sent)", now)
        if record.kind == "invoice":
            cycle.log("invoice_sent", record.client_id, record.invoice_number,
                      "marked as arrived by the owner (--mark-sent)")
        stages = journal.action(stages_key(key))
        for stage in stages.detail.split() if stages else ():  # `reminder/INV-00042/due`
            journal.record_action(stage, "reminder", record.client_id, stage.split("/")[1], now,
                                  key)


def stages_key(key: str) -> str:
    """Where the stages a reminder message tells are noted before it is handed over: a
    reminder's key names its day, so no later run sends that message again; what it told is
    what `--mark-sent` records as sent."""
    return f"{key}/stages"


def held_reminders(journal: Journal) -> frozenset[str]:
    """Clients with a reminder of unknown fate: no other reminder goes to them (it might
    repeat a stage they already have) until the owner has said which it was."""
    return frozenset(r.client_id for r in journal.messages(UNKNOWN)
                     if r.key.startswith("reminder/"))


def settle_uncertain(cycle: Cycle) -> None:
    """Messages a dead run left pending over SMTP become `unknown`, and each unknown message
    is reported as an error, with what to do."""
    journal = cycle.journal
    for record in journal.messages("pending"):
        if record.detail != OUTBOX:  # the outbox is looked at when the message comes again
            when = record.updated_at[:16].replace("T", " ")
            journal.finish_message(record.key, UNKNOWN, "a run stopped while handing it to "
                                   f"the mail server ({when})", cycle.now)
    for record in journal.messages(UNKNOWN):
        if record.detail.startswith(OLD_DROP):  # see OLD_DROP
            journal.finish_message(record.key, "failed", "the server had not accepted it (no "
                                   "250 reply): sent again", cycle.now)
    clients = cycle.book.client_map()
    for record in journal.messages(UNKNOWN):
        client = clients.get(record.client_id)
        cycle.report.unknown.append(record)
        cycle.problem(Problem(
            client.origin.cell("email") if client else "Clients",
            f"the {record.kind.replace('_', ' ')} email {record.key} to "
            f"{record.client_id} may have arrived or not: {record.detail}; it is not sent "
            "again on its own", resolve_fix(record)))


def resolve_fix(record: MessageRecord) -> str:
    return (f"check the client's mailbox or your mail server's log; if it did not arrive run "
            f"`ispsheets send {RESEND} {record.key}`, if it did run "
            f"`ispsheets send {MARK_SENT} {record.key}`")


def is_unknown(cycle: Cycle, key: str) -> bool:
    """Is this message waiting for the owner's word (so no run sends it)?"""
    record = cycle.journal.message(key)
    return record is not None and record.state == UNKNOWN


def report_unsent_requests(cycle: Cycle) -> None:
    """A `--resend` key this command did not send: which run will."""
    for key in cycle.options.resend:
        record = cycle.journal.message(key)
        if record is not None and record.detail == ASKED:  # not tried by this command
            cycle.problem(warning(f"{RESEND} {key}", f"the {record.kind.replace('_', ' ')} "
                                  "email was not sent by this command",
                                  "the next `ispsheets run` sends it when it is still due"))
