"""`ispsheets check` on real .xlsx files: one defect each, reported at its exact cell."""

from __future__ import annotations

import copy
import datetime as dt
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from ispsheets.book.check import read_and_check
from ispsheets.book.records import Book
from ispsheets.config import Config, load_config
from ispsheets.problems import Problem

TODAY = dt.date(2026, 11, 25)
D = dt.date
Rows = list[list[object]]

# A small, clean workbook. Clients row 4 is blank on purpose: blank rows are fine.
BASE: dict[str, Rows] = {
    "Packages": [
        ["package_id", "name", "price", "interval", "tax_rate", "prorate", "setup_fee"],
        ["HOME100", "Home 100", 59.99, "monthly", None, "yes", None],
        ["BIZ500", "Business 500", 389.97, "quarterly", 7.25, None, 199],
    ],
    "Clients": [
        ["client_id", "name", "email", "phone", "address", "billing_day", "autopay",
         "tax_exempt", "status", "balance"],
        ["C001", "Ann Lee", "ann@example.com", "(555) 010-0101", "1 Main St", 1, "no", "no",
         "active", None],
        ["C002", "Bob Ray", "bob@example.org; accounts@example.org", None, None, 15, "no", "no",
         "active", None],
        [],
        ["C003", "Grace Church", "office@example.net", None, None, None, "no", "yes", None,
         None],
    ],
    "Services": [
        ["service_id", "client_id", "package_id", "start_date", "end_date", "quantity", "price",
         "discount_pct", "billed_through"],
        ["S001", "C001", "HOME100", D(2026, 1, 1), None, None, None, None, D(2026, 10, 31)],
        ["S002", "C002", "HOME100", D(2026, 11, 10), None, None, None, 10, None],
        ["S003", "C003", "BIZ500", D(2026, 11, 17), None, 1, None, None, None],
    ],
    "Charges": [
        ["charge_id", "client_id", "date", "description", "amount", "taxable", "invoice_number"],
        ["CHG-1", "C001", D(2026, 11, 20), "Wi-Fi router", 129.00, "yes", None],
    ],
    "Payments": [
        ["payment_id", "date", "client_id", "amount", "method", "reference", "invoice_number"],
        ["PAY-1", D(2026, 11, 20), "C001", 59.99, "check", "#1042", None],
    ],
    "Invoices": [["invoice_number", "client_id", "issue_date", "due_date", "total", "status"]],
}


def put(book: dict[str, Rows], tab: str, row: int, column: str, value: object) -> None:
    """Set the cell of `column` in sheet row `row` (row 2 = first data row)."""
    index = book[tab][0].index(column)
    cells = book[tab][row - 1]
    cells.extend([None] * (index + 1 - len(cells)))
    cells[index] = value


def write(folder: Path, book: dict[str, Rows]) -> Config:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in book.items():
        sheet = wb.create_sheet(name)
        for row in rows:
            sheet.append(row)
    wb.save(folder / "isp.xlsx")
    (folder / "config.yaml").write_text("workbook:\n  path: isp.xlsx\n", encoding="utf-8")
    config, problems = load_config(folder / "config.yaml")
    assert config is not None, problems
    return config


def check(folder: Path, edit: Callable[[dict[str, Rows]], None] | None = None
          ) -> tuple[Book, list[Problem]]:
    book = copy.deepcopy(BASE)
    if edit:
        edit(book)
    result, problems = read_and_check(write(folder, book), today=TODAY)
    assert result is not None
    return result, problems


def at(problems: list[Problem], where: str) -> Problem:
    found = [p for p in problems if p.where == where and "row skipped" not in p.message]
    assert len(found) == 1, f"{where}: {[str(p) for p in problems]}"
    return found[0]


def errors(problems: list[Problem]) -> list[str]:
    return [p.where for p in problems if p.is_error]


def skipped(where: str) -> str:
    tab, row = where.split("!")
    digits = "".join(ch for ch in row if ch.isdigit())
    return f"{tab}!{digits}:{digits}"


