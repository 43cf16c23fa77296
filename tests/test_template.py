"""The starter workbook follows the schema, and the committed copy has not drifted from it."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from ispsheets.book.load import load_book
from ispsheets.book.reader import read_xlsx
from ispsheets.book.schema import TABS, TABS_BY_NAME, Kind, Who, column_letter
from ispsheets.book.template import INSTRUCTIONS, TEMPLATE_PATH, build_template
from ispsheets.demo import generate

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / TEMPLATE_PATH
BRAND, GREY = "FF1F4E79", "FF7F7F7F"


def summary(path: Path) -> dict[str, Any]:
    """Everything an owner sees of the template: tabs, headers, notes, formats, dropdowns."""
    wb = openpyxl.load_workbook(path)
    result: dict[str, Any] = {
        "sheets": wb.sheetnames,
        "names": {name: d.attr_text for name, d in wb.defined_names.items()},
    }
    for ws in wb.worksheets:
        tab_color = ws.sheet_properties.tabColor
        result[ws.title] = {
            "freeze": ws.freeze_panes,
            "tab_color": tab_color.rgb if tab_color else None,
            "values": [[c.value for c in row] for row in ws.iter_rows()],
            "header": [(c.fill.fgColor.rgb, c.font.b, c.font.color.rgb if c.font.color else None,
                        c.comment.text if c.comment else None) for c in ws[1]],
            "columns": {column_letter(i - 1): (round(d.width), d.number_format,
                                               d.fill.fgColor.rgb)
                        for d in ws.column_dimensions.values()
                        for i in range(d.min, d.max + 1)},  # a run of alike columns is one
            "validations": sorted(
                (str(v.sqref), v.type, v.formula1, v.formula2, v.errorStyle, v.error)
                for v in ws.data_validations.dataValidation),
        }
    return result


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return summary(build_template(tmp_path_factory.mktemp("t") / "isp.xlsx"))


def test_committed_template_matches_the_schema_regenerate_if_this_fails(
        fresh: dict[str, Any]) -> None:
    # Fix: `python -m ispsheets.book.template` rewrites sheet_templates/isp-template.xlsx.
    assert summary(COMMITTED) == fresh


def test_tabs_in_contract_order_after_instructions(fresh: dict[str, Any]) -> None:
    assert fresh["sheets"] == [INSTRUCTIONS, *(t.name for t in TABS)]


@pytest.mark.parametrize("tab", TABS, ids=lambda t: t.name)
def test_headers_are_the_schema_columns_styled_by_who_writes_them(fresh: dict[str, Any],
                                                                 tab: Any) -> None:
    sheet = fresh[tab.name]
    assert sheet["values"][0] == [c.name for c in tab.columns]
    assert sheet["freeze"] == "A2"
    for column, (fill, bold, font, note) in zip(tab.columns, sheet["header"], strict=True):
        assert bold and font == "FFFFFFFF"
        if column.who is Who.TOOL:
            assert fill == GREY, column.name
            assert note and "Written by ispsheets" in note
        else:
            assert fill == BRAND, column.name
    assert sheet["tab_color"] == (GREY if tab.tool_tab else None)


@pytest.mark.parametrize(("kind", "number_format"), [
    (Kind.MONEY, "#,##0.00"), (Kind.DATE, "yyyy-mm-dd"), (Kind.PERCENT, '0.00"%"'),
    (Kind.KEY, "@"), (Kind.INT, "0"), (Kind.DATETIME, "yyyy-mm-dd hh:mm"),
])
def test_number_formats_by_column_kind(fresh: dict[str, Any], kind: Kind, number_format: str
                                       ) -> None:
    seen = 0
    for tab in TABS:
        for index, column in enumerate(tab.columns):
            if column.kind is kind:
                width, shown, _ = fresh[tab.name]["columns"][column_letter(index)]
                assert shown == number_format, f"{tab.name}.{column.name}"
                assert width == column.width + 1  # Excel's padding
                seen += 1
    assert seen


def test_tool_columns_on_owner_tabs_have_grey_cells(fresh: dict[str, Any]) -> None:
    assert fresh["Clients"]["columns"]["J"][2] == "FFF2F2F2"  # balance
    assert fresh["Clients"]["columns"]["A"][2] == "00000000"  # client_id


def _validation(fresh: dict[str, Any], tab: str, column: str) -> tuple[Any, ...]:
    letter = column_letter([c.name for c in TABS_BY_NAME[tab].columns].index(column))
    found = [v for v in fresh[tab]["validations"] if v[0] == f"{letter}2:{letter}1048576"]
    assert len(found) == 1, f"{tab}.{column}: {fresh[tab]['validations']}"
    return found[0]


@pytest.mark.parametrize(("tab", "column", "source"), [
    ("Packages", "interval", '"monthly,quarterly,semiannual,annual"'),
    ("Packages", "prorate", '"yes,no"'),
    ("Clients", "autopay", '"yes,no"'),
    ("Clients", "tax_exempt", '"yes,no"'),
    ("Clients", "status", '"active,suspended,cancelled"'),
    ("Charges", "taxable", '"yes,no"'),
    ("Invoices", "status", '"open,partial,paid,void,held"'),
    ("Services", "package_id", "package_ids"),
    ("Services", "client_id", "client_ids"),
    ("Charges", "client_id", "client_ids"),
    ("Payments", "client_id", "client_ids"),
])
def test_dropdowns(fresh: dict[str, Any], tab: str, column: str, source: str) -> None:
    _, kind, formula, _, style, _ = _validation(fresh, tab, column)
    assert (kind, formula, style) == ("list", source, "warning")


def test_id_lists_follow_the_key_columns_as_they_grow(fresh: dict[str, Any]) -> None:
    assert fresh["names"] == {
        "client_ids": "OFFSET('Clients'!$A$2,0,0,MAX(1,COUNTA('Clients'!$A:$A)-1),1)",
        "package_ids": "OFFSET('Packages'!$A$2,0,0,MAX(1,COUNTA('Packages'!$A:$A)-1),1)"}


def test_billing_day_accepts_whole_numbers_1_to_28(fresh: dict[str, Any]) -> None:
    _, kind, low, high, _, _ = _validation(fresh, "Clients", "billing_day")
    assert (kind, low, high) == ("whole", "1", "28")


def test_instructions_explain_tabs_columns_the_daily_run_and_voiding(fresh: dict[str, Any]
                                                                     ) -> None:
    text = " ".join(str(row[0]).strip() for row in fresh[INSTRUCTIONS]["values"] if row[0])
    for tab in TABS:
        assert f"{tab.name}: " in text
    for words in ("Blue headers are yours", "Grey headers are written by ispsheets",
                  "ispsheets run", "set its status to void", "ispsheets check"):
        assert words in text


def test_empty_template_reads_with_no_problems() -> None:
    book = load_book(read_xlsx(COMMITTED), today=dt.date(2026, 11, 25))
    assert book.problems == ()
    assert set(book.layouts) == {t.name for t in TABS}


def test_demo_rows_keep_types_dates_money_and_text_ids(tmp_path: Path) -> None:
    today = dt.date(2026, 11, 25)
    data = generate(25, today, seed=7)
    path = build_template(tmp_path / "demo.xlsx", demo_rows=data.rows())
    book = load_book(read_xlsx(path), today=today)
    assert [p for p in book.problems if p.is_error] == []
    assert len(book.clients) == 25
    assert book.clients[0].client_id == "C0001"
    assert str(book.package_map()["HOME100"].price) == "59.99"
    ws = openpyxl.load_workbook(path)["Services"]
    assert ws["D2"].is_date and ws["D2"].number_format == "yyyy-mm-dd"


def test_docs_describe_every_tab_and_column() -> None:
    text = (ROOT / "docs" / "workbook.md").read_text(encoding="utf-8")
    for tab in TABS:
        assert f"## {tab.name}" in text, tab.name
        for column in tab.columns:
            assert f"`{column.name}`" in text, f"{tab.name}.{column.name}"


def test_instructions_promise_nothing_ispsheets_does_not_do_yet(fresh: dict[str, Any]) -> None:
    text = " ".join(str(row[0]).strip() for row in fresh[INSTRUCTIONS]["values"] if row[0])
    assert "adds card" not in text and "charge the card" not in text
    assert "With Stripe set up (see the README), card payments and autopay are added" in text


def _words(pdf: Path) -> tuple[float, list[tuple[float, float, float, str]]]:
    """The first page's width and its words (x end, top, bottom, text), by pdftotext."""
    html = subprocess.run(["pdftotext", "-bbox", "-f", "1", "-l", "1", str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout
    width = float(re.search(r'<page width="([\d.]+)"', html).group(1))  # type: ignore[union-attr]
    words = [(float(x), float(top), float(bottom), word) for top, x, bottom, word in re.findall(
        r'<word xMin="[\d.]+" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>',
        html)]
    return width, words


@pytest.mark.skipif(not (shutil.which("soffice") and shutil.which("pdftotext")),
                    reason="needs LibreOffice and poppler's pdftotext")
def test_libreoffice_prints_the_instructions_on_the_page_with_no_line_over_another(
        tmp_path: Path) -> None:
    """Printed by LibreOffice, the Instructions used to run past the page's right edge and
    wrapped lines were drawn over the next row."""
    subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path),
                    str(COMMITTED)], capture_output=True, timeout=180, check=True)
    width, words = _words(tmp_path / "isp-template.pdf")
    assert words and words[0][3] == "Your"  # the Instructions tab is the first page
    assert max(x for x, _, _, _ in words) < width - 20
    lines = sorted({(round(top, 1), round(bottom, 1)) for _, top, bottom, _ in words})
    for (top, bottom), (next_top, _) in itertools.pairwise(lines):
        assert next_top >= bottom - 1, f"a line at {next_top} overlaps the one at {top}"
