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
    return book, list(book.problems)