def test_clean_workbook_has_no_problems_at_all(tmp_path: Path) -> None:
    # C003's billing_day is blank (config default) and S003 starts mid-month: nothing to say.
    book, problems = check(tmp_path)
    assert [str(p) for p in problems] == []
    assert [c.client_id for c in book.clients] == ["C001", "C002", "C003"]
    assert book.clients[2].origin.cell("client_id") == "Clients!A5"
    assert book.clients[1].emails == ("bob@example.org", "accounts@example.org")
    assert book.services[0].billed_through == D(2026, 10, 31)


def test_headers_match_ignoring_case_spaces_underscores_and_dashes(tmp_path: Path) -> None:
    def rename(book: dict[str, Rows]) -> None:
        book["Services"][0][:4] = ["Service ID", "CLIENT-ID", "package id", "Start_Date"]
        book["clients "] = book.pop("Clients")  # tab names match the same way
    book, problems = check(tmp_path, rename)
    assert problems == []
    assert len(book.services) == 3


def test_ids_with_leading_zeros_00123_stay_text(tmp_path: Path) -> None:
    def zeros(book: dict[str, Rows]) -> None:
        put(book, "Clients", 2, "client_id", "00123")
        put(book, "Services", 2, "client_id", "00123")
        put(book, "Charges", 2, "client_id", "00123")
        put(book, "Payments", 2, "client_id", "00123")
    book, problems = check(tmp_path, zeros)
    assert problems == []
    assert book.services[0].client_id == "00123"


def test_missing_services_tab(tmp_path: Path) -> None:
    _, problems = check(tmp_path, lambda b: b.pop("Services"))
    problem = at(problems, "Services")
    assert problem.message == ("the Services tab is missing; without it invoices would bill "
                               "charges only, so ispsheets does nothing until it is back")
    assert "add a tab named Services" in problem.fix


def test_misnamed_tab_is_named_in_the_fix(tmp_path: Path) -> None:
    def rename(book: dict[str, Rows]) -> None:
        book["Service"] = book.pop("Services")
    book, problems = check(tmp_path, rename)
    problem = at(problems, "Services")
    assert problem.message.startswith("the Services tab is missing (did you mean the tab "
                                      "'Service'?)")
    assert problem.fix == "rename the tab 'Service' back to Services"
    assert book.blocking == (problem,)


def test_missing_required_column_price_at_packages_row_1(tmp_path: Path) -> None:
    def drop_price(book: dict[str, Rows]) -> None:
        for row in book["Packages"]:
            del row[2]
    book, problems = check(tmp_path, drop_price)
    problem = at(problems, "Packages!1:1")
    assert problem.message == ("missing required column price; ispsheets does nothing until "
                               "it is there")
    assert "header cell in row 1" in problem.fix
    assert book.packages == ()
    assert book.blocking == (problem,)


def test_duplicate_client_id_c001_on_rows_2_and_5(tmp_path: Path) -> None:
    book, problems = check(tmp_path, lambda b: put(b, "Clients", 5, "client_id", "C001"))
    assert at(problems, "Clients!A2").message == \
        "client_id C001 is also used on row 5; all 2 rows are skipped"
    assert at(problems, "Clients!A5").message == \
        "client_id C001 is also used on row 2; all 2 rows are skipped"
    assert at(problems, "Clients!A5").fix == "give each row its own client_id (or delete the copy)"
    assert [c.client_id for c in book.clients] == ["C002"]
    # Their services and payments point at a skipped row: explained, not called unknown.
    assert at(problems, "Services!B2").message == \
        "client_id C001 is on the Clients tab, but that row (Clients!2:2) is skipped"


