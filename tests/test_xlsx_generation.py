"""The write generation in the workbook's document properties: stamped, read, and the owner's
own custom properties kept."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import xlsxwriter
from python_calamine import CalamineWorkbook

from ispsheets.book.changes import AppendRow, ChangeSet
from ispsheets.book.xlsx_backend import apply_changes
from ispsheets.book.xlsx_generation import read_generation

NOW = dt.datetime(2026, 12, 1, 6, 0)


def _book(path: Path, own_property: bool) -> Path:
    workbook = xlsxwriter.Workbook(str(path))
    if own_property:
        workbook.set_custom_property("Region", "North")
    sheet = workbook.add_worksheet("Activity")
    sheet.write_row(0, 0, ["timestamp", "action", "client_id", "invoice_number", "detail"])
    workbook.close()
    return path


def _write(path: Path, generation: int | None, detail: str = "x") -> None:
    apply_changes(path, ChangeSet(appends=(AppendRow("Activity", {"action": "note",
                                                                  "detail": detail}),)),
                  backup_dir=path.parent / "backups", keep_backups=0,
                  expected_fingerprint=None, now=NOW, generation=generation)


def test_a_workbook_never_written_has_no_generation(tmp_path):
    assert read_generation(_book(tmp_path / "a.xlsx", own_property=False)) is None


def test_each_write_stamps_its_generation_and_the_file_still_opens(tmp_path):
    path = _book(tmp_path / "a.xlsx", own_property=False)
    _write(path, 7)
    assert read_generation(path) == 7
    _write(path, 8)
    assert read_generation(path) == 8
    with zipfile.ZipFile(path) as package:
        assert package.testzip() is None
        names = package.namelist()
        assert names.count("docProps/custom.xml") == 1
        assert b"custom-properties+xml" in package.read("[Content_Types].xml")
    props = openpyxl.load_workbook(path).custom_doc_props
    assert props["ispsheets_write"].value == 8
    assert len(CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Activity")
               .to_python()) == 3


def test_the_owners_own_custom_properties_are_kept(tmp_path):
    path = _book(tmp_path / "a.xlsx", own_property=True)
    _write(path, 3)
    props = openpyxl.load_workbook(path).custom_doc_props
    assert props["Region"].value == "North" and props["ispsheets_write"].value == 3
    assert read_generation(path) == 3


def test_an_owners_edit_does_not_change_the_generation(tmp_path):
    path = _book(tmp_path / "a.xlsx", own_property=False)
    _write(path, 5)
    _write(path, None, "typed by the owner")
    assert read_generation(path) == 5


def test_the_generation_survives_the_owner_saving_the_file_in_another_program(tmp_path):
    path = _book(tmp_path / "a.xlsx", own_property=False)
    _write(path, 12)
    workbook = openpyxl.load_workbook(path)
    workbook["Activity"]["A5"] = "owner's note"
    workbook.save(path)
    assert read_generation(path) == 12


def test_unreadable_owner_properties_are_left_alone_and_the_write_still_happens(tmp_path):
    path = _book(tmp_path / "a.xlsx", own_property=True)
    with zipfile.ZipFile(path) as source:
        members = {name: source.read(name) for name in source.namelist()}
    members["docProps/custom.xml"] = b"<Properties><broken"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, content in members.items():
            target.writestr(name, content)

    _write(path, 4, "still written")

    assert read_generation(path) is None
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Activity").to_python()
    assert rows[-1][4] == "still written"
    with zipfile.ZipFile(path) as package:
        assert package.read("docProps/custom.xml") == b"<Properties><broken"
