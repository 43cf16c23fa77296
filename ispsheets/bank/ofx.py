"""OFX and QFX statements (OFX 1.x SGML with its `OFXHEADER:100` header block, or OFX 2 XML),
read by `ofxtools`.

Banks write amounts ofxtools refuses (`+1,234.56`, `1.234,56`); those are normalised first.
The reference is the memo, else the name; `FITID` is the transaction id.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

from ofxtools.Parser import OFXTree

from ispsheets.bank.statement import (
    Statement,
    StatementError,
    StatementLine,
    account_text,
    clean,
    parse_amount,
)
from ispsheets.problems import Problem

_AMOUNT = re.compile(rb"(<TRNAMT>)\s*([^<\r\n]+)")
_POSTED = re.compile(rb"<DTPOSTED>\s*(\d{4})(\d{2})(\d{2})")


def _normalise_amount(match: re.Match[bytes]) -> bytes:
    text = match.group(2).decode("ascii", "replace").strip()
    decimal = "," if re.search(r",\d{1,2}$", text) else "."
    try:
        return match.group(1) + str(parse_amount(text, decimal)).encode()
    except ValueError:
        return match.group(0)


def _account(transaction: Any) -> str:
    for attribute in ("bankacctto", "ccacctto"):
        account = getattr(transaction, attribute, None)
        if account is not None and getattr(account, "acctid", None):
            return account_text(account.acctid)
    return ""


def read_ofx(path: Path, data: bytes) -> Statement:
    parser = OFXTree()
    try:
        parser.parse(io.BytesIO(_AMOUNT.sub(_normalise_amount, data)))
        ofx = parser.convert()
    except Exception as exc:  # ofxtools raises its own kinds and ValueError/KeyError
        raise StatementError(Problem(path.name, f"not a readable OFX file ({exc})",
                                     "download the statement again as OFX, QFX or CSV")) from exc
    lines: list[StatementLine] = []
    # the day as the bank wrote it: ofxtools turns DTPOSTED into UTC, which moves an
    # evening booking in America to the next day
    posted = [dt.date(int(y), int(m), int(d)) for y, m, d in _POSTED.findall(data)]
    position = 0
    for statement in ofx.statements:
        currency = str(getattr(statement, "curdef", "") or "")
        for transaction in statement.transactions:
            position += 1
            name = clean(getattr(transaction, "name", None) or getattr(
                getattr(transaction, "payee", None), "name", None) or "")
            memo = clean(getattr(transaction, "memo", None) or "")
            currency_of = getattr(getattr(transaction, "currency", None), "cursym", None)
            day = (posted[position - 1] if len(posted) >= position
                   else transaction.dtposted.date())
            lines.append(StatementLine(
                day, transaction.trnamt, str(currency_of or currency),
                memo or name, name, _account(transaction), transaction.fitid or None,
                path.name, position, "ofx"))
    return Statement(path.name, "ofx", tuple(lines))
