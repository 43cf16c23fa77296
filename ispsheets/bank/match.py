"""Which client a bank credit is from: a pure function of the lines, the open invoices, the
clients and what earlier imports learnt. Each rule is tried in order; the first that names
exactly one client wins, and the result says which rule and why. Nothing is guessed: a line
no rule settles is left unmatched, with the reasons.

1. an invoice number in the reference (`inv 12`, `INV00012`, `Inv-12` for INV-{seq:05d});
2. a client id, or the client's `bank_reference`, in the reference;
3. the payer's account, else name, remembered from an earlier match of one client;
4. a unique open invoice whose balance is exactly the amount.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

from ispsheets.bank.statement import StatementLine, compact

RULES = ("invoice number", "client id", "bank reference", "known account", "known name",
         "amount")
_MAX_GRAM = 4  # a client id or bank reference may be written as up to 4 separate words


@dataclass(frozen=True)
class OpenInvoice:
    invoice_number: str
    client_id: str
    balance: Decimal


@dataclass(frozen=True)
class Match:
    """What the matcher made of one credit line. `client_id` "" = unmatched."""

    line: StatementLine
    client_id: str
    invoice_number: str  # the invoice it pays first, when a rule named one
    rule: str  # one of RULES, or "" when unmatched
    why: str  # for the owner: how it matched, or why nothing did


@dataclass
class Memory:
    """Payers seen before: account → clients, compact name → clients (from the journal)."""

    accounts: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    names: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def learn(self, line: StatementLine, client_id: str) -> None:
        self.learn_payer(line.account, line.name, client_id)

    def learn_payer(self, account: str, name: str, client_id: str) -> None:
        if account:
            self.accounts[compact(account)].add(client_id)
        if len(compact(name)) >= 3:
            self.names[compact(name)].add(client_id)


@dataclass(frozen=True)
class Rules:
    """Everything the rules look at besides the line, prepared once for many lines."""

    number_format: str
    invoice_clients: Mapping[str, str]  # every invoice number (not void) → client_id
    client_ids: Mapping[str, str]  # compact client id → client_id
    bank_references: Mapping[str, str]  # compact bank_reference → client_id
    currency: str
    by_amount: bool = True


def prepare_rules(number_format: str, invoices: Iterable[tuple[str, str]],
                  clients: Iterable[tuple[str, str]], currency: str,
                  by_amount: bool = True) -> Rules:
    """`invoices`: (number, client_id) of invoices not void; `clients`: (client_id,
    bank_reference). Ids too short to be told from other words (under 3 characters, or
    all digits under 4) are not looked for in references; a bank reference is always."""
    ids: dict[str, str] = {}
    ambiguous: set[str] = set()
    refs: dict[str, str] = {}
    for client_id, bank_reference in clients:
        key = compact(client_id)
        if len(key) >= 3 and not (key.isdigit() and len(key) < 4):
            if key in ids and ids[key] != client_id:
                ambiguous.add(key)
            ids[key] = client_id
        ref = compact(bank_reference)
        if ref:
            refs[ref] = client_id
    for key in ambiguous:
        del ids[key]
    return Rules(number_format, dict(invoices), ids, refs, currency.upper(), by_amount)


@lru_cache(maxsize=8)
def _number_pattern(number_format: str) -> tuple[re.Pattern[str], str, str]:
    prefix, _, rest = number_format.partition("{seq")
    suffix = rest.partition("}")[2]
    letters = compact(prefix)
    sep = r"[\s\-_#:./]*"
    if letters:
        body = sep.join(re.escape(ch) for ch in letters)
        tail = "[A-Za-z]{0,5}" if letters[-1].isalpha() else ""  # INVoice, Inv.
        pattern = rf"(?<![A-Za-z]){body}{tail}{sep}(?:no|nr)?\.?{sep}(\d{{1,9}})(?!\d)"
    else:  # numbers without letters: only the number exactly as formatted, as a word
        pattern = r"(?<![0-9A-Za-z])(\d{3,12})(?![0-9A-Za-z])"
    return re.compile(pattern, re.IGNORECASE), prefix, suffix


def numbers_written(text: str, number_format: str) -> list[str]:
    """Every invoice number `text` could name, as the Invoices tab writes them (issued or not)."""
    pattern, prefix, _ = _number_pattern(number_format)
    found: list[str] = []
    for match in pattern.finditer(text):
        digits = match.group(1)
        number = number_format.format(seq=int(digits)) if compact(prefix) else digits
        if number not in found:
            found.append(number)
    return found


def invoice_numbers_in(text: str, rules: Rules) -> list[str]:
    """The invoice numbers `text` names, as they are written in the Invoices tab."""
    return [n for n in numbers_written(text, rules.number_format) if n in rules.invoice_clients]


def _grams(text: str) -> set[str]:
    words = [compact(w) for w in re.findall(r"[0-9A-Za-z]+", text)]
    grams = set()
    for size in range(1, _MAX_GRAM + 1):
        for start in range(len(words) - size + 1):
            grams.add("".join(words[start:start + size]))
    return grams


def _one(clients: Iterable[str]) -> str | None:
    found = set(clients)
    return found.pop() if len(found) == 1 else None


def match_line(line: StatementLine, rules: Rules, memory: Memory,
               open_invoices: Mapping[Decimal, list[OpenInvoice]]) -> Match:
    """The first rule that names one client; else unmatched, saying what each rule found."""
    notes: list[str] = []
    if line.currency and line.currency.upper() != rules.currency:
        return Match(line, "", "", "", f"in {line.currency}, but invoices are in "
                     f"{rules.currency}")
    numbers = invoice_numbers_in(line.reference, rules)
    if numbers:
        owners = {rules.invoice_clients[n] for n in numbers}
        if len(owners) == 1:
            client = owners.pop()
            return Match(line, client, numbers[0], "invoice number",
                         f"the reference names {', '.join(numbers)} of {client}")
        notes.append(f"the reference names invoices of {len(owners)} clients "
                     f"({', '.join(sorted(owners))})")
    grams = _grams(line.reference)
    by_id = {rules.client_ids[g] for g in grams if g in rules.client_ids}
    by_ref = {rules.bank_references[g] for g in grams if g in rules.bank_references}
    if (client := _one(by_id)) is not None:
        return Match(line, client, "", "client id", f"the reference names client {client}")
    if (client := _one(by_ref)) is not None:
        return Match(line, client, "", "bank reference",
                     f"the reference holds the bank reference of {client}")
    if len(by_id | by_ref) > 1:
        notes.append(f"the reference names {len(by_id | by_ref)} clients "
                     f"({', '.join(sorted(by_id | by_ref))})")
    if line.account:
        known = memory.accounts.get(compact(line.account), set())
        if (client := _one(known)) is not None:
            return Match(line, client, "", "known account",
                         f"account {line.account} paid for {client} before")
        if known:
            notes.append(f"account {line.account} paid for {', '.join(sorted(known))} before")
    if name := compact(line.name):
        known = memory.names.get(name, set())
        if (client := _one(known)) is not None:
            return Match(line, client, "", "known name",
                         f"{line.name} paid for {client} before")
        if known:
            notes.append(f"{line.name} paid for {', '.join(sorted(known))} before")
    if rules.by_amount:
        candidates = open_invoices.get(line.amount, [])
        if len(candidates) == 1:
            invoice = candidates[0]
            return Match(line, invoice.client_id, invoice.invoice_number, "amount",
                         f"{invoice.invoice_number} of {invoice.client_id} is the only open "
                         f"invoice of {line.amount}")
        if candidates:
            shown = ", ".join(f"{i.invoice_number} {i.client_id}" for i in candidates[:4])
            more = f" and {len(candidates) - 4} more" if len(candidates) > 4 else ""
            notes.append(f"{len(candidates)} open invoices of {line.amount} ({shown}{more})")
    if not notes:
        notes.append("no invoice number, client id or known payer in it, and no open invoice "
                     f"of {line.amount}" if rules.by_amount else
                     "no invoice number, client id or known payer in it")
    return Match(line, "", "", "", "; ".join(notes))


def match_lines(lines: Sequence[StatementLine], rules: Rules, memory: Memory,
                open_invoices: Iterable[OpenInvoice]) -> list[Match]:
    """Match credits in booking order; each match is learnt (its payer, the invoice it paid)
    before the next line, as if the owner had typed the earlier ones in."""
    by_amount: dict[Decimal, list[OpenInvoice]] = defaultdict(list)
    by_client: dict[str, list[OpenInvoice]] = defaultdict(list)  # oldest due first
    for invoice in open_invoices:
        if invoice.balance > 0:
            by_amount[invoice.balance].append(invoice)
            by_client[invoice.client_id].append(invoice)
    results = []
    for line in sorted(lines, key=lambda x: (x.booking_date, x.source, x.position)):
        result = match_line(line, rules, memory, by_amount)
        results.append(result)
        if not result.client_id:
            continue
        memory.learn(line, result.client_id)
        _pay(by_amount, by_client[result.client_id], result.invoice_number, line.amount)
    return results


def _pay(by_amount: dict[Decimal, list[OpenInvoice]], client_open: list[OpenInvoice],
         invoice_number: str, amount: Decimal) -> None:
    """What the allocation will do with a matched credit, as far as the amount rule needs
    it: the named invoice, else the client's oldest open ones, lose their balance."""
    order = sorted(client_open, key=lambda i: i.invoice_number != invoice_number)
    for invoice in order:
        if amount <= 0:
            break
        by_amount[invoice.balance].remove(invoice)
        client_open.remove(invoice)
        left = invoice.balance - amount
        amount -= invoice.balance
        if left > 0:
            rest = OpenInvoice(invoice.invoice_number, invoice.client_id, left)
            by_amount[left].append(rest)
            client_open.insert(0, rest)