def test_blank_service_id_with_other_cells_filled_is_reported_at_a3(tmp_path: Path) -> None:
    book, problems = check(tmp_path, lambda b: put(b, "Services", 3, "service_id", None))
    problem = at(problems, "Services!A3")
    assert problem.message == "service_id is blank"
    assert "type a service_id no other row uses, e.g. S001" in problem.fix
    assert errors(problems) == ["Services!A3", "Services!3:3"]
    assert [s.service_id for s in book.services] == ["S001", "S003"]


def test_one_summary_line_per_skipped_row(tmp_path: Path) -> None:
    def two_defects(book: dict[str, Rows]) -> None:
        put(book, "Services", 2, "start_date", "someday")
        put(book, "Services", 2, "quantity", "many")
    _, problems = check(tmp_path, two_defects)
    assert [str(p) for p in problems] == [
        "Services!D2: 'someday' is not a date — type a date like 2026-12-01 or 12/01/2026 "
        "(month/day/year)",
        "Services!F2: 'many' is not a number — type a number, e.g. 49.99",
        "Services!2:2: row skipped because of the problems above — fix them; the row is read "
        "again on the next run",
    ]


def test_unknown_client_c999_in_services_b2(tmp_path: Path) -> None:
    book, problems = check(tmp_path, lambda b: put(b, "Services", 2, "client_id", "C999"))
    problem = at(problems, "Services!B2")
    assert problem.message == "client_id C999 is not on the Clients tab"
    assert problem.fix == "type a client_id from the Clients tab, or add it there first"
    assert errors(problems) == ["Services!B2", "Services!2:2"]
    assert "S001" not in [s.service_id for s in book.services]


def test_client_id_in_wrong_case_suggests_the_right_one(tmp_path: Path) -> None:
    _, problems = check(tmp_path, lambda b: put(b, "Payments", 2, "client_id", "c001"))
    assert at(problems, "Payments!C2").message == \
        "client_id c001 is not on the Clients tab (did you mean C001?)"


def test_unknown_package_home50_in_services_c3(tmp_path: Path) -> None:
    _, problems = check(tmp_path, lambda b: put(b, "Services", 3, "package_id", "HOME50"))
    assert at(problems, "Services!C3").message == "package_id HOME50 is not on the Packages tab"
    assert errors(problems) == ["Services!C3", "Services!3:3"]


def test_unknown_client_in_charges_and_payments(tmp_path: Path) -> None:
    def unknown(book: dict[str, Rows]) -> None:
        put(book, "Charges", 2, "client_id", "C404")
        put(book, "Payments", 2, "client_id", "C405")
    book, problems = check(tmp_path, unknown)
    assert at(problems, "Charges!B2").message == "client_id C404 is not on the Clients tab"
    assert at(problems, "Payments!C2").message == "client_id C405 is not on the Clients tab"
    assert book.charges == () and book.payments == ()


@pytest.mark.parametrize(("raw", "message"), [
    ("31/31/2026", "'31/31/2026' is not a real date"),
    ("next monday", "'next monday' is not a date"),
    (12, "'12' is a number, not a date"),
])
def test_unparseable_start_date_at_services_d2(tmp_path: Path, raw: object, message: str
                                               ) -> None:
    _, problems = check(tmp_path, lambda b: put(b, "Services", 2, "start_date", raw))
    problem = at(problems, "Services!D2")
    assert problem.message == message
    assert problem.fix.startswith("type a date like 2026-12-01")


def test_start_date_as_text_12_01_2026_is_read_month_first(tmp_path: Path) -> None:
    book, problems = check(tmp_path, lambda b: put(b, "Services", 2, "start_date", "12/01/2026"))
    assert problems == [] or errors(problems) == []
    assert book.services[0].start_date == D(2026, 12, 1)


def test_unparseable_price_at_packages_c2(tmp_path: Path) -> None:
    _, problems = check(tmp_path, lambda b: put(b, "Packages", 2, "price", "fifty"))
    problem = at(problems, "Packages!C2")
    assert problem.message == "'fifty' is not an amount"
    assert problem.fix == "type an amount, e.g. 49.99"


