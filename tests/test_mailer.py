"""Sending against a real aiosmtpd server: headers, parts, one connection, TLS, login, failures."""

from __future__ import annotations

import base64
import datetime as dt
import email
import ssl
from email.policy import default

import pytest
import trustme

from ispsheets.delivery.mailer import Outbox, SmtpMailer, safe_key
from ispsheets.delivery.messages import Attachment, Message
from tests.smtp_server import Recorder, SmtpServer, free_port

# Tests log in over plain connections to a local server on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

PDF = b"%PDF-1.4\n% a tiny stand-in for INV-00042\n%%EOF\n"
NOW = dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC)


def _message(n: int = 42, to: tuple[str, ...] = ("zoe@example.com",), name: str = "Zoë Ashford",
             bcc: tuple[str, ...] = ()) -> Message:
    number = f"INV-{n:05d}"
    return Message(
        key=f"invoice/{number}", kind="invoice", client_id="C0042", invoice_number=number,
        to=to, subject=f"Invoice {number} from Prairie Wireless: $54.11 due Dec 15, 2026",
        text=f"Hello {name},\n\nYour invoice {number} is attached.\n\n.a line with a dot\n",
        html=f"<p>Hello {name.replace('<', '&lt;').replace('>', '&gt;')},</p>",
        attachments=(Attachment(f"{number}.pdf", PDF),),
        from_address="billing@prairiewireless.net", from_name="Prairie Wireless",
        reply_to="help@prairiewireless.net", bcc=bcc, date=NOW)


@pytest.fixture
def server():
    with SmtpServer(Recorder()) as srv:
        yield srv


def _mailer(srv: SmtpServer, **kw) -> SmtpMailer:
    kw.setdefault("security", "none")
    return SmtpMailer("127.0.0.1", srv.port, timeout=5, local_hostname="test.local", **kw)


def test_sent_message_carries_headers_both_parts_and_the_pdf(server):
    with _mailer(server) as mailer:
        result = mailer.send(_message())
    assert result.state == "sent"
    (got,) = server.handler.received
    assert got.mail_from == "billing@prairiewireless.net"
    assert got.rcpt_tos == ["zoe@example.com"]
    msg = got.message
    assert msg["From"] == "Prairie Wireless <billing@prairiewireless.net>"
    assert msg["To"] == "zoe@example.com"
    assert msg["Reply-To"] == "help@prairiewireless.net"
    assert msg["Subject"] == "Invoice INV-00042 from Prairie Wireless: $54.11 due Dec 15, 2026"
    assert msg["Message-ID"] == _message().message_id
    assert msg["Date"] == "Mon, 30 Nov 2026 06:00:00 +0000"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Hello Zoë Ashford," in text and "<" not in text
    assert ".a line with a dot" in text  # dot-stuffing undone by the server
    assert "<p>Hello Zoë Ashford,</p>" in html
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "INV-00042.pdf"
    assert attachment.get_content() == PDF


def test_message_id_is_the_same_for_the_same_key_and_differs_for_another():
    assert _message(42).message_id == _message(42).message_id
    assert _message(42).message_id != _message(43).message_id
    assert _message(42).message_id.endswith("@prairiewireless.net>")


def test_every_to_address_and_the_bcc_get_it_but_bcc_is_not_a_header(server):
    msg = _message(to=("zoe@example.com", "accounts@example.com"), bcc=("owner@isp.example",))
    with _mailer(server) as mailer:
        assert mailer.send(msg).state == "sent"
    (got,) = server.handler.received
    assert got.rcpt_tos == ["zoe@example.com", "accounts@example.com", "owner@isp.example"]
    assert got.message["To"] == "zoe@example.com, accounts@example.com"
    assert got.message["Bcc"] is None
    assert b"owner@isp.example" not in got.content


