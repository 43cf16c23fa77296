"""`ispsheets init`: a folder with the example config.yaml and a starter (or demo) workbook."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path

from ispsheets.config import CONFIG_NAME

WORKBOOK_NAME = "isp.xlsx"  # the name the example config.yaml's workbook.path points at
DEMO_SEED = 2026


class InitError(Exception):
    """Nothing was written; the message says why and what to do."""


def example_config() -> str:
    """The documented example config.yaml shipped with the package."""
    return resources.files("ispsheets").joinpath("templates/config.yaml").read_text("utf-8")


def init_project(folder: Path, demo: int | None, today: dt.date) -> list[Path]:
    """Write `folder/config.yaml` and `folder/isp.xlsx` (with `demo` sample clients, if set).

    Refuses to overwrite either file, checking both before writing anything.
    """
    from ispsheets.book.template import build_template

    if folder.exists() and not folder.is_dir():
        raise InitError(f"{folder} is a file, not a folder — choose another folder name")
    config, workbook = folder / CONFIG_NAME, folder / WORKBOOK_NAME
    for path in (config, workbook):
        if path.exists():
            raise InitError(f"{path} already exists, nothing was written — move it away "
                            "or choose another folder")
    if demo is not None and demo < 1:
        raise InitError(f"--demo {demo}: give the number of sample clients, 1 or more")
    rows = None
    if demo:
        from ispsheets.demo import generate

        rows = generate(demo, today, DEMO_SEED).rows()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        build_template(workbook, demo_rows=rows)
        config.write_text(example_config(), encoding="utf-8")
    except OSError as exc:
        for path in (config, workbook):
            path.unlink(missing_ok=True)  # all or nothing: a rerun must not be refused
        raise InitError(f"cannot write into {folder}: {exc.strerror or exc} — check the folder "
                        "name and its permissions") from exc
    return [config, workbook]


def google_config(key: str, service_account: str) -> str:
    """The example config.yaml, its workbook set to the Google Sheet instead of isp.xlsx."""
    lines = []
    for line in example_config().splitlines(keepends=True):
        stripped = line.lstrip()
        if stripped.startswith("path: isp.xlsx"):
            line = line.replace("path: isp.xlsx", 'path: ""      ', 1)
        elif stripped.startswith('google_sheet: ""'):
            line = line.replace('google_sheet: ""', f'google_sheet: "{key}"', 1)
        elif stripped.startswith('service_account: ""') and service_account:
            line = line.replace('service_account: ""', f'service_account: "{service_account}"',
                                1)
        lines.append(line)
    return "".join(lines)


def init_google_sheet(folder: Path, sheet: str, service_account: str, demo: int | None,
                      today: dt.date) -> tuple[list[Path], str]:
    """Fill the empty, shared Google Sheet `sheet` (key or URL) with the starter workbook and
    write `folder/config.yaml` pointing at it; (written files, the sheet's title).

    Refuses a sheet that holds any value, and an existing config.yaml, before writing."""
    from ispsheets.book.gsheets_api import (
        SheetsApi,
        SheetsFailure,
        SheetsSetupError,
        service_account_file,
        sheet_key,
    )
    from ispsheets.book.gsheets_backend import GoogleSheetBackend
    from ispsheets.book.gsheets_template import SheetNotEmpty, fill_sheet

    if folder.exists() and not folder.is_dir():
        raise InitError(f"{folder} is a file, not a folder — choose another folder name")
    config = folder / CONFIG_NAME
    if config.exists():
        raise InitError(f"{config} already exists, nothing was written — move it away or "
                        "choose another folder")
    key = sheet_key(sheet)
    if key is None:
        raise InitError(f"--google-sheet {sheet!r} is not a Google Sheet key or URL — paste "
                        "the sheet's address from the browser")
    account = Path(service_account).expanduser() if service_account else None
    credentials = service_account_file(account)
    rows = None
    if demo:
        from ispsheets.demo import generate

        rows = generate(demo, today, DEMO_SEED).rows()
    where = "--google-sheet"
    try:
        api = SheetsApi.connect(key, credentials, "--service-account")
        title = fill_sheet(api, rows)
    except SheetsSetupError as exc:
        raise InitError(f"{exc.where}: {exc.message} — {exc.fix}") from exc
    except SheetNotEmpty as exc:
        raise InitError(f"{where}: the sheet already has data (tab {exc.where}), nothing was "
                        "written — init fills an empty sheet only: create a blank one at "
                        "sheets.new, share it with the service account and run init again; "
                        "for a sheet that already holds your business, write config.yaml by "
                        "hand and run `ispsheets check`") from exc
    except SheetsFailure as exc:
        message, fix = GoogleSheetBackend(key, credentials, folder, 0).failure(exc, False)
        raise InitError(f"{where}: {message} — {fix}") from exc
    shown = str(account.resolve()) if account else ""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        config.write_text(google_config(key, shown), encoding="utf-8")
    except OSError as exc:
        raise InitError(f"the sheet is ready, but {config} cannot be written: "
                        f"{exc.strerror or exc} — set workbook.google_sheet: {key} in your "
                        "config.yaml") from exc
    return [config], title