def test_price_as_text_1_049_99_dollars_is_read(tmp_path: Path) -> None:
    book, problems = check(tmp_path, lambda b: put(b, "Packages", 3, "price", "$1,049.99"))
    assert problems == []
    assert str(book.package_map()["BIZ500"].price) == "1049.99"


def test_unparseable_charge_amount_at_charges_e2(tmp_path: Path) -> None:
    _, problems = check(tmp_path, lambda b: put(b, "Charges", 2, "amount", "12,5"))
    assert at(problems, "Charges!E2").message == "'12,5' uses a comma for decimals"


def test_negative_price_minus_5_at_packages_c3(tmp_path: Path) -> None:
    book, problems = check(tmp_path, lambda b: put(b, "Packages", 3, "price", -5))
    problem = at(problems, "Packages!C3")
    assert problem.message == "price -5 is negative"
    assert "0 or more" in problem.fix
    # S003 uses BIZ500, now skipped: said so at its package_id cell.
    assert at(problems, "Services!C4").message == \
        "package_id BIZ500 is on the Packages tab, but that row (Packages!3:3) is skipped"
    assert [p.package_id for p in book.packages] == ["HOME100"]


def test_negative_service_price_at_services_g2(tmp_path: Path) -> None:
    _, problems = check(tmp_path, lambda b: put(b, "Services", 2, "price", "(5.00)"))
    assert at(problems, "Services!G2").message == "price -5.00 is negative"


def test_negative_charge_amount_is_a_credit_not_a_problem(tmp_path: Path) -> None:
    book, problems = check(tmp_path, lambda b: put(b, "Charges", 2, "amount", -10))
    assert problems == []
    assert str(book.charges[0].amount) == "-10"


@pytest.mark.parametrize("day", [0, 29, 31])
def test_billing_day_outside_1_to_28_at_clients_f2(tmp_path: Path, day: int) -> None:
    _, problems = check(tmp_path, lambda b: put(b, "Clients", 2, "billing_day", day))
    problem = at(problems, "Clients!F2")
    assert problem.message == f"billing day {day} is outside 1-28"
    assert "type a day from 1 to 28" in problem.fix


def test_unknown_interval_weekly_at_packages_d2(tmp_path: Path) -> None:
    _, problems = check(tmp_path, lambda b: put(b, "Packages", 2, "interval", "weekly"))
    problem = at(problems, "Packages!D2")
    assert problem.message == "'weekly' is not one of monthly, quarterly, semiannual, annual"
    assert problem.fix == "type one of: monthly, quarterly, semiannual, annual"


def test_end_date_before_start_date_at_services_e2(tmp_path: Path) -> None:
    _, problems = check(tmp_path, lambda b: put(b, "Services", 2, "end_date", D(2025, 12, 31)))
    problem = at(problems, "Services!E2")
    assert problem.message == "end date 2025-12-31 is before the start date 2026-01-01"
    assert errors(problems) == ["Services!E2", "Services!2:2"]


def test_malformed_email_at_clients_c3(tmp_path: Path) -> None:
    _, problems = check(tmp_path, lambda b: put(b, "Clients", 3, "email",
                                                "bob@example.org; accounts.example.org"))
    problem = at(problems, "Clients!C3")
    assert problem.message == "'accounts.example.org' is not an email address"
    assert problem.fix == "type addresses like ann@example.com, separated by ; or ,"


def test_blank_email_is_only_a_warning(tmp_path: Path) -> None:
    book, problems = check(tmp_path, lambda b: put(b, "Clients", 3, "email", None))
    problem = at(problems, "Clients!C3")
    assert not problem.is_error
    assert problem.message == "no email address"
    assert len(book.clients) == 3


def test_service_of_cancelled_client_without_end_date_at_services_e2(tmp_path: Path) -> None:
    book, problems = check(tmp_path, lambda b: put(b, "Clients", 2, "status", "cancelled"))
    problem = at(problems, "Services!E2")
    assert problem.message == "client C001 is cancelled but service S001 has no end date"
    assert "type the service's last day in end_date" in problem.fix
    assert "S001" not in [s.service_id for s in book.services]


