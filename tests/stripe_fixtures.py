"""The Stripe test server (tests/stripe_server.py) as a pytest fixture, and the client's hands:
paying a link, finishing a Checkout Session, disputing a charge, moving the server's clock."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk_test_ispsheets"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StripeTestServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.stripe_server", "--port", str(port)], cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(self.process.stderr.read().decode()  # type: ignore[union-attr]
                                       ) from None
                time.sleep(0.05)
        raise RuntimeError("the Stripe test server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def call(self, method: str, path: str, **params: Any) -> dict[str, Any]:
        data = urllib.parse.urlencode(_flat(params)).encode() if method != "GET" else None
        url = self.base + path + ("?" + urllib.parse.urlencode(_flat(params))
                                  if method == "GET" and params else "")
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Authorization": f"Bearer {KEY}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()
            return {"status": exc.code, **json.loads(body or b"{}")}
        return json.loads(body) if body else {}

    # -- the test's hands ---------------------------------------------------------------------

    def reset(self) -> None:
        self.call("DELETE", "/_test/data")

    def clock(self, when: dt.datetime | dt.date) -> None:
        if not isinstance(when, dt.datetime):
            when = dt.datetime.combine(when, dt.time(12, 0))
        self.call("POST", "/_test/clock", now=int(when.replace(tzinfo=dt.UTC).timestamp()))

    def pay_link(self, url: str, amount: str, card: str = "4242424242424242"
                 ) -> dict[str, Any]:
        link_id = url.rstrip("/").rsplit("/", 1)[-1]
        cents = int((__import__("decimal").Decimal(amount) * 100).to_integral_value())
        return self.call("POST", f"/_test/payment_links/{link_id}/pay", amount=cents, card=card)

    def complete_session(self, url: str, card: str = "4242424242424242") -> dict[str, Any]:
        session_id = url.rstrip("/").rsplit("/", 1)[-1]
        return self.call("POST", f"/_test/checkout/sessions/{session_id}/complete", card=card)

    def dispute(self, charge: str, status: str = "lost") -> dict[str, Any]:
        return self.call("POST", f"/_test/charges/{charge}/dispute", status=status)

    def fail(self, status: int = 500, count: int = 1) -> None:
        self.call("POST", "/_test/fail", status=status, count=count)

    def customers(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/v1/customers", limit=100)["data"])

    def add_card(self, customer: str, card: str = "4242424242424242",
                 default: bool = True) -> str:
        """A card saved on a customer (as a finished setup Checkout and the run would do)."""
        pm = self.call("POST", "/v1/payment_methods", type="card",
                       card={"number": card, "exp_month": "12", "exp_year": "2030",
                             "cvc": "123"})
        self.call("POST", f"/v1/payment_methods/{pm['id']}/attach", customer=customer)
        if default:
            self.call("POST", f"/v1/customers/{customer}",
                      invoice_settings={"default_payment_method": pm["id"]})
        return str(pm["id"])


def _flat(params: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        if isinstance(value, dict):
            items.extend(_flat(value, name))
        else:
            items.append((name, str(value)))
    return items


@pytest.fixture(scope="session")
def stripe_server_process() -> Iterator[StripeTestServer]:
    server = StripeTestServer(free_port())
    yield server
    server.stop()


@pytest.fixture
def stripe_server(stripe_server_process: StripeTestServer) -> StripeTestServer:
    """The session's Stripe test server, emptied for this test."""
    stripe_server_process.reset()
    return stripe_server_process
