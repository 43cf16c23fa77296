"""ISO 20022 CAMT.053 (bank-to-customer statement) with lxml, any version of the message.

An entry (`Ntry`) is one booking; a batch booking carries several transactions (`TxDtls`),
each with its own amount, payer and remittance text: each becomes a line. Only booked entries
count (`Sts` BOOK, or absent); pending ones are skipped and counted.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path

from lxml import etree

from ispsheets.bank.statement import (
    Statement,
    StatementError,
    StatementLine,
    account_text,
    clean,
    parse_date,
)
from ispsheets.problems import Problem

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def _text(element: etree._Element | None, path: str) -> str:
    if element is None:
        return ""
    found = element.find(path)
    return clean(found.text) if found is not None and found.text else ""


def _first(element: etree._Element | None, *paths: str) -> str:
    for path in paths:
        if value := _text(element, path):
            return value
    return ""


def _amount(element: etree._Element | None) -> tuple[Decimal, str] | None:
    if element is None:
        return None
    try:
        return Decimal((element.text or "").strip()), element.get("Ccy", "")
    except InvalidOperation:
        return None


def _reference(tx: etree._Element | None) -> str:
    """Unstructured remittance text (several `Ustrd` joined), else the structured creditor
    reference (`Strd/CdtrRefInf/Ref`, where an invoice number is often put)."""
    if tx is None:
        return ""
    parts = [clean(u.text) for u in tx.iterfind("{*}RmtInf/{*}Ustrd") if u.text]
    parts += [clean(r.text) for r in tx.iterfind("{*}RmtInf/{*}Strd/{*}CdtrRefInf/{*}Ref")
              if r.text]
    parts += [clean(r.text) for r in tx.iterfind("{*}AddtlTxInf") if r.text and not parts]
    return " ".join(parts)


def _party(tx: etree._Element | None, credit: bool) -> tuple[str, str]:
    """(name, account) of the other side: the debtor of a credit, the creditor of a debit."""
    who = "Dbtr" if credit else "Cdtr"
    parties = tx.find("{*}RltdPties") if tx is not None else None
    name = _first(parties, f"{{*}}{who}/{{*}}Nm", f"{{*}}{who}/{{*}}Pty/{{*}}Nm",
                  f"{{*}}Ultmt{who}/{{*}}Nm", f"{{*}}Ultmt{who}/{{*}}Pty/{{*}}Nm")
    account = _first(parties, f"{{*}}{who}Acct/{{*}}Id/{{*}}IBAN",
                     f"{{*}}{who}Acct/{{*}}Id/{{*}}Othr/{{*}}Id")
    return name, account_text(account)


def read_camt(path: Path, data: bytes) -> Statement:
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise StatementError(Problem(path.name, f"not a readable CAMT.053 file ({exc})",
                                     "export the statement again from your bank")) from exc
    statements = root.findall(".//{*}BkToCstmrStmt/{*}Stmt")
    if not statements:
        raise StatementError(Problem(path.name, "no BkToCstmrStmt/Stmt in the XML",
                                     "this is not a CAMT.053 statement; export camt.053"))
    lines: list[StatementLine] = []
    problems: list[Problem] = []
    skipped: dict[str, int] = {}
    position = 0
    for stmt in statements:
        account_currency = _text(stmt, "{*}Acct/{*}Ccy")
        for entry in stmt.iterfind("{*}Ntry"):
            status = _first(entry, "{*}Sts/{*}Cd", "{*}Sts").upper()
            details = entry.findall("{*}NtryDtls/{*}TxDtls")
            if status and status != "BOOK":
                skipped["pending"] = skipped.get("pending", 0) + max(len(details), 1)
                position += max(len(details), 1)
                continue
            entry_amount = _amount(entry.find("{*}Amt"))
            entry_credit = _text(entry, "{*}CdtDbtInd") == "CRDT"
            booked = _first(entry, "{*}BookgDt/{*}Dt", "{*}BookgDt/{*}DtTm",
                            "{*}ValDt/{*}Dt", "{*}ValDt/{*}DtTm")
            entry_id = _first(entry, "{*}AcctSvcrRef", "{*}NtryRef")
            for index, tx in enumerate(details or [None]):
                position += 1
                where = f"{path.name} entry {position}"
                amount = (_amount(tx.find("{*}AmtDtls/{*}TxAmt/{*}Amt")) if tx is not None
                          else None)
                if amount is None and tx is not None:
                    amount = _amount(tx.find("{*}Amt"))
                if amount is None or (len(details) > 1 and tx is None):
                    amount = entry_amount
                if amount is None or not booked:
                    problems.append(Problem(where, "an entry without an amount or a date",
                                            "the line was skipped; check it in your bank"))
                    continue
                indicator = _text(tx, "{*}CdtDbtInd") if tx is not None else ""
                credit = indicator == "CRDT" if indicator else entry_credit
                name, account = _party(tx, credit)
                tx_id = _first(tx, "{*}Refs/{*}AcctSvcrRef") if tx is not None else ""
                bank_id = tx_id or (f"{entry_id}/{index + 1}" if entry_id and len(details) > 1
                                    else entry_id)
                try:
                    day = parse_date(booked)
                except ValueError:
                    problems.append(Problem(where, f"booking date {booked!r} is not a date",
                                            "the line was skipped; check it in your bank"))
                    continue
                value, currency = amount
                lines.append(StatementLine(
                    day, value if credit else -value, currency or account_currency,
                    _reference(tx) or _text(entry, "{*}AddtlNtryInf"), name, account,
                    bank_id or None, path.name, position, "camt"))
    return Statement(path.name, "camt", tuple(lines), tuple(problems), skipped)
