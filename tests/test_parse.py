"""One row per cell-reading rule: the raw value a workbook gives, and what ispsheets reads."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ispsheets.book.parse import (
    Invalid,
    float_text,
    parse_bool,
    parse_choice,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_emails,
    parse_int,
    parse_key,
    parse_money,
    parse_percent,
    parse_text,
)
from ispsheets.book.schema import CLIENT_STATUSES, INTERVALS

D = Decimal
DEC_1 = dt.date(2026, 12, 1)
JAN_12 = dt.date(2026, 1, 12)


def _message(result: object) -> str:
    assert isinstance(result, Invalid), f"expected a problem, got {result!r}"
    return result.message


@pytest.mark.parametrize(("raw", "order", "expected"), [
    (dt.date(2026, 12, 1), "MDY", DEC_1),                     # a real Excel date
    (dt.datetime(2026, 12, 1, 14, 30), "MDY", DEC_1),         # a date with a time
    ("2026-12-01", "MDY", DEC_1),                             # ISO text
    ("2026-12-1", "DMY", DEC_1),                              # ISO text, any order
    ("2026-12-01T08:00:00", "MDY", DEC_1),
    ("12/01/2026", "MDY", DEC_1),                             # month/day/year
    ("12/01/2026", "DMY", JAN_12),                            # day/month/year
    ("01/12/2026", "DMY", DEC_1),
    ("01.12.2026", "DMY", DEC_1),
    ("12-01-2026", "MDY", DEC_1),
    ("12/1/26", "MDY", DEC_1),                                # two-digit year
    ("2026/12/01", "MDY", DEC_1),                             # year first always wins
    ("26/12/01", "YMD", DEC_1),
    ("12/01/2026 10:30 PM", "MDY", DEC_1),
    ("Dec 1, 2026", "MDY", DEC_1),
    ("1 December 2026", "DMY", DEC_1),
    ("1st Dec 2026", "MDY", DEC_1),
    ("01-Dec-2026", "MDY", DEC_1),
    (46357, "MDY", DEC_1),                                    # Excel serial for 2026-12-01
    (46357.75, "MDY", DEC_1),                                 # serial with a time of day
    ("", "MDY", None), (None, "MDY", None), ("   ", "MDY", None),
])
def test_parse_date_reads(raw: object, order: str, expected: dt.date | None) -> None:
    assert parse_date(raw, order) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("raw", "order", "words"), [
    ("13/13/2026", "MDY", "'13/13/2026' is not a real date"),
    ("2026-02-30", "MDY", "'2026-02-30' is not a real date"),
    ("12/01/2026", "YMD", None),                             # read as MDY-like: no problem
    ("next tuesday", "MDY", "'next tuesday' is not a date"),
    (7, "MDY", "'7' is a number, not a date"),               # 1900-01-06 is a typo
    (3_000_000, "MDY", "'3000000' is a number, not a date"),
    (True, "MDY", "True is not a date"),
    (dt.time(10, 30), "MDY", "10:30:00 is a time, not a date"),
    (float("inf"), "MDY", "'inf' is a number, not a date"),
])
def test_parse_date_problems(raw: object, order: str, words: str | None) -> None:
    result = parse_date(raw, order)  # type: ignore[arg-type]
    if words is None:
        assert result == DEC_1
    else:
        assert _message(result) == words


def test_parse_date_hint_follows_configured_order_dmy() -> None:
    result = parse_date("32/01/2026", "DMY")
    assert isinstance(result, Invalid)
    assert "01/12/2026 (day/month/year)" in result.fix


def test_parse_datetime_serial_46357_5_is_noon() -> None:
    assert parse_datetime(46357.5) == dt.datetime(2026, 12, 1, 12, 0)
    assert parse_datetime("2026-12-01 08:15:00") == dt.datetime(2026, 12, 1, 8, 15)


@pytest.mark.parametrize(("raw", "expected"), [
    (49.99, D("49.99")),
    (0.1 + 0.2, D("0.3")),                        # binary noise 0.30000000000000004 is gone
    (0.7999999999999999, D("0.8")),
    (1049.99, D("1049.99")),
    (100, D("100")),
    (100.0, D("100")),
    (-0.0, D("0")),
    ("49.99", D("49.99")),
    ("$1,049.99", D("1049.99")),
    ("-$5.00", D("-5.00")),
    ("$-5.00", D("-5.00")),
    ("(5.00)", D("-5.00")),                       # accounting negative
    ("5.00-", D("-5.00")),
    ("−5.00", D("-5.00")),                        # unicode minus
    ("1 049.99", D("1049.99")),
    ("1'049.99", D("1049.99")),
    ("€12", D("12")),
    ("12.50 USD", D("12.50")),
    ("USD 12.50", D("12.50")),
    (".5", D("0.5")),
    ("1,234,567.89", D("1234567.89")),
])
def test_parse_money_reads(raw: object, expected: Decimal) -> None:
    value = parse_money(raw)
    assert value == expected
    assert str(value) == str(expected)  # the digits typed, never binary noise


@pytest.mark.parametrize(("raw", "words"), [
    ("abc", "'abc' is not an amount"),
    ("49,99", "'49,99' uses a comma for decimals"),
    ("1,0499", "'1,0499' is not an amount"),          # thousands groups of three only
    ("5%", "'5%' is not an amount"),
    ("1e5", "'1e5' is not an amount"),
    ("=SUM(A1:A3)", "'=SUM(A1:A3)' is not an amount"),
    (True, "True is not an amount"),
    (dt.date(2026, 12, 1), "2026-12-01 is a date or time, not an amount"),
    (float("nan"), "'nan' is not an amount"),
    (float("inf"), "'inf' is not an amount"),
    (10**30, "'1000000000000000000000000000000' is too large for an amount"),
    ("999999999999999", "'999999999999999' is too large for an amount"),
])
def test_parse_money_problems(raw: object, words: str) -> None:
    assert _message(parse_money(raw)) == words


@pytest.mark.parametrize(("raw", "expected"), [
    (8.25, D("8.25")), ("8.25", D("8.25")), ("8.25%", D("8.25")), ("8.25 %", D("8.25")),
    (0, D("0")), ("0%", D("0")), (100, D("100")),
])
def test_parse_percent_8_25_means_8_25_percent(raw: object, expected: Decimal) -> None:
    assert parse_percent(raw) == expected


def test_parse_percent_rejects_text() -> None:
    assert _message(parse_percent("eight")) == "'eight' is not a percentage"


@pytest.mark.parametrize(("raw", "expected"), [
    (15, 15), (15.0, 15), ("15", 15), (" 15 ", 15), ("15.0", 15),
])
def test_parse_int_reads(raw: object, expected: int) -> None:
    assert parse_int(raw) == expected


@pytest.mark.parametrize(("raw", "words"), [
    (15.5, "'15.5' is not a whole number"),
    ("fifteen", "'fifteen' is not a whole number"),
    (dt.date(2026, 1, 15), "2026-01-15 is a date or time, not a whole number"),
])
def test_parse_int_problems(raw: object, words: str) -> None:
    assert _message(parse_int(raw)) == words


def test_parse_decimal_reads_speeds() -> None:
    assert parse_decimal(100) == D("100")
    assert parse_decimal("2.5") == D("2.5")


@pytest.mark.parametrize(("raw", "expected"), [
    ("yes", True), ("Yes", True), ("YES", True), ("y", True), ("true", True), ("TRUE", True),
    ("1", True), (1, True), (1.0, True), (True, True), ("x", True), ("X", True), ("✓", True),
    ("no", False), ("No", False), ("n", False), ("false", False), ("0", False), (0, False),
    (False, False), ("off", False),
    ("", None), (None, None), ("  ", None),
])
def test_parse_bool_reads(raw: object, expected: bool | None) -> None:
    assert parse_bool(raw) is expected


def test_parse_bool_maybe_is_a_problem() -> None:
    assert _message(parse_bool("maybe")) == "'maybe' is not yes or no"
    assert _message(parse_bool(2)) == "'2' is not yes or no"


@pytest.mark.parametrize(("raw", "expected"), [
    ("00123", "00123"),              # leading zeros stay
    ("C001", "C001"),
    ("  C001 ", "C001"),             # spaces around are not part of the id
    (123, "123"),
    (123.0, "123"),                  # a number cell: no ".0"
    ("", ""), (None, ""),
])
def test_parse_key_keeps_ids_as_typed(raw: object, expected: str) -> None:
    assert parse_key(raw) == expected


def test_parse_key_decimal_number_is_a_problem() -> None:
    assert _message(parse_key(1.5)) == "'1.5' is a decimal number, not an id"


@pytest.mark.parametrize(("raw", "expected"), [
    ("(555) 010-0123", "(555) 010-0123"),
    (5550100123, "5550100123"),
    (5550100123.0, "5550100123"),    # a phone typed in a number cell
    (0.1 + 0.2, "0.3"),
    (True, "yes"),
    (dt.datetime(2026, 12, 1), "2026-12-01"),
    (dt.datetime(2026, 12, 1, 9, 5), "2026-12-01 09:05:00"),
    ("  Ann Lee ", "Ann Lee"),
])
def test_parse_text(raw: object, expected: str) -> None:
    assert parse_text(raw) == expected


@pytest.mark.parametrize(("value", "shown"), [
    (0.1 + 0.2, "0.3"), (1 / 3, "0.333333333333333"), (1e20, "1e+20"), (49.99, "49.99"),
])
def test_float_text_is_the_shortest_excel_repr(value: float, shown: str) -> None:
    assert float_text(value) == shown


@pytest.mark.parametrize(("raw", "expected"), [
    ("ann@example.com", ("ann@example.com",)),
    ("ann@example.com; bob@example.org", ("ann@example.com", "bob@example.org")),
    ("ann@example.com,bob@example.org", ("ann@example.com", "bob@example.org")),
    ("ann@example.com ; ; bob@example.net;", ("ann@example.com", "bob@example.net")),
    ("first.last+billing@mail.example.co.uk", ("first.last+billing@mail.example.co.uk",)),
    ("", ()), (None, ()),
])
def test_parse_emails_split_on_semicolon_or_comma(raw: object, expected: tuple[str, ...]
                                                  ) -> None:
    assert parse_emails(raw) == expected


@pytest.mark.parametrize(("raw", "bad"), [
    ("ann.example.com", "ann.example.com"),
    ("ann@example", "ann@example"),
    ("ann@@example.com", "ann@@example.com"),
    ("ann@example.com; bob", "bob"),
    ("ann lee@example.com", "ann lee@example.com"),
    ("ann@example..com", "ann@example..com"),
])
def test_parse_emails_problems_name_the_bad_address(raw: str, bad: str) -> None:
    assert _message(parse_emails(raw)) == f"{bad!r} is not an email address"


@pytest.mark.parametrize(("raw", "choices", "expected"), [
    ("monthly", INTERVALS, "monthly"), ("Monthly", INTERVALS, "monthly"),
    (" QUARTERLY ", INTERVALS, "quarterly"), ("Semi-Annual", INTERVALS, "semiannual"),
    ("semi annual", INTERVALS, "semiannual"), ("yearly", INTERVALS, "annual"),
    ("Canceled", CLIENT_STATUSES, "cancelled"), ("", INTERVALS, None),
])
def test_parse_choice_ignores_case_spaces_and_dashes(raw: str, choices: tuple[str, ...],
                                                     expected: str | None) -> None:
    assert parse_choice(raw, choices) == expected


def test_parse_choice_weekly_is_not_an_interval() -> None:
    result = parse_choice("weekly", INTERVALS)
    assert _message(result) == "'weekly' is not one of monthly, quarterly, semiannual, annual"
    assert isinstance(result, Invalid)
    assert result.fix == "type one of: monthly, quarterly, semiannual, annual"
