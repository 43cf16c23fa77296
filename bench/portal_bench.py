"""Portal latency and a bounded load, against `ispsheets portal` on 127.0.0.1.

A 2,000-client business's view (12 invoices and 12 payments a client, as a year of monthly
billing leaves) is published the way a run publishes it; 2,000 signed-in sessions are made in
the portal's store; then the real server (`python -m ispsheets portal`, its own process) is
measured from this one:

1. latency: N sequential GETs of the account page (balance, invoices, payments) and of the
   sign-in page, each as a random client: median and p99;
2. load: C clients at once (threads, each with its own session) for S seconds: requests,
   errors, requests per second, median and p99.

    .venv/bin/python bench/portal_bench.py [--clients 2000] [--requests 2000]
        [--concurrency 50] [--seconds 30]

Everything runs on this machine's two cores: the load generator competes with the server,
so the figures are a floor for what the server alone would do.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

import requests

from ispsheets.book.records import Client, Invoice, Payment
from ispsheets.portal.store import Store
from ispsheets.portal.view import build_view, publish

SECRET = "bench-portal-secret-0123456789abcdef"


def make_business(folder: Path, clients: int) -> list[str]:
    """config.yaml and a published view; returns one session token per client."""
    (folder / "config.yaml").write_text(
        'company: {name: "Bench Net", email: billing@bench.example}\n'
        "workbook: {path: isp.xlsx}\n"
        'portal: {base_url: "http://127.0.0.1"}\n')
    people, invoices, payments = [], [], []
    seq = 0
    for n in range(clients):
        cid = f"C{n:05d}"
        people.append(Client(cid, f"Client {n}", (f"c{n}@bench.example",)))
        for month in range(12):
            seq += 1
            issue = dt.date(2026, 1, 1) + dt.timedelta(days=30 * month)
            paid = month < 11
            invoices.append(Invoice(
                f"INV-{seq:06d}", cid, issue, issue, issue + dt.timedelta(days=29),
                issue + dt.timedelta(days=15), Decimal("49.99"), Decimal("0.00"),
                Decimal("49.99"), paid=Decimal("49.99") if paid else Decimal("0"),
                balance=Decimal("0.00") if paid else Decimal("49.99"),
                status="paid" if paid else "open"))
            if paid:
                payments.append(Payment(f"PAY-{seq:06d}", issue + dt.timedelta(days=5), cid,
                                        Decimal("49.99"), "card", f"ch_{seq}"))
    view = build_view(
        clients=people, invoices=invoices, paid_on={}, balances={c.client_id: Decimal("49.99")
                                                               for c in people},
        payments=payments, applied_to={p.payment_id: f"INV-{p.payment_id[4:]}:49.99"
                                       for p in payments},
        statuses={}, suspended_on={}, pdf_names={}, today=dt.date(2026, 12, 3),
        now=dt.datetime.now(dt.UTC), currency="USD", suspend_after_days=21,
        suspend_min_balance=Decimal("0"))
    publish(view, folder / "portal")
    store = Store(folder / "portal")
    return [store.new_session(c.client_id, 30, "bench") for c in people]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def latency(base: str, tokens: list[str], count: int, path: str) -> list[float]:
    session = requests.Session()
    times = []
    for _ in range(count):
        session.cookies.set("ispsheets_session", random.choice(tokens))
        started = time.perf_counter()
        answer = session.get(base + path)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.status_code
    return times


def load(base: str, tokens: list[str], concurrency: int, seconds: float
         ) -> tuple[list[float], int]:
    times: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(token: str) -> None:
        session = requests.Session()
        session.cookies.set("ispsheets_session", token)
        mine = []
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                ok = session.get(base + "/", timeout=10).status_code == 200
            except requests.RequestException:
                ok = False
            mine.append((time.perf_counter() - started) * 1000)
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=client, args=(random.choice(tokens),))
               for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times, errors[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        started = time.perf_counter()
        tokens = make_business(folder, args.clients)
        print(f"view of {args.clients} clients published in "
              f"{time.perf_counter() - started:.2f} s")
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "ispsheets", "portal", "--port", str(port)], cwd=folder,
            env={**os.environ, "ISPSHEETS_PORTAL_SECRET": SECRET})
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    requests.get(base + "/healthz", timeout=1)
                    break
                except requests.ConnectionError:
                    time.sleep(0.05)
            latency(base, tokens, 50, "/")  # warm up
            for name, path in (("account page", "/"), ("sign-in page", "/signin")):
                times = latency(base, tokens, args.requests, path)
                print(f"{name}: {len(times)} sequential requests, median "
                      f"{statistics.median(times):.1f} ms, p99 {percentile(times, 0.99):.1f} ms")
            times, errors = load(base, tokens, args.concurrency, args.seconds)
            print(f"load: {args.concurrency} clients for {args.seconds:.0f} s: {len(times)} "
                  f"requests, {errors} errors, {len(times) / args.seconds:.0f} req/s, median "
                  f"{statistics.median(times):.1f} ms, p99 {percentile(times, 0.99):.1f} ms")
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