def test_cancelled_client_whose_services_ended_is_fine(tmp_path: Path) -> None:
    def left(book: dict[str, Rows]) -> None:
        put(book, "Clients", 2, "status", "Canceled")
        put(book, "Services", 2, "end_date", D(2026, 10, 31))
    _, problems = check(tmp_path, left)
    assert problems == []


def test_client_whose_services_all_ended_is_a_warning_at_clients_a2(tmp_path: Path) -> None:
    book, problems = check(tmp_path, lambda b: put(b, "Services", 2, "end_date",
                                                   D(2026, 10, 31)))
    problem = at(problems, "Clients!A2")
    assert not problem.is_error
    assert problem.message == "client C001 has no active service (the last one ended 2026-10-31)"
    assert errors(problems) == []
    assert len(book.services) == 3


def test_service_ending_in_the_future_is_still_active(tmp_path: Path) -> None:
    _, problems = check(tmp_path, lambda b: put(b, "Services", 2, "end_date", D(2026, 12, 31)))
    assert problems == []


def test_client_with_no_service_row_is_a_warning(tmp_path: Path) -> None:
    _, problems = check(tmp_path, lambda b: b["Services"].pop(3))
    problem = at(problems, "Clients!A5")
    assert not problem.is_error
    assert problem.message == "client C003 has no service"


def test_payment_naming_an_unknown_invoice_is_a_warning_at_payments_g2(tmp_path: Path) -> None:
    book, problems = check(tmp_path, lambda b: put(b, "Payments", 2, "invoice_number",
                                                   "INV-00042"))
    problem = at(problems, "Payments!G2")
    assert not problem.is_error
    assert problem.message == "invoice INV-00042 is not on the Invoices tab"
    assert len(book.payments) == 1


def test_payment_naming_another_clients_invoice_is_a_warning(tmp_path: Path) -> None:
    def other(book: dict[str, Rows]) -> None:
        book["Invoices"].append(["INV-00001", "C002", D(2026, 11, 1), D(2026, 11, 16), 59.99,
                                 "open"])
        put(book, "Payments", 2, "invoice_number", "INV-00001")
    _, problems = check(tmp_path, other)
    assert at(problems, "Payments!G2").message == \
        "invoice INV-00001 belongs to client C002, not C001"


def test_junk_in_a_tool_column_does_not_skip_the_client(tmp_path: Path) -> None:
    book, problems = check(tmp_path, lambda b: put(b, "Clients", 2, "balance", "lots"))
    problem = at(problems, "Clients!J2")
    assert not problem.is_error
    assert problem.fix.endswith("or clear the cell: ispsheets writes this column")
    assert [c.client_id for c in book.clients] == ["C001", "C002", "C003"]


def test_percent_stored_as_excel_fraction_0_0725_is_a_warning(tmp_path: Path) -> None:
    _, problems = check(tmp_path, lambda b: put(b, "Packages", 3, "tax_rate", 0.0725))
    problem = at(problems, "Packages!E3")
    assert not problem.is_error
    assert problem.message == "read as 0.0725 % (less than one percent)"
    assert "type 7.25" in problem.fix


def test_misspelled_header_biling_day_is_a_warning(tmp_path: Path) -> None:
    def typo(book: dict[str, Rows]) -> None:
        book["Clients"][0][5] = "biling day"
    _, problems = check(tmp_path, typo)
    problem = at(problems, "Clients!F1")
    assert problem.message == ("column 'biling day' is not one ispsheets knows, so it is "
                               "ignored; did you mean billing_day?")


def test_unreadable_workbook_gives_no_book_and_one_problem(tmp_path: Path) -> None:
    config = write(tmp_path, copy.deepcopy(BASE))
    (tmp_path / "isp.xlsx").write_bytes(b"this is not a zip file")
    book, problems = read_and_check(config, today=TODAY)
    assert book is None
    assert len(problems) == 1
    assert problems[0].where == "isp.xlsx"
    assert "cannot be read" in problems[0].message


