"""A statement file of any supported format → `Statement`: the format is told by the file's
content (its name only breaks a tie), so a bank's odd file extension does not matter."""

from __future__ import annotations

from pathlib import Path

from ispsheets.bank.statement import Statement, StatementError
from ispsheets.config import Config
from ispsheets.problems import Problem

NAMES = {"camt": "CAMT.053", "mt940": "MT940", "ofx": "OFX/QFX", "csv": "CSV"}


def detect_format(data: bytes, name: str = "") -> str | None:
    """`camt`, `mt940`, `ofx`, `csv` or None (not a statement this tool reads)."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if b"BkToCstmrStmt" in data[:65536] or b"camt.053" in head:
        return "camt"
    if head.startswith(b"OFXHEADER") or b"<OFX>" in head.upper():
        return "ofx"
    if b":20:" in head and (b":61:" in data or b":25:" in head):
        return "mt940"
    if head.startswith(b"<"):
        return None
    if name.lower().endswith((".csv", ".txt", ".tsv")) or b";" in head or b"," in head:
        return "csv"
    return None


def read_statement(path: Path, config: Config, data: bytes | None = None) -> Statement:
    """Parse one file; a file that cannot be read raises `StatementError` with its problem."""
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StatementError(Problem(str(path), f"cannot be read ({exc.strerror})",
                                         "check the file name and its permissions")) from exc
    kind = detect_format(data, path.name)
    # each parser imported when its format is met (ofxtools alone takes a second to import)
    if kind == "camt":
        from ispsheets.bank.camt import read_camt

        return read_camt(path, data)
    if kind == "mt940":
        from ispsheets.bank.swift import read_mt940

        return read_mt940(path, data)
    if kind == "ofx":
        from ispsheets.bank.ofx import read_ofx

        return read_ofx(path, data)
    if kind == "csv":
        from ispsheets.bank.csv_file import read_csv

        return read_csv(path, data, config.bank.csv, config.currency)
    raise StatementError(Problem(path.name, "not a bank statement this tool reads",
                                 "export CAMT.053 (XML), MT940, OFX/QFX or CSV from your bank"))