def test_batch_of_20_messages_uses_one_connection(server):
    with _mailer(server) as mailer:
        results = [mailer.send(_message(n)) for n in range(1, 21)]
    assert [r.state for r in results] == ["sent"] * 20
    assert len(server.handler.received) == 20
    assert server.handler.connections == 1
    assert {r.connection for r in server.handler.received} == {1}
    assert mailer.connections == 1


def test_refused_recipient_is_refused_for_good(server):
    server.handler.refuse.add("nobody@example.com")
    with _mailer(server) as mailer:
        result = mailer.send(_message(to=("nobody@example.com",)))
        after = mailer.send(_message(43))
    assert result.state == "refused"
    assert "550" in result.detail and "nobody@example.com" in result.detail
    assert after.state == "sent"  # the connection was reset and goes on
    assert server.handler.connections == 1


def test_one_refused_address_of_two_still_sends_to_the_other(server):
    server.handler.refuse.add("old@example.com")
    with _mailer(server) as mailer:
        result = mailer.send(_message(to=("zoe@example.com", "old@example.com")))
    assert result.state == "sent"
    assert "old@example.com" in result.detail
    assert server.handler.received[0].rcpt_tos == ["zoe@example.com"]


def test_temporarily_refused_recipient_fails_to_be_retried(server):
    server.handler.defer.add("busy@example.com")
    with _mailer(server) as mailer:
        result = mailer.send(_message(to=("busy@example.com",)))
    assert result.state == "failed"
    assert "450" in result.detail


def test_server_down_fails_without_raising():
    with SmtpMailer("127.0.0.1", free_port(), "none", timeout=2) as mailer:
        first = mailer.send(_message(1))
        results = [mailer.send(_message(n)) for n in range(2, 6)]
    assert first.state == "failed"
    assert "cannot connect to 127.0.0.1" in first.detail
    assert all(r.state == "failed" for r in results)
    assert "gave up after 3 attempts" in results[-1].detail


def test_connection_dropped_after_message_3_data_is_not_sent_and_the_rest_go_out(server):
    server.handler.drop_after_data.add(3)  # no 250 for message 3: the server did not take it
    with _mailer(server) as mailer:
        results = [mailer.send(_message(n)) for n in range(1, 7)]
    assert [r.state for r in results] == ["sent", "sent", "failed", "sent", "sent", "sent"]
    assert "no 250 reply" in results[2].detail
    assert [m.message["Subject"].split()[1] for m in server.handler.received] == [
        "INV-00001", "INV-00002", "INV-00004", "INV-00005", "INV-00006"]
    assert server.handler.connections == 2


def test_connection_dropped_between_messages_reconnects_once_and_sends_message_3(server):
    server.handler.drop_at_mail.add(3)
    with _mailer(server) as mailer:
        results = [mailer.send(_message(n)) for n in range(1, 6)]
    assert [r.state for r in results] == ["sent"] * 5
    assert len(server.handler.received) == 5
    assert server.handler.connections == 2
    assert [m.connection for m in server.handler.received] == [1, 1, 2, 2, 2]


def test_server_gone_mid_batch_fails_the_rest_after_one_reconnect_attempt():
    srv = SmtpServer(Recorder())
    with srv:
        mailer = _mailer(srv)
        sent = [mailer.send(_message(n)) for n in (1, 2)]
    rest = [mailer.send(_message(n)) for n in (3, 4)]
    mailer.close()
    assert [r.state for r in sent] == ["sent", "sent"]
    assert [r.state for r in rest] == ["failed", "failed"]
    assert len(srv.handler.received) == 2


def test_login_with_username_and_password():
    with SmtpServer(Recorder(), users={"billing": "s3cret"}) as srv:
        with _mailer(srv, username="billing", password="s3cret") as mailer:
            assert mailer.send(_message()).state == "sent"
        assert srv.handler.received[0].login == "billing"