def test_many_defects_at_once_are_all_reported_and_good_rows_still_load(tmp_path: Path
                                                                         ) -> None:
    def many(book: dict[str, Rows]) -> None:
        put(book, "Packages", 3, "interval", "fortnightly")          # Packages!D3
        put(book, "Clients", 3, "billing_day", 31)                   # Clients!F3
        put(book, "Services", 2, "end_date", "yesterday")            # Services!E2
        put(book, "Charges", 2, "amount", "ten dollars")             # Charges!E2
        put(book, "Payments", 2, "date", "2026-13-01")               # Payments!B2
        book["Services"].append(["S004", "C001", "HOME100", D(2026, 2, 1)])  # S004 twice:
        book["Services"].append(["S004", "C002", "HOME100", D(2026, 3, 1)])  # both skipped
        book["Services"].append(["S005", "C003", "HOME100", D(2026, 3, 1)])  # good row 7
    book, problems = check(tmp_path, many)
    cells = ["Packages!D3", "Clients!F3", "Services!E2", "Charges!E2", "Payments!B2",
             "Services!A5", "Services!A6", "Services!B6", "Services!C4", "Services!B3"]
    for where in cells:
        assert at(problems, where).is_error
    assert {p.where for p in problems if "row skipped" in p.message} == {
        skipped(w) for w in cells}
    assert len(errors(problems)) == len(cells) + len({skipped(w) for w in cells})
    assert [c.client_id for c in book.clients] == ["C001", "C003"]
    assert [p.package_id for p in book.packages] == ["HOME100"]
    assert [s.service_id for s in book.services] == ["S005"]
    # Problems come in sheet order: tab by tab, row by row.
    tabs = [p.where.split("!")[0] for p in problems]
    assert tabs == sorted(tabs, key=["Packages", "Clients", "Services", "Charges",
                                     "Payments"].index)


def test_cli_check_lists_the_cell_and_exits_1_on_errors(tmp_path: Path) -> None:
    book = copy.deepcopy(BASE)
    put(book, "Services", 2, "start_date", "someday")
    write(tmp_path, book)
    result = subprocess.run([sys.executable, "-m", "ispsheets", "check", "--config",
                             str(tmp_path / "config.yaml")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1, result.stderr
    assert "Services!D2: 'someday' is not a date" in result.stderr


def test_a_row_skipped_for_a_bad_date_also_names_its_unknown_client_at_once(tmp_path: Path) -> None:
    def two_defects(book: dict[str, Rows]) -> None:
        put(book, "Payments", 2, "date", "13/45/2026")
        put(book, "Payments", 2, "client_id", "C999")
    _, problems = check(tmp_path, two_defects)
    assert at(problems, "Payments!C2").message == "client_id C999 is not on the Clients tab"
    assert errors(problems) == ["Payments!B2", "Payments!C2", "Payments!2:2"]


def test_payment_naming_an_archived_invoice_is_no_warning(tmp_path: Path) -> None:
    """An invoice moved to archive/ is no longer on the tab, yet it exists: the journal
    (`KnownRows.archived_invoices`) knows it and whose it is."""
    from ispsheets.book.known import KnownRows
    from ispsheets.book.validate import check_payment_invoices

    book, _ = check(tmp_path, lambda b: put(b, "Payments", 2, "invoice_number", "INV-00042"))
    client = book.payments[0].client_id
    assert check_payment_invoices(book, D(2026, 12, 1), archived=KnownRows(
        archived_invoices={"INV-00042": client}).archived_invoices) == []
    [other] = check_payment_invoices(book, D(2026, 12, 1), archived={"INV-00042": "C999"})
    assert other.message == f"invoice INV-00042 belongs to client C999, not {client}"
