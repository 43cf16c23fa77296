"""The owner's word on a line no rule matched: a client_id typed in the BankUnmatched tab
becomes that line's payment on the next run, once, and the payer is remembered."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ispsheets.bank.importer import BankJournal, add_payment, line_of, taken_payment_ids
from ispsheets.book.parse import is_blank, parse_text
from ispsheets.book.schema import BANK_UNMATCHED, column_letter, find_tab, normalise_header
from ispsheets.money import format_money
from ispsheets.problems import Problem, warning
from ispsheets.steps.cycle import Cycle


@dataclass(frozen=True)
class Assignment:
    line_id: str
    client_id: str
    cell: str  # BankUnmatched!J5


def assignments(cycle: Cycle) -> list[Assignment]:
    """Rows of the BankUnmatched tab where the owner typed a client_id."""
    name = find_tab(cycle.raw.names, BANK_UNMATCHED)
    if name is None:
        return []
    sheet = cycle.raw.sheets[name]
    header = {normalise_header(h): i for i, h in enumerate(sheet.header) if not is_blank(h)}
    line_col, client_col = header.get("lineid"), header.get("clientid")
    paid_col = header.get("paymentid")
    if line_col is None or client_col is None:
        return []
    found = []
    for number, row in enumerate(sheet.rows[1:], start=2):
        cells = [row[i] if i < len(row) else None for i in (line_col, client_col)]
        if any(is_blank(c) for c in cells):
            continue
        if paid_col is not None and paid_col < len(row) and not is_blank(row[paid_col]):
            continue  # recorded already
        found.append(Assignment(parse_text(cells[0]), _key_text(cells[1]),
                                f"{name}!{column_letter(client_col)}{number}"))
    return found


def _key_text(raw: object) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return parse_text(raw)


def apply_assignments(cycle: Cycle, bank: BankJournal, wanted: Sequence[Assignment]) -> int:
    """Turn each line the owner assigned into a payment, once; returns how many."""
    if not wanted:
        return 0
    by_line_id = {data["line_id"]: key for key, data in bank.details.items()
                  if data.get("line_id")}
    clients = cycle.book.client_map()
    taken = taken_payment_ids(cycle)
    done = 0
    for assignment in wanted:
        key = by_line_id.get(assignment.line_id)
        if key is None:
            cycle.problem(warning(assignment.cell, f"{assignment.line_id} is not a line "
                                  "ispsheets imported", "leave the line_id column as written"))
            continue
        data = dict(bank.details[key])
        if data.get("payment_id"):
            if data.get("client") != assignment.client_id:
                cycle.problem(warning(assignment.cell, f"{assignment.line_id} was recorded as "
                                      f"{data['payment_id']} of {data.get('client')}",
                                      f"to give it to {assignment.client_id}, change that row "
                                      "in Payments"))
            continue
        if data.get("currency") and data["currency"].upper() != cycle.config.currency:
            cycle.problem(Problem(assignment.cell, f"{assignment.line_id} is in "
                                  f"{data['currency']}, invoices are in "
                                  f"{cycle.config.currency}", "type the payment into Payments "
                                  "in your currency yourself, and clear this cell"))
            continue
        if assignment.client_id not in clients:
            cycle.problem(Problem(assignment.cell, f"client_id {assignment.client_id} is not "
                                  "on the Clients tab", "type a client_id from the Clients "
                                  "tab; the line is taken on the next run"))
            continue
        line = line_of(data)
        amount = format_money(line.amount, cycle.config.currency)
        cycle.plan("bank payment", assignment.client_id,
                   f"{amount} of {line.booking_date}, {assignment.line_id} assigned by you")
        with cycle.journal.transaction():
            data.update(client=assignment.client_id, rule="assigned",
                        why=f"assigned in {BANK_UNMATCHED.name}")
            data["payment_id"] = add_payment(cycle, bank, key, line, assignment.client_id, "",
                                              taken)
            cycle.journal.add_cell_write(BANK_UNMATCHED.name, assignment.line_id,
                                         "payment_id", data["payment_id"], cycle.now)
            bank.update(key, data, cycle.now)
        bank.memory.learn(line, assignment.client_id)
        done += 1
    return done
