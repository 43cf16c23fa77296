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
