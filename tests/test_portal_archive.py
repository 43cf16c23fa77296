"""Clients keep their whole history in the portal after the owner archives: the invoices and
payments the archive moved out of the workbook are listed (read from the journal when the page
is opened) and their PDFs download, marked PAID. Before, they vanished from the portal once
they moved."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from tests.portal_server import free_socket, serving, sign_in
from tests.test_archive import _set_months
from tests.test_portal import _business


def _months(business, window: int) -> None:
    """Runs on the 1st, 10th and 20th and the last day of each month; ANN pays on the 10th."""
    _set_months(business, window)
    day = dt.date(2026, 11, 30)
    while day <= dt.date(2027, 6, 20):
        if day.day == 10:
            business.pay("ANN", "49.99", day)
        assert business.run(day).exit_code.value <= 1
        last = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        day = min([d for d in (day.replace(day=n) for n in (1, 10, 20)) if d > day] + [last]) \
            if day != last else day + dt.timedelta(days=1)


def _numbers(page: str) -> list[str]:
    return re.findall(r'data-label="Invoice">(INV-\d+)<', page)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    shops = []
    for window in (0, 2):
        sock = free_socket()
        business = _business(tmp_path_factory.mktemp(f"w{window}"), sock.getsockname()[1])
        _months(business, window)
        shops.append((business, sock))
    return shops


@pytest.mark.slow  # seven months, twice, and a portal: ~30 s
def test_archived_invoices_and_payments_stay_in_the_clients_portal(pair) -> None:
    (kept, kept_sock), (archived, archived_sock) = pair
    assert (archived.folder / "archive").is_dir()
    ann = {r["invoice_number"] for r in archived.sheet("Invoices") if r["client_id"] == "ANN"}
    with serving(kept.config, kept_sock) as base:
        page_kept = sign_in(base, "ann@x.example", kept.folder / "outbox").get(f"{base}/").text
    with serving(archived.config, archived_sock) as base:
        session = sign_in(base, "ann@x.example", archived.folder / "outbox")
        page = session.get(f"{base}/").text
        shown = _numbers(page)
        gone = [n for n in shown if n not in ann]  # in the archive, not the workbook
        assert gone, "the story archived none of ANN's invoices"
        pdf = session.get(f"{base}/invoices/{gone[-1]}.pdf")
        other = session.get(f"{base}/invoices/INV-00002.pdf")  # BOB's, archived or not

    assert shown == _numbers(page_kept) and len(shown) >= 6
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert other.status_code == 404
    payments = re.findall(r'data-label="Applied to">([^<]*)<', page)
    assert payments == re.findall(r'data-label="Applied to">([^<]*)<', page_kept)
    assert any(gone[-1] in p for p in payments)


def test_a_page_reads_a_clients_archive_history_once(tmp_path) -> None:
    from ispsheets.portal.view import ViewReader

    asked: list[str] = []

    def history(client_id: str):
        asked.append(client_id)
        return [], []

    view = ViewReader(tmp_path, history)
    view.invoices("ANN")
    view.payments("ANN")  # the same page
    view.invoices("BOB")
    assert asked == ["ANN", "BOB"]
