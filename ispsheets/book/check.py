"""`ispsheets check`: read the workbook config.yaml names and list every problem at once."""

from __future__ import annotations

import datetime as dt

from ispsheets.book.backend import WorkbookReadError, open_backend
from ispsheets.book.load import load_book
from ispsheets.book.records import Book
from ispsheets.config import Config
from ispsheets.problems import Problem


def read_and_check(config: Config, today: dt.date | None = None
                   ) -> tuple[Book | None, list[Problem]]:
    """The book and every problem in it, in sheet order; `None` when it cannot be read.

    `today` (default: today in the configured timezone) decides which services have ended.
    """
    try:
        raw = open_backend(config).read()
    except WorkbookReadError as exc:
        return None, [exc.problem]
    book = load_book(raw, config.workbook.date_order,
                     today=today or dt.datetime.now(config.tz).date())
    return book, [*check_settings(config), *book.problems]


def check_settings(config: Config) -> list[Problem]:
    """What config.yaml points at: own email templates render, provisioning placeholders exist,
    the logo and invoice font are there."""
    from ispsheets.collections.provisioning import CLIENT_FIELDS, unknown_fields
    from ispsheets.delivery.messages import KINDS, REMINDER_KINDS, check_templates

    problems: list[Problem] = []
    folder = config.path(config.email.templates_dir) if config.email.templates_dir else None
    if folder is not None:
        if not folder.is_dir():
            problems.append(Problem("config.yaml: email.templates_dir",
                                    f"{folder} is not a folder",
                                    "create it, or leave the setting blank for the built-in "
                                    "templates"))
        else:
            problems += check_templates(folder)
    own = folder if folder is not None and folder.is_dir() else None
    for number, stage in enumerate(config.collections.reminders):
        if stage.template in KINDS:
            continue
        for problem in check_templates(own, [stage.template]):
            problems.append(Problem(f"config.yaml: collections.reminders.{number}.template",
                                    problem.message, f"use a built-in template "
                                    f"({', '.join(REMINDER_KINDS)}) or add {stage.template}.txt "
                                    "to email.templates_dir"))
    provisioning = config.collections.provisioning
    for name in ("suspend_command", "restore_command"):
        unknown = unknown_fields(getattr(provisioning, name))
        if unknown:
            problems.append(Problem(
                f"config.yaml: collections.provisioning.{name}",
                f"unknown placeholder {', '.join('{' + u + '}' for u in unknown)}",
                f"use only {', '.join('{' + f + '}' for f in (*CLIENT_FIELDS, 'service_ids'))}"))
    for setting, value in (("company.logo", config.company.logo),
                           ("invoicing.pdf_font", config.invoicing.pdf_font)):
        if value and not config.path(value).is_file():
            problems.append(Problem(f"config.yaml: {setting}", f"{value} not found",
                                    "check the file name (relative to config.yaml)"))
    from ispsheets.payments.stripe.checks import check_stripe

    return problems + check_stripe(config)
