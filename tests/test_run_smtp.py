"""The daily run against a real SMTP server (aiosmtpd on 127.0.0.1): one connection a run,
the PDF attached, and a server that is down, refuses, or drops the line mid-message."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal

import pytest

from ispsheets.book.changes import ChangeSet, SetCell
from tests.scenario import Business, row
from tests.smtp_server import Recorder, SmtpServer, free_port

D = Decimal
NOV_30 = dt.date(2026, 11, 30)
CLIENTS = ("A", "B", "C")


def _rows(count: int = 0) -> dict[str, list[tuple[object, ...]]]:
    clients = [f"C{n}" for n in range(1, count + 1)] if count else CLIENTS
    return {
        "Packages": [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                         interval="monthly")],
        "Clients": [row("Clients", client_id=c, name=f"Client {c}",
                        email=f"{c.lower()}@x.example") for c in clients],
        "Services": [row("Services", service_id=f"S-{c}", client_id=c, package_id="HOME",
                         start_date=dt.date(2026, 12, 1)) for c in clients],
    }


def ispsheets(folder, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "ispsheets", *args, "--config",
                           str(folder / "config.yaml")], env=env, capture_output=True,
                          text=True, timeout=120)


def ispsheets_status(folder, day: dt.date) -> subprocess.CompletedProcess[str]:
    return ispsheets(folder, "status", "--date", day.isoformat())


def _table(text: str) -> list[str]:
    """Table rows as words joined by one space."""
    return [" ".join(line.replace("│", " ").replace("┃", " ").split())
            for line in text.splitlines()]


def _business(tmp_path, port: int) -> Business:
    return Business.create(tmp_path, _rows(), f"""
email:
  smtp: {{host: 127.0.0.1, port: {port}, security: none}}
""")


@pytest.fixture
def server():
    with SmtpServer(Recorder()) as srv:
        yield srv


def _to(server: SmtpServer) -> list[str]:
    return [r.rcpt_tos[0] for r in server.handler.received]


def test_a_run_sends_every_invoice_over_one_connection_with_its_pdf(tmp_path, server):
    business = _business(tmp_path, server.port)
    report = business.run(NOV_30)
    assert report.exit_code == 0 and report.counts["emails sent"] == 3
    assert server.handler.connections == 1
    assert sorted(_to(server)) == ["a@x.example", "b@x.example", "c@x.example"]
    message = server.handler.received[0].message
    [pdf] = list(message.iter_attachments())
    assert pdf.get_filename().endswith(".pdf") and pdf.get_content()[:5] == b"%PDF-"
    assert message.get_body(("plain",)).get_content().count("$49.99") >= 1
    assert all(i.sent_at is not None for i in business.invoices().values())
    assert not (tmp_path / "outbox").exists()


def test_server_down_leaves_invoices_unsent_then_the_next_run_sends_each_once(tmp_path):
    port = free_port()
    business = _business(tmp_path, port)
    down = business.run(NOV_30)
    assert down.exit_code == 1
    assert any(p.where == "config.yaml: email.smtp" for p in down.problems)
    assert all(i.sent_at is None for i in business.invoices().values())
    with SmtpServer(Recorder(), port=port) as server:
        again = business.run(dt.date(2026, 12, 1))
        assert again.exit_code == 0 and again.issued == []
        assert sorted(_to(server)) == ["a@x.example", "b@x.example", "c@x.example"]
        business.run(dt.date(2026, 12, 2))
        assert len(server.handler.received) == 3


def test_refused_address_is_reported_at_its_cell_and_sent_once_the_owner_fixes_it(tmp_path,
                                                                                   server):
    server.handler.refuse.add("b@x.example")
    business = _business(tmp_path, server.port)
    report = business.run(NOV_30)
    assert report.exit_code == 1
    [problem] = [p for p in report.problems if "refused" in p.message]
    assert problem.where == "Clients!C3" and "b@x.example" in problem.message
    business.edit(ChangeSet(sets=(SetCell("Clients", "B", "email", "bee@x.example"),)))
    business.run(dt.date(2026, 12, 1))
    assert sorted(_to(server)) == ["a@x.example", "bee@x.example", "c@x.example"]


def _keys(server: SmtpServer) -> list[str]:
    return [str(r.message["X-Ispsheets-Key"]) for r in server.handler.received]


def test_a_server_that_drops_the_line_after_2_messages_leaves_4_unsent_for_the_next_run(
        tmp_path, server):
    """No `250` after the message: not sent, named, and sent (once) by the next run."""
    server.handler.drop_after_data.update(range(3, 100))  # the server goes away mid-batch
    business = Business.create(tmp_path, _rows(6), f"""
email:
  smtp: {{host: 127.0.0.1, port: {server.port}, security: none}}
