"""Benchmark bank statement import: a 20,000-line CAMT.053 statement against a 2,000-client
business.

    .venv/bin/python bench/bank_match.py                   # 20,000 lines, 2,000 clients
    .venv/bin/python bench/bank_match.py --lines 2000 --clients 200

It builds the business once in a temporary folder (`ispsheets init --demo N`, then the day's
invoices issued, without PDFs or emails), writes a statement whose lines exercise every rule
(an invoice number written loosely, a client id, a known account, a unique amount, lines
nothing matches, debits), then times, each in this process:

- `parse`: reading the XML into statement lines (lxml);
- `match`: the pure matcher on all lines (`prepare_rules` + `match_lines`);
- `import`: `ispsheets import-bank FILE` as the command runs it (read the workbook, allocate,
  match, record every line in the journal, allocate again, write Payments, BankUnmatched and
  Activity back), through `runner.run`;
- `again`: the same file imported a second time (every line known: nothing added).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ispsheets.bank.match import Memory, OpenInvoice, match_lines, prepare_rules
from ispsheets.bank.read import read_statement
from ispsheets.config import load_config
from ispsheets.journal import Journal
from ispsheets.ledger import issued_invoices
from ispsheets.runner import RunOptions, run
from ispsheets.scaffold import init_project

BILLING_DAY = dt.date(2026, 11, 30)


class _Clock:
    """Wall and CPU seconds since the last lap (CPU: this machine is shared, so wall time
    includes other people's work)."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> str:
        wall, cpu = time.perf_counter(), time.process_time()
        text = f"{wall - self.wall:6.2f} s wall {cpu - self.cpu:6.2f} s cpu"
        self.wall, self.cpu = wall, cpu
        return text


def _entry(day: dt.date, amount: Decimal, credit: bool, name: str, iban: str, text: str,
           ref: str) -> str:
    party = (f"<RltdPties><Dbtr><Nm>{name}</Nm></Dbtr><DbtrAcct><Id><IBAN>{iban}</IBAN></Id>"
             f"</DbtrAcct></RltdPties>" if name else "")
    return (f"<Ntry><Amt Ccy=\"USD\">{amount}</Amt><CdtDbtInd>{'CRDT' if credit else 'DBIT'}"
            f"</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>{day}</Dt></BookgDt><AcctSvcrRef>{ref}"
            f"</AcctSvcrRef><NtryDtls><TxDtls><AmtDtls><TxAmt><Amt Ccy=\"USD\">{amount}</Amt>"
            f"</TxAmt></AmtDtls>{party}<RmtInf><Ustrd>{text}</Ustrd></RmtInf></TxDtls>"
            f"</NtryDtls></Ntry>")


def write_statement(path: Path, lines: int, invoices: list[tuple[str, str, Decimal]],
                    seed: int = 19) -> dict[str, int]:
    """A statement of `lines` entries over December; returns how many of each kind."""
    rng = random.Random(seed)
    kinds = {"invoice number": 0, "client id": 0, "known account": 0, "amount": 0,
             "nothing": 0, "debit": 0}
    entries = []
    amounts: dict[Decimal, int] = {}
    for _, _, total in invoices:
        amounts[total] = amounts.get(total, 0) + 1
    unique = [i for i in invoices if amounts[i[2]] == 1][:max(len(invoices) // 20, 1)]
    reserved = {i[0] for i in unique}  # paid only by the amount rule, each once
    others = [i for i in invoices if i[0] not in reserved]
    for n in range(lines):
        day = dt.date(2026, 12, 1) + dt.timedelta(days=n * 30 // lines)
        number, client, total = others[n % len(others)]
        iban = f"DE{10 + n % len(others):02d}{abs(hash(client)) % 10**18:018d}"
        name = f"Payer {client}"
        roll = rng.random()
        if n < len(others) or roll < 0.35:  # every payer once by invoice: accounts learnt
            seq = int(number.split("-")[-1])
            text, kind = rng.choice([f"inv {seq}", f"INV{seq:05d}", f"Invoice {number}"]), \
                "invoice number"
        elif roll < 0.55:
            text, kind = f"Internet {client} Dezember", "client id"
        elif roll < 0.80:
            text, kind = "Danke", "known account"
        elif roll < 0.85 and unique:
            number, client, total = unique.pop()
            text, kind, name, iban = "monthly", "amount", "", ""
        elif roll < 0.95:
            text, kind, name, iban = "Sammelzahlung", "nothing", "Stranger", "DE00999"
        else:
            entries.append(_entry(day, Decimal("12.50"), False, "", "", "Fee", f"D{n}"))
            kinds["debit"] += 1
            continue
        kinds[kind] += 1
        entries.append(_entry(day, total, True, name, iban, text, f"R{n:08d}"))
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:'
        'xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>BENCH</MsgId></GrpHdr><Stmt>'
        '<Id>BENCH</Id><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>USD</Ccy></Acct>'
        + "".join(entries) + "</Stmt></BkToCstmrStmt></Document>", encoding="utf-8")
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=2_000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bank-bench-"))
    try:
        init_project(folder, args.clients, BILLING_DAY - dt.timedelta(days=60))
        config, problems = load_config(folder / "config.yaml")
        assert config is not None, problems
        now = dt.datetime.combine(BILLING_DAY, dt.time(6))
        run(config, RunOptions(today=BILLING_DAY, now=now, steps=("invoice",)))
        journal = Journal.open(config.journal_path)
        invoices = [(i.invoice_number, i.client_id, i.total) for i in issued_invoices(journal)
                    if i.issue_date == BILLING_DAY]
        journal.close()
        statement_path = folder / "statement.xml"
        kinds = write_statement(statement_path, args.lines, invoices)
        print(f"{args.clients:,} clients, {len(invoices):,} open invoices; statement of "
              f"{args.lines:,} lines: " + ", ".join(f"{v:,} {k}" for k, v in kinds.items()))

        clock = _Clock()
        statement = read_statement(statement_path, config)
        parse = clock.lap()
        rules = prepare_rules(config.invoicing.number_format,
                              [(n, c) for n, c, _ in invoices],
                              [(f"C{n:04d}", "") for n in range(1, args.clients + 1)],
                              config.currency)
        results = match_lines([x for x in statement.lines if x.is_credit], rules, Memory(),
                              [OpenInvoice(n, c, t) for n, c, t in invoices])
        match = clock.lap()
        by_rule: dict[str, int] = {}
        for result in results:
            by_rule[result.rule or "unmatched"] = by_rule.get(result.rule or "unmatched", 0) + 1

        day = dt.date(2026, 12, 31)
        options = RunOptions(today=day, now=dt.datetime.combine(day, dt.time(7)),
                             steps=("reconcile",), bank_files=(statement_path,))
        clock.lap()
        report = run(config, options)
        whole = clock.lap()
        second = run(config, options)
        again = clock.lap()

        print("matched: " + ", ".join(f"{v:,} {k}" for k, v in sorted(by_rule.items())))
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; wall s, cpu s")
        print(f"parse   {parse}   ({args.lines:,} lines of CAMT.053)")
        print(f"match   {match}   (the pure matcher, every credit)")
        print(f"import  {whole}   (import-bank end to end: "
              f"{report.counts['bank payments imported']:,} payments, "
              f"{report.counts['bank lines unmatched']:,} unmatched, exit "
              f"{int(report.exit_code)})")
        print(f"again   {again}   (the same file again: "
              f"{second.counts['bank lines imported before']:,} known, "
              f"{second.counts['bank payments imported']:,} added)")
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