def test_wrong_password_fails_once_and_is_not_retried_for_every_message():
    with SmtpServer(Recorder(), users={"billing": "s3cret"}) as srv:
        with _mailer(srv, username="billing", password="wrong") as mailer:
            results = [mailer.send(_message(n)) for n in (1, 2, 3)]
        assert srv.handler.connections == 1
    assert [r.state for r in results] == ["failed"] * 3
    assert "login to 127.0.0.1" in results[0].detail and "535" in results[0].detail


def test_oauth2_token_logs_in_with_xoauth2():
    token = base64.b64encode(b"user=billing@prairiewireless.net\1auth=Bearer ya29.tok\1\1")
    with SmtpServer(Recorder(oauth_token="ya29.tok"), users={}) as srv:
        with _mailer(srv, oauth2_token=lambda: token.decode()) as mailer:
            assert mailer.send(_message()).state == "sent"
        assert srv.handler.received[0].login == "billing@prairiewireless.net"


@pytest.fixture(scope="module")
def tls():
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


def test_starttls_with_login(tls):
    server_ctx, client_ctx = tls
    with SmtpServer(Recorder(), users={"billing": "s3cret"}, tls=server_ctx) as srv:
        with _mailer(srv, security="starttls", username="billing", password="s3cret",
                     ssl_context=client_ctx) as mailer:
            results = [mailer.send(_message(n)) for n in (1, 2)]
        assert [r.state for r in results] == ["sent", "sent"]
        assert srv.handler.connections == 1
        assert srv.handler.received[0].login == "billing"


def test_implicit_ssl(tls):
    server_ctx, client_ctx = tls
    with SmtpServer(Recorder(), tls=server_ctx, implicit_tls=True) as srv:
        with _mailer(srv, security="ssl", ssl_context=client_ctx) as mailer:
            assert mailer.send(_message()).state == "sent"
        assert len(srv.handler.received) == 1


def test_untrusted_certificate_fails(tls):
    server_ctx, _ = tls
    with SmtpServer(Recorder(), tls=server_ctx, implicit_tls=True) as srv:
        with _mailer(srv, security="ssl") as mailer:  # the system CAs do not know trustme's
            result = mailer.send(_message())
        assert srv.handler.received == []
    assert result.state == "failed"
    assert "CERTIFICATE_VERIFY_FAILED" in result.detail


def test_starttls_required_but_server_has_none_fails(server):
    with _mailer(server, security="starttls") as mailer:
        result = mailer.send(_message())
    assert result.state == "failed"
    assert "STARTTLS" in result.detail


# -- outbox ---------------------------------------------------------------------------------


def test_outbox_writes_an_eml_that_parses_back_with_both_parts_and_the_pdf(tmp_path):
    outbox = Outbox(tmp_path / "outbox")
    assert not outbox.has("invoice/INV-00042")
    result = outbox.send(_message())
    assert result.state == "sent"
    assert outbox.has("invoice/INV-00042")
    assert not outbox.has("invoice/INV-00043")
    (path,) = (tmp_path / "outbox").iterdir()
    assert path.name == f"{safe_key('invoice/INV-00042')}.eml"
    assert path.name.startswith("invoice_INV-00042-")
    msg = email.message_from_bytes(path.read_bytes(), policy=default)
    assert msg["Subject"].startswith("Invoice INV-00042")
    assert msg.get_body(("plain",)).get_content().startswith("Hello Zoë Ashford,")
    assert "<p>" in msg.get_body(("html",)).get_content()
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_content() == PDF


def test_outbox_send_twice_keeps_one_file(tmp_path):
    outbox = Outbox(tmp_path)
    outbox.send(_message())
    outbox.send(_message())
    assert [p.suffix for p in tmp_path.iterdir()] == [".eml"]


def test_safe_keys_that_differ_only_in_unsafe_characters_do_not_collide():
    assert safe_key("reminder/C1/2026-12-18") != safe_key("reminder_C1_2026-12-18")
    assert safe_key("plain-key.1") == "plain-key.1"
