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


def _rows() -> dict[str, list[tuple[object, ...]]]:
    return {
        "Packages": [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                         interval="monthly")],
        "Clients": [row("Clients", client_id=c, name=f"Client {c}",
                        email=f"{c.lower()}@x.example") for c in CLIENTS],
        "Services": [row("Services", service_id=f"S-{c}", client_id=c, package_id="HOME",
                         start_date=dt.date(2026, 12, 1)) for c in CLIENTS],
    }


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


def test_a_message_whose_fate_is_unknown_is_reported_not_resent_until_asked(tmp_path, server):
    server.handler.drop_after_data.add(2)  # the line drops after the 2nd message's data
    business = _business(tmp_path, server.port)
    first = business.run(NOV_30)
    unknown = [p for p in first.problems if "may have arrived" in p.message]
    assert len(unknown) == 1 and "--resend invoice/INV-00002" in unknown[0].fix
    count = len(server.handler.received)
    quiet = business.run(dt.date(2026, 12, 1))
    assert len(server.handler.received) == count  # not sent again on its own
    assert quiet.counts["emails sent"] == 0
    assert quiet.exit_code == 0  # reported as an error once; a warning after that
    assert any("--resend invoice/INV-00002" in p.fix for p in quiet.problems)
    business.run(dt.date(2026, 12, 1), steps=("send",), resend=("invoice/INV-00002",))
    assert len(server.handler.received) == count + 1
    assert _to(server)[-1] == "b@x.example"


def test_a_run_killed_while_handing_a_message_over_does_not_send_it_twice(tmp_path, server):
    business = _business(tmp_path, server.port)
    env = {**os.environ, "ISPSHEETS_KILL_AT": "message-handed-over"}
    killed = subprocess.run([sys.executable, "-m", "ispsheets", "run", "--date",
                             NOV_30.isoformat(), "--config", str(tmp_path / "config.yaml")],
                            env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == 137
    assert _to(server) == ["a@x.example"]  # handed over, then the run died
    report = business.run(NOV_30)
    assert sorted(_to(server)) == ["a@x.example", "b@x.example", "c@x.example"]
    [problem] = [p for p in report.problems if "may have arrived" in p.message]
    assert problem.where == "Clients!C2" and "invoice/INV-00001" in problem.message
