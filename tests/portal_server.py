"""A real portal for tests: uvicorn serving `create_app` on a free 127.0.0.1 port, in a thread."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import uvicorn

from ispsheets.config import Config
from ispsheets.portal.app import create_app

SECRET = "test-portal-secret-0123456789abcdef"


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serving(config: Config, sock: socket.socket) -> Iterator[str]:
    """Serve the portal on `sock` until the block ends; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(create_app(config, SECRET), log_level="warning",
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the portal did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def links_in_outbox(outbox: Path, kind: str = "signin") -> list[str]:
    """Every link of the newest `kind` email in the outbox (its plain-text part)."""
    import email
    import email.policy

    mails = sorted(outbox.glob(f"{kind}_*.eml"), key=lambda p: p.stat().st_mtime_ns)
    assert mails, f"no {kind} email in {outbox}"
    msg = email.message_from_bytes(mails[-1].read_bytes(), policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()
    return re.findall(r"https?://\S+", text)


def sign_in(base: str, email_address: str, outbox: Path) -> requests.Session:
    """A browser session that asked for a link and used it."""
    session = requests.Session()
    page = session.get(f"{base}/signin")
    session.post(f"{base}/signin", data={"email": email_address, "csrf": csrf_of(page.text)})
    [link] = links_in_outbox(outbox)
    confirm = session.get(link)
    assert confirm.status_code == 200, confirm.text
    token = re.search(r'name="token" value="([^"]+)"', confirm.text).group(1)
    done = session.post(f"{base}/signin/confirm", data={"token": token,
                                                        "csrf": csrf_of(confirm.text)})
    assert done.status_code == 200 and "Sign out" in done.text, done.text
    return session