""")
    first = business.run(NOV_30)
    assert first.exit_code == 1
    assert _keys(server) == ["invoice/INV-00001", "invoice/INV-00002"]
    unsent = [p for p in first.problems if "was not sent" in p.message]
    assert [p.message.split()[3] for p in unsent] == [f"invoice/INV-0000{n}" for n in (3, 4, 5, 6)]
    assert all("no 250 reply" in p.message and "sent on the next run" in p.fix for p in unsent)
    assert not any("may have arrived" in p.message for p in first.problems)
    sent_at = {n: i.sent_at for n, i in business.invoices().items()}
    assert [n for n, at in sorted(sent_at.items()) if at is None] == [
        "INV-00003", "INV-00004", "INV-00005", "INV-00006"]

    status = ispsheets_status(tmp_path, dt.date(2026, 12, 1))
    assert status.returncode == 0, status.stdout
    assert [line for line in _table(status.stdout) if line.startswith("email ")] == [
        f"email C{n} invoice INV-0000{n} to c{n}@x.example" for n in (3, 4, 5, 6)]

    server.handler.drop_after_data.clear()
    again = business.run(dt.date(2026, 12, 1))
    assert again.exit_code == 0 and again.counts["emails sent"] == 4
    business.run(dt.date(2026, 12, 2))
    assert sorted(_keys(server)) == [f"invoice/INV-0000{n}" for n in range(1, 7)]  # once each
    assert all(i.sent_at is not None for i in business.invoices().values())


def test_a_451_or_554_reply_to_the_message_is_not_sent_and_tried_again_next_run(tmp_path,
                                                                                server):
    server.handler.data_replies.update({1: "451 4.3.0 Try again later",
                                        2: "554 5.7.1 Message rejected"})
    business = _business(tmp_path, server.port)
    first = business.run(NOV_30)
    assert first.exit_code == 1 and _keys(server) == ["invoice/INV-00003"]
    assert any("451" in p.message for p in first.problems)
    assert any("554" in p.message for p in first.problems)
    server.handler.data_replies.clear()
    assert business.run(dt.date(2026, 12, 1)).exit_code == 0
    assert sorted(_keys(server)) == ["invoice/INV-00001", "invoice/INV-00002",
                                     "invoice/INV-00003"]


def _killed_while_handing_over_invoice_1(tmp_path, server) -> Business:
    business = _business(tmp_path, server.port)
    env = {**os.environ, "ISPSHEETS_KILL_AT": "message-handed-over"}
    killed = subprocess.run([sys.executable, "-m", "ispsheets", "run", "--date",
                             NOV_30.isoformat(), "--config", str(tmp_path / "config.yaml")],
                            env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == 137
    assert _to(server) == ["a@x.example"]  # handed over, then the run died
    return business


def test_a_run_killed_while_handing_a_message_over_does_not_send_it_twice(tmp_path, server):
    business = _killed_while_handing_over_invoice_1(tmp_path, server)
    report = business.run(NOV_30)
    assert sorted(_to(server)) == ["a@x.example", "b@x.example", "c@x.example"]
    [problem] = [p for p in report.problems if "may have arrived" in p.message]
    assert problem.where == "Clients!C2" and "invoice/INV-00001" in problem.message
    assert report.exit_code == 1


@pytest.mark.slow
def test_an_email_of_unknown_fate_fails_every_run_until_the_owner_resends_it(tmp_path,
                                                                             server):
    business = _killed_while_handing_over_invoice_1(tmp_path, server)
    for day in (NOV_30, dt.date(2026, 12, 1), dt.date(2026, 12, 2)):
        report = business.run(day)
        assert report.exit_code == 1, day  # never a quiet 0 while it is unknown
        [problem] = [p for p in report.problems if "may have arrived" in p.message]
        assert problem.is_error
        assert "`ispsheets send --resend invoice/INV-00001`" in problem.fix
        assert "`ispsheets send --mark-sent invoice/INV-00001`" in problem.fix
    assert sorted(_to(server)) == ["a@x.example", "b@x.example", "c@x.example"]
    assert business.invoices()["INV-00001"].sent_at is None

    status = ispsheets_status(tmp_path, dt.date(2026, 12, 3))
    assert status.returncode == 1
    lines = _table(status.stdout)
    assert not any(line.startswith("email A ") for line in lines)  # the run will not send it
    assert status.stderr == ""
    assert "Emails of unknown fate: not sent again until you say" in lines
    assert ("invoice/INV-00001 A did it arrive? no: `ispsheets send --resend invoice/INV-00001`;"
            " yes: `ispsheets send --mark-sent invoice/INV-00001`") in lines

    wrong = ispsheets(tmp_path, "send", "--date", "2026-12-03", "--resend", "invoice/INV-0001")
    assert wrong.returncode == 2
    assert "--resend invoice/INV-0001: no email with this key in the journal" in wrong.stderr
    sent = ispsheets(tmp_path, "send", "--date", "2026-12-03", "--resend", "invoice/INV-00002")
    assert sent.returncode == 2 and "does not send an accepted email twice" in sent.stderr
    assert len(server.handler.received) == 3  # nothing done by either

    resent = ispsheets(tmp_path, "send", "--date", "2026-12-03", "--resend", "invoice/INV-00001")
    assert resent.returncode == 0, resent.stderr
    assert sorted(_to(server)) == ["a@x.example", "a@x.example", "b@x.example", "c@x.example"]
    after = business.run(dt.date(2026, 12, 4))
    assert after.exit_code == 0 and len(server.handler.received) == 4
    assert business.invoices()["INV-00001"].sent_at is not None


def test_an_email_the_owner_found_delivered_is_marked_sent_and_never_sent_again(tmp_path,
                                                                                server):
    business = _killed_while_handing_over_invoice_1(tmp_path, server)
    assert business.run(NOV_30).exit_code == 1
    marked = ispsheets(tmp_path, "send", "--date", "2026-12-01", "--mark-sent",
                       "invoice/INV-00001")
    assert marked.returncode == 0, marked.stderr
    assert business.run(dt.date(2026, 12, 2)).exit_code == 0
    assert sorted(_to(server)) == ["a@x.example", "b@x.example", "c@x.example"]
    assert business.invoices()["INV-00001"].sent_at is not None
    assert any(r["invoice_number"] == "INV-00001" and "marked as arrived" in str(r["detail"])
               for r in business.activity("invoice_sent"))


def test_emails_an_earlier_version_left_unknown_after_a_dropped_line_are_sent_once(tmp_path,
                                                                                   server):
    """Before, a line dropped with no 250 left the message "unknown" for good (20 invoices
    never sent, exit 0). Such messages were not accepted: the next run sends them, once."""
    from ispsheets.journal import Journal

    business = _business(tmp_path, server.port)
    server.handler.drop_after_data.update({2, 3})
    business.run(NOV_30)
    journal = Journal.open(business.config.journal_path)  # as the earlier version left it
    for number in ("INV-00002", "INV-00003"):
        journal.finish_message(f"invoice/{number}", "unknown", "connection lost while the "
                               "message was handed over (it may have been delivered): "
                               "Connection unexpectedly closed", dt.datetime(2026, 11, 30, 6))
    journal.close()
    server.handler.drop_after_data.clear()
    report = business.run(dt.date(2026, 12, 1))
    assert report.exit_code == 0 and report.counts["emails sent"] == 2
    business.run(dt.date(2026, 12, 2))
    assert sorted(_keys(server)) == ["invoice/INV-00001", "invoice/INV-00002",
                                     "invoice/INV-00003"]


@pytest.mark.slow
def test_a_reminder_of_unknown_fate_holds_that_clients_reminders_until_the_owner_says(
        tmp_path, server):
    """A reminder's key names its day, so a later day's reminder would repeat the stage it
    told: the client gets none until the owner says; `--mark-sent` records its stages."""
    business = _business(tmp_path, server.port)
    business.run(NOV_30)  # the three invoices, due Dec 15
    env = {**os.environ, "ISPSHEETS_KILL_AT": "message-handed-over"}
    killed = subprocess.run([sys.executable, "-m", "ispsheets", "remind", "--date",
                             "2026-12-15", "--config", str(tmp_path / "config.yaml")],
                            env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == 137
    assert _keys(server)[-1] == "reminder/A/2026-12-15"  # handed over, then the run died
    for day in (dt.date(2026, 12, 15), dt.date(2026, 12, 16)):
        report = business.run(day)
        assert report.exit_code == 1
        assert any("reminder/A/2026-12-15 to A may have arrived" in p.message
                   for p in report.problems)
    assert [k for k in _keys(server) if k.startswith("reminder/")] == [
        "reminder/A/2026-12-15", "reminder/B/2026-12-15", "reminder/C/2026-12-15"]
    marked = ispsheets(tmp_path, "send", "--date", "2026-12-16", "--mark-sent",
                       "reminder/A/2026-12-15")
    assert marked.returncode == 0, marked.stderr
    assert business.run(dt.date(2026, 12, 17)).exit_code == 0  # the due stage is not repeated
    business.run(dt.date(2026, 12, 18))  # +3 days: the first reminder, to each client once
    assert [k for k in _keys(server) if k.startswith("reminder/A")] == [
        "reminder/A/2026-12-15", "reminder/A/2026-12-18"]
    assert business.invoices()["INV-00001"].reminder_stage == "first_reminder"
