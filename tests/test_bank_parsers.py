"""Each statement format read into the same `StatementLine`s, with the quirks real banks have."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from ispsheets.bank.read import detect_format, read_statement
from ispsheets.bank.statement import StatementError, parse_amount, parse_date
from ispsheets.config import Config

D = Decimal
DATA = Path(__file__).parent / "data" / "bank"
EU_CSV = {"date": "Buchungstag", "amount": "Betrag", "reference": "Verwendungszweck",
          "name": "Auftraggeber/Empfänger", "account": "IBAN", "currency": "Währung",
          "decimal": ",", "date_order": "day_first"}


def _config(**csv: str) -> Config:
    return Config.model_validate({"workbook": {"path": "isp.xlsx"}, "currency": "EUR",
                                  "bank": {"csv": csv or EU_CSV}})


def _read(name: str, config: Config | None = None):
    return read_statement(DATA / name, config or _config())


def _short(statement) -> list[tuple[object, ...]]:
    return [(x.booking_date.isoformat(), str(x.amount), x.reference, x.name, x.account)
            for x in statement.lines]


DECEMBER_A = [
    ("2026-12-02", "49.99", "Invoice inv 1 thank you", "Alice Anders", "DE02120300000000202051"),
    ("2026-12-03", "49.99", "Internet BOB december", "Robert Brown", "DE12500105170648489890"),
    ("2026-12-03", "59.00", "gina", "Gina Green", "DE21301204000000015228"),
    ("2026-12-04", "49.99", "Kd 7731 Dezember", "Carol Clark", "DE27100777770209299700"),
    ("2026-12-05", "49.99", "INV00004", "D. Dorsey", "DE44500105175407324931"),
    ("2026-12-06", "79.00", "monthly internet", "Erin Evans", "DE75512108001245126199"),
    ("2026-12-07", "59.00", "payment", "F. Fox", "DE91100000000123456789"),
    ("2026-12-08", "-12.50", "Kontof", "", ""),
    ("2026-12-10", "1234.56", "Sammelzahlung 2026", "Big Payer GmbH", "DE60700202700001234567"),
]


def _same_as_december_a(statement) -> None:
    got = _short(statement)
    assert len(got) == len(DECEMBER_A)
    for line, wanted in zip(got, DECEMBER_A, strict=True):
        assert line[:2] == wanted[:2] and line[3:] == wanted[3:]
        assert line[2].startswith(wanted[2])


def test_camt053_batch_booking_gives_one_line_per_transaction_and_skips_pending() -> None:
    statement = _read("december-a.camt053.xml")
    assert statement.format == "camt"
    _same_as_december_a(statement)
    batch = [x for x in statement.lines if x.booking_date == dt.date(2026, 12, 3)]
    assert [x.bank_id for x in batch] == ["2026120300004-1", "2026120300004-2"]
    assert statement.skipped == {"pending": 1}
    assert all(x.currency == "EUR" for x in statement.lines)


def test_camt053_joins_split_remittance_text_and_reads_the_structured_reference() -> None:
    lines = _read("december-a.camt053.xml").lines
    assert lines[3].reference == "Kd 7731 Dezember"  # two <Ustrd>
    assert lines[4].reference == "INV00004"  # <Strd><CdtrRefInf><Ref>


def test_european_csv_with_decimal_comma_day_first_dates_and_a_title_block() -> None:
    statement = _read("december-a.csv")
    assert statement.format == "csv" and statement.problems == ()
    _same_as_december_a(statement)
    assert statement.lines[-1].amount == D("1234.56")  # written 1.234,56
    assert all(x.bank_id is None for x in statement.lines)


def test_mt940_structured_and_multi_line_free_text_86() -> None:
    statement = _read("december-b.mt940")
    assert statement.format == "mt940"
    got = _short(statement)
    assert got[0] == ("2026-12-07", "59.00", "payment", "F. Fox", "DE91100000000123456789")
    assert got[1][1] == "-12.50"
    assert got[3] == ("2026-12-16", "49.99", "Danke", "D. Dorsey", "DE44500105175407324931")
    assert got[4] == ("2026-12-18", "20.00", "Router", "Carol Clark", "")
    # free text over three lines, the IBAN of ?31 wrapped in the middle for the others
    assert got[5][2] == "Teilzahlung Heidi Hall Rechnung INV-00008 danke Konto 0099887766"
    assert [x.bank_id for x in statement.lines][:2] == ["B-0001", "B-0002"]


def test_ofx_with_sgml_headers_thousands_separator_and_local_posting_day() -> None:
    statement = _read("december.ofx")
    assert statement.format == "ofx"
    got = _short(statement)
    assert got[0] == ("2026-12-02", "49.99", "Invoice inv 1 thank you", "ALICE ANDERS", "")
    assert got[1][1] == "1234.56"  # <TRNAMT>+1,234.56
    assert got[2][1] == "-12.50"
    assert got[3][4] == "000123456789"
    assert statement.lines[0].bank_id == "90000012026120201"
    assert statement.lines[0].currency == "USD"


@pytest.mark.parametrize(("text", "decimal", "value"), [
    ("1.234,56", ",", "1234.56"), ("-12,50", ",", "-12.50"), ("12,50-", ",", "-12.50"),
    ("1,234.56", ".", "1234.56"), ("(5.00)", ".", "-5.00"), ("€ 49,99", ",", "49.99"),
    ("49.99 CR", ".", "49.99"), ("49.99 DR", ".", "-49.99"), ("1'234.50", ".", "1234.50"),
])
def test_amounts_as_banks_write_them(text: str, decimal: str, value: str) -> None:
    assert parse_amount(text, decimal) == D(value)


@pytest.mark.parametrize("text", ["", "abc", "1.2.3,4,5", "12,34,56"])
def test_not_an_amount(text: str) -> None:
    with pytest.raises(ValueError):
        parse_amount(text, ",")


def test_dates_in_each_order() -> None:
    assert parse_date("31.12.2026", "day_first") == dt.date(2026, 12, 31)
    assert parse_date("12/31/2026", "month_first") == dt.date(2026, 12, 31)
    assert parse_date("2026-12-31", "day_first") == dt.date(2026, 12, 31)
    assert parse_date("20261231") == dt.date(2026, 12, 31)
    assert parse_date("31.12.26", "day_first") == dt.date(2026, 12, 31)
    with pytest.raises(ValueError):
        parse_date("31.13.2026", "day_first")


def test_csv_naming_a_missing_column_says_which_and_what_the_header_has(tmp_path) -> None:
    config = _config(**{**EU_CSV, "reference": "Zweck"})
    with pytest.raises(StatementError) as caught:
        read_statement(DATA / "december-a.csv", config)
    assert "Zweck" in str(caught.value) and "Verwendungszweck" in str(caught.value)


def test_a_csv_row_with_a_bad_amount_is_a_problem_and_the_rest_is_read(tmp_path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("date,amount,reference\n2026-12-01,12.00,a\n2026-12-02,twelve,b\n"
                    "2026-12-03,3.00,c\n")
    statement = read_statement(path, _config(date="date", amount="amount",
                                             reference="reference"))
    assert [str(x.amount) for x in statement.lines] == ["12.00", "3.00"]
    assert [p.where for p in statement.problems] == ["x.csv row 3"]


def test_formats_are_told_by_content_not_name() -> None:
    assert detect_format((DATA / "december-a.camt053.xml").read_bytes()) == "camt"
    assert detect_format((DATA / "december-b.mt940").read_bytes()) == "mt940"
    assert detect_format((DATA / "december.ofx").read_bytes()) == "ofx"
    assert detect_format((DATA / "december-a.csv").read_bytes(), "x.csv") == "csv"
    assert detect_format(b"<html><body>login</body></html>") is None


def test_a_damaged_file_is_a_problem_not_a_traceback(tmp_path) -> None:
    for name, text in (("a.xml", "<?xml version='1.0'?><Document><BkToCstmrStmt><Stmt>"),
                       ("b.ofx", "OFXHEADER:100\n\n<OFX><BANKMSGSRSV1>"),
                       ("c.html", "<html></html>")):
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(StatementError) as caught:
            read_statement(path, _config())
        assert caught.value.problem.where == name


def test_csv_with_separate_credit_and_debit_columns_as_us_banks_export(tmp_path) -> None:
    path = tmp_path / "checking.csv"
    path.write_text('"Posting Date","Description","Credit","Debit","Check or Slip #"\n'
                    '"12/02/2026","ZELLE FROM ALICE ANDERS INV 1","49.99","",""\n'
                    '"12/08/2026","MONTHLY SERVICE FEE","","12.50",""\n'
                    '"12/10/2026","DEPOSIT","1,234.56","",""\n')
    config = _config(date="Posting Date", credit="Credit", debit="Debit",
                     reference="Description", date_order="month_first")
    statement = read_statement(path, config)
    assert [(x.booking_date.isoformat(), str(x.amount)) for x in statement.lines] == [
        ("2026-12-02", "49.99"), ("2026-12-08", "-12.50"), ("2026-12-10", "1234.56")]
    assert statement.problems == ()
