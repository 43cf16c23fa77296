"""Benchmark the `.xlsx` write-back on a big workbook: a billing day and a quiet day.

    .venv/bin/python bench/xlsx_writeback.py            # generate once into /tmp, then measure
    .venv/bin/python bench/xlsx_writeback.py --clients 2000   # a smaller book

The workbook (20,000 clients with a year of history: 240,000 invoices, 300,000 invoice lines,
100,000 payments, 300,000 activity rows, shared strings like an Excel-saved file) is generated
once with xlsxwriter. Each scenario runs in a fresh process, so its peak memory is its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

D = Decimal
START = dt.date(2025, 1, 1)


def _generate(path: Path, clients: int) -> None:
    import xlsxwriter

    rng = random.Random(7)
    invoices, lines, payments, activity = clients * 12, clients * 15, clients * 5, clients * 15
    wb = xlsxwriter.Workbook(str(path))
    bold = wb.add_format({"bold": True, "bg_color": "#DDEBF7"})
    money = wb.add_format({"num_format": "#,##0.00"})
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    stamp = wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})

    def sheet(name: str, header: list[str], widths: int = 14):  # type: ignore[no-untyped-def]
        ws = wb.add_worksheet(name)
        ws.write_row(0, 0, header, bold)
        ws.set_column(0, len(header) - 1, widths)
        ws.freeze_panes(1, 0)
        return ws

    ws = sheet("Packages", ["package_id", "name", "price", "interval"])
    for i in range(10):
        ws.write_row(i + 1, 0, [f"P{i}", f"Plan {i}"])
        ws.write_number(i + 1, 2, 20 + 10 * i, money)
        ws.write_string(i + 1, 3, "monthly")
    ws = sheet("Clients", ["client_id", "name", "email", "phone", "address", "billing_day",
                           "autopay", "tax_exempt", "status", "balance", "stripe_customer_id",
                           "Notes", "Owed x2"])
    ws.data_validation(1, 8, clients, 8, {"validate": "list",
                                          "source": ["active", "suspended", "cancelled"]})
    for i in range(clients):
        r = i + 1
        ws.write_row(r, 0, [f"C{i:05d}", f"Client {i}", f"c{i}@example.com",
                            f"555-{i:04d}", f"{i} Main St", 1 + i % 28,
                            "yes" if i % 3 else "no", "no", "active"])
        ws.write_number(r, 9, rng.randrange(0, 10000) / 100, money)
        ws.write_string(r, 11, "vip" if i % 50 == 0 else "")
        ws.write_formula(r, 12, f"=J{r + 1}*2", money, 0)
    ws = sheet("Services", ["service_id", "client_id", "package_id", "start_date"])
    for i in range(clients):
        ws.write_row(i + 1, 0, [f"S{i:05d}", f"C{i:05d}", f"P{i % 10}"])
        ws.write_datetime(i + 1, 3, dt.datetime(2024, 1 + i % 12, 1), day)
    ws = sheet("Invoices", ["invoice_number", "client_id", "issue_date", "period_start",
                            "period_end", "due_date", "subtotal", "tax", "total", "paid",
                            "balance", "status", "sent_at", "reminder_stage", "pay_link"])
    for i in range(invoices):
        r = i + 1
        issue = dt.datetime.combine(START + dt.timedelta(days=i * 365 // invoices), dt.time())
        ws.write_row(r, 0, [f"INV-{i + 1:06d}", f"C{i % clients:05d}"])
        for c, d in ((2, issue), (3, issue), (4, issue + dt.timedelta(days=30)),
                     (5, issue + dt.timedelta(days=15))):
            ws.write_datetime(r, c, d, day)
        for c, v in ((6, 49.99), (7, 4.12), (8, 54.11), (9, 54.11), (10, 0)):
            ws.write_number(r, c, v, money)
        ws.write_string(r, 11, "paid")
        ws.write_datetime(r, 12, issue + dt.timedelta(hours=9), stamp)
    ws = sheet("InvoiceLines", ["invoice_number", "line", "service_id", "description",
                                "period_start", "period_end", "quantity", "unit_price",
                                "amount", "tax_rate", "tax"])
    for i in range(lines):
        r = i + 1
        ws.write_row(r, 0, [f"INV-{i * invoices // lines + 1:06d}", 1 + i % 2,
                            f"S{i % clients:05d}", f"Home {i % 10} service"])
        ws.write_datetime(r, 4, dt.datetime(2025, 1 + i % 12, 1), day)
        ws.write_datetime(r, 5, dt.datetime(2025, 1 + i % 12, 28), day)
        ws.write_number(r, 6, 1)
        for c, v in ((7, 49.99), (8, 49.99), (9, 8.25), (10, 4.12)):
            ws.write_number(r, c, v, money)
    ws = sheet("Payments", ["payment_id", "date", "client_id", "amount", "method", "reference",
                            "invoice_number", "applied_to", "unapplied"])
    for i in range(payments):
        r = i + 1
        ws.write_string(r, 0, f"PAY-{i + 1:06d}")
        ws.write_datetime(r, 1, dt.datetime.combine(START, dt.time())
                          + dt.timedelta(days=i * 365 // payments), day)
        ws.write_string(r, 2, f"C{i % clients:05d}")
        ws.write_number(r, 3, 54.11, money)
        ws.write_row(r, 4, ["cash", f"ref {i}", "", f"INV-{i + 1:06d}:54.11"])
        ws.write_number(r, 8, 0, money)
    ws = sheet("Activity", ["timestamp", "action", "client_id", "invoice_number", "detail"])
    for i in range(activity):
        r = i + 1
        ws.write_datetime(r, 0, dt.datetime.combine(START, dt.time())
                          + dt.timedelta(minutes=i * 525600 // activity), stamp)
        ws.write_row(r, 1, ["invoice_sent", f"C{i % clients:05d}", f"INV-{i + 1:06d}",
                            f"sent to c{i % clients}@example.com"])
    wb.close()


def _changes(kind: str, clients: int):  # type: ignore[no-untyped-def]
    from ispsheets.book.changes import AppendRow, ChangeSet, SetCell

    rng = random.Random(11)
    invoices = clients * 12
    if kind == "quiet":
        sets = [SetCell("Clients", f"C{rng.randrange(clients):05d}", "balance",
                        D(rng.randrange(10000)) / 100) for _ in range(100)]
        sets += [SetCell("Invoices", f"INV-{rng.randrange(1, invoices):06d}", "status", "paid")
                 for _ in range(200)]
        return ChangeSet(sets=tuple(sets))
    when = dt.date(2026, 1, 1)
    appends = []
    for i in range(clients):
        number = f"INV-{invoices + i + 1:06d}"
        appends.append(AppendRow("Invoices", {
            "invoice_number": number, "client_id": f"C{i:05d}", "issue_date": when,
            "period_start": when, "period_end": when + dt.timedelta(days=30),
            "due_date": when + dt.timedelta(days=15), "subtotal": D("49.99"), "tax": D("4.12"),
            "total": D("54.11"), "paid": D("0.00"), "balance": D("54.11"), "status": "open",
            "sent_at": dt.datetime(2026, 1, 1, 9, 0), "reminder_stage": None,
            "pay_link": None}))
    for i in range(clients * 5 // 4):
        appends.append(AppendRow("InvoiceLines", {
            "invoice_number": f"INV-{invoices + i % clients + 1:06d}", "line": 1 + i // clients,
            "service_id": f"S{i % clients:05d}", "description": "Home 100",
            "period_start": when, "period_end": when + dt.timedelta(days=30),
            "quantity": D("1"), "unit_price": D("49.99"), "amount": D("49.99"),
            "tax_rate": D("8.25"), "tax": D("4.12")}))
    for i in range(clients * 2):
        appends.append(AppendRow("Activity", {
            "timestamp": dt.datetime(2026, 1, 1, 9, 0, i % 60), "action": "invoice_issued",
            "client_id": f"C{i % clients:05d}", "invoice_number": f"INV-{invoices + i:06d}",
            "detail": f"total 54.11, due 2026-01-16 ({i})"}))
    sets = [SetCell("Clients", f"C{i:05d}", "balance", D(rng.randrange(10000)) / 100)
            for i in range(clients)]
    sets += [SetCell("Invoices", f"INV-{rng.randrange(1, invoices):06d}",
                     rng.choice(["status", "paid", "balance"]),
                     "paid" if i % 3 == 0 else D("54.11")) for i in range(clients // 4)]
    return ChangeSet(sets=tuple(sets), appends=tuple(appends))


def _peak_mb() -> int:
    """This process's peak resident memory (VmHWM, which exec resets, unlike ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _measure(book: Path, kind: str, clients: int) -> dict[str, object]:
    """One scenario, in this (fresh) process."""
    from ispsheets.book.xlsx_backend import apply_changes, fingerprint

    work = book.with_name(f"bench-{kind}.xlsx")
    shutil.copyfile(book, work)
    changes = _changes(kind, clients)
    base = _peak_mb()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    mark = fingerprint(work)
    result = apply_changes(work, changes, backup_dir=work.parent / "bench-backups",
                           keep_backups=2, expected_fingerprint=mark,
                           now=dt.datetime(2026, 1, 1, 9, 0))
    seconds = time.perf_counter() - began
    done = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = done.ru_utime + done.ru_stime - cpu.ru_utime - cpu.ru_stime
    peak = _peak_mb()
    began = time.perf_counter()
    from ispsheets.book.reader import read_xlsx

    sheets = read_xlsx(work).sheets
    read_seconds = time.perf_counter() - began
    return {"scenario": kind, "seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2),
            "load_average": round(os.getloadavg()[0], 1), "peak_rss_mb": peak,
            "rss_before_mb": base, "cells_set": result.cells_set,
            "rows_appended": result.rows_appended, "missing": len(result.missing_keys),
            "file_mb_before": round(book.stat().st_size / 1e6, 1),
            "file_mb_after": round(work.stat().st_size / 1e6, 1),
            "calamine_read_after_s": round(read_seconds, 2),
            "rows_after": {n: len(s.rows) for n, s in sheets.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/ispsheets-bench"))
    parser.add_argument("--measure", choices=["billing", "quiet"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    book = args.folder / f"book-{args.clients}.xlsx"
    if args.measure:
        print(json.dumps(_measure(book, args.measure, args.clients)))
        return
    args.folder.mkdir(parents=True, exist_ok=True)
    if not book.exists():
        began = time.perf_counter()
        _generate(book, args.clients)
        print(f"generated {book} ({book.stat().st_size / 1e6:.1f} MB) in "
              f"{time.perf_counter() - began:.0f} s")
    for kind in ("quiet", "billing"):
        out = subprocess.run([sys.executable, __file__, "--clients", str(args.clients),
                              "--folder", str(args.folder), "--measure", kind],
                             check=True, capture_output=True, text=True)
        print(out.stdout.strip())


if __name__ == "__main__":
    main()
