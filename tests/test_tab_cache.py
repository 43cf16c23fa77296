"""The tab cache is invisible: whatever happened to the workbook or the cache, a read gives
exactly what a fresh read of the file gives (same cells and types, same records, same problems),
and a run reports the same problems with the same exit code."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import pickle
import shutil
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

import ispsheets.book.reader as reader
import ispsheets.book.tab_cache as tab_cache
from ispsheets.book.backend import TAB_CACHE
from ispsheets.book.changes import ChangeSet, SetCell
from ispsheets.book.load import load_book
from ispsheets.book.reader import RawBook, read_xlsx
from ispsheets.book.tab_cache import TabCache
from ispsheets.book.template import build_template
from ispsheets.book.xlsx_backend import apply_changes
from ispsheets.book.xlsx_package import Package, deflate, write_package
from ispsheets.problems import ExitCode
from tests.scenario import Business, row

D = Decimal
TODAY = dt.date(2026, 11, 20)


def _rows() -> dict[str, list[tuple[object, ...]]]:
    return {
        "Packages": [row("Packages", package_id="HOME", name="Home 100", price=D("49.99"),
                         interval="monthly"),
                     row("Packages", package_id="BIZ", name="Business", price=D("99"),
                         interval="monthly", tax_rate=D("8.25"))],
        "Clients": [row("Clients", client_id=f"C{i:03}", name=f"Client {i}",
                        email=f"c{i}@x.example") for i in range(1, 6)],
        "Services": [row("Services", service_id=f"S{i:03}", client_id=f"C{i:03}",
                         package_id="HOME" if i % 2 else "BIZ",
                         start_date=dt.date(2026, 10, i)) for i in range(1, 6)],
        "Payments": [row("Payments", payment_id="PAY-1", date=dt.date(2026, 11, 2),
                         client_id="C001", amount=D("49.99"), method="check")],
    }


@pytest.fixture
def book(tmp_path: Path) -> Path:
    return build_template(tmp_path / "isp.xlsx", demo_rows=_rows())


def _cells(raw: RawBook) -> dict[str, object]:
    """Every tab's cells with their types (a lazy tab by its header)."""
    return {name: [[(type(v), v) for v in r] for r in s.rows] if s.loaded else ("header", s.header)
            for name, s in raw.sheets.items()}


def _problems(raw: RawBook) -> list[str]:
    return [str(p) for p in load_book(raw, "MDY", today=TODAY).problems]


def assert_reads_as_fresh(path: Path, cache: TabCache) -> None:
    fresh, cached = read_xlsx(path), read_xlsx(path, cache)
    assert cached.names == fresh.names
    assert _cells(cached) == _cells(fresh)
    assert _problems(cached) == _problems(fresh)
    assert load_book(cached, "MDY", today=TODAY) == load_book(fresh, "MDY", today=TODAY)


def _warm(path: Path, cache: TabCache) -> None:
    read_xlsx(path, cache)  # keys seen
    read_xlsx(path, cache)  # same keys again: rows kept


class _NoCalamine:
    @staticmethod
    def from_path(path: str) -> None:
        raise AssertionError("calamine was asked to parse the workbook")


def test_a_tab_unchanged_since_the_last_two_reads_comes_from_the_cache(book, tmp_path,
                                                                       monkeypatch):
    cache = TabCache(tmp_path / "cache")
    fresh = read_xlsx(book)
    _warm(book, cache)
    monkeypatch.setattr(reader, "CalamineWorkbook", _NoCalamine)
    cached = read_xlsx(book, cache)
    assert _cells(cached) == _cells(fresh)
    assert _problems(cached) == _problems(fresh)


def test_a_tab_read_once_is_not_kept_yet(book, tmp_path, monkeypatch):
    cache = TabCache(tmp_path / "cache")
    read_xlsx(book, cache)
    monkeypatch.setattr(reader, "CalamineWorkbook", _NoCalamine)
    with pytest.raises(AssertionError, match="calamine"):
        read_xlsx(book, cache)


def _rewrite(path: Path, member: str, change: bytes, into: bytes) -> None:
    """Replace bytes in one member; every other member is copied byte for byte."""
    package = Package(path.read_bytes())
    new = package.read(member).replace(change, into, 1)
    assert new != package.read(member)
    out = io.BytesIO()
    write_package(out, package, package.names, {member: deflate([new])},
                  dt.datetime(2026, 11, 20))
    path.write_bytes(out.getvalue())


@pytest.mark.parametrize("member, change, into", [
    ("xl/sharedStrings.xml", b"Client 3<", b"Client Three<"),  # the sheets are unchanged
    ("xl/styles.xml", b"<numFmts", b"<!-- saved again --><numFmts"),
    ("xl/workbook.xml", b"<bookViews", b"<!-- saved again --><bookViews"),
])
def test_a_change_to_what_the_cells_are_read_through_is_never_missed(
        book, tmp_path, monkeypatch, member, change, into):
    cache = TabCache(tmp_path / "cache")
    _warm(book, cache)
    _rewrite(book, member, change, into)
    with monkeypatch.context() as patched:  # the tabs are parsed again, not taken as kept
        patched.setattr(reader, "CalamineWorkbook", _NoCalamine)
        with pytest.raises(AssertionError, match="calamine"):
            read_xlsx(book, cache)
    assert_reads_as_fresh(book, cache)
    if member == "xl/sharedStrings.xml":
        names = [r[1] for r in read_xlsx(book, cache).sheets["Clients"].rows[1:]]
        assert "Client Three" in names


def test_an_owners_edit_of_one_cell_is_read(book, tmp_path):
    cache = TabCache(tmp_path / "cache")
    _warm(book, cache)
    apply_changes(book, ChangeSet(sets=(SetCell("Services", "S002", "start_date", "someday"),)),
                  backup_dir=tmp_path / "backups", keep_backups=0, expected_fingerprint=None,
                  now=dt.datetime(2026, 11, 20))
    assert_reads_as_fresh(book, cache)
    assert any(p.startswith("Services!D3: ") for p in _problems(read_xlsx(book, cache)))


def test_a_workbook_saved_again_with_a_tab_sorted_is_read(book, tmp_path):
    cache = TabCache(tmp_path / "cache")
    _warm(book, cache)
    wb = openpyxl.load_workbook(book)
    sheet = wb["Clients"]
    values = [[c.value for c in r] for r in sheet.iter_rows(min_row=2)]
    for r, cells in enumerate(reversed(values), start=2):
        for c, value in enumerate(cells, start=1):
            sheet.cell(r, c, value)
    wb.save(book)
    assert_reads_as_fresh(book, cache)
    ids = [r[0] for r in read_xlsx(book, cache).sheets["Clients"].rows[1:]]
    assert ids == ["C005", "C004", "C003", "C002", "C001"]


def test_an_older_workbook_put_back_reads_as_itself(book, tmp_path):
    cache = TabCache(tmp_path / "cache")
    older = tmp_path / "older.xlsx"
    shutil.copy(book, older)
    _warm(book, cache)
    apply_changes(book, ChangeSet(sets=(SetCell("Clients", "C004", "name", "Renamed"),)),
                  backup_dir=tmp_path / "backups", keep_backups=0, expected_fingerprint=None,
                  now=dt.datetime(2026, 11, 20))
    _warm(book, cache)
    assert_reads_as_fresh(book, cache)
    shutil.copy(older, book)
    assert_reads_as_fresh(book, cache)
    assert "Renamed" not in [r[1] for r in read_xlsx(book, cache).sheets["Clients"].rows]


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "empty", "gone", "not a list"])
def test_a_damaged_or_missing_cache_reads_the_workbook(book, tmp_path, damage):
    folder = tmp_path / "cache"
    cache = TabCache(folder)
    _warm(book, cache)
    kept = sorted(folder.glob("*.rows"))
    assert kept
    for path in kept:
        data = path.read_bytes()
        if damage == "flip":  # a bit flipped inside a cell's text: still a sound pickle
            at = data.find(b"Client") + 3 if b"Client" in data else len(data) // 2
            path.write_bytes(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:])
        elif damage == "truncate":
            path.write_bytes(data[:len(data) // 2])
        elif damage == "garbage":
            path.write_bytes(b"\x80\x05garbage" * 10)
        elif damage == "empty":
            path.write_bytes(b"")
        elif damage == "gone":
            shutil.rmtree(folder)
            break
        else:  # a sound entry under the right key, holding something else than rows
            body = pickle.dumps({"not": "rows"})
            signed = hashlib.blake2b(body, digest_size=32, key=cache.signing).digest()
            path.write_bytes(data[:40] + signed + body)
    assert_reads_as_fresh(book, cache)


class _Planted:
    """What someone who can write the business folder (a synced Dropbox, a share) could put
    in an entry: unpickling it runs code (here: touches a file)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("signed_with", ["nothing", "another key", "this user's key"])
def test_an_entry_not_signed_with_this_users_key_is_never_unpickled(book, tmp_path,
                                                                    signed_with):
    folder = tmp_path / "cache"
    cache = TabCache(folder, signing=b"k" * 32)
    _warm(book, cache)
    marker = tmp_path / "code-ran"
    body = pickle.dumps([[_Planted(marker)]])
    key = {"nothing": None, "another key": b"x" * 32, "this user's key": b"k" * 32}[signed_with]
    digest = hashlib.blake2b(body, digest_size=32, key=key or b"").digest()
    for path in sorted(folder.glob("*.rows")):
        data = path.read_bytes()
        path.write_bytes(data[:40] + digest + body)  # magic and tab key kept: it looks right

    try:
        read_xlsx(book, cache)
    except ValueError:  # what the control unpickled is no tab
        assert signed_with == "this user's key"

    assert marker.exists() == (signed_with == "this user's key")  # the control: it would run


def test_the_signing_key_lives_outside_the_business_folder_for_this_user_alone(tmp_path,
                                                                              monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    tab_cache.signing_key.cache_clear()
    try:
        key = tab_cache.signing_key()
        assert key is not None and len(key) == 32
        assert tab_cache.key_file() == tmp_path / "state" / "ispsheets" / "tab-cache.key"
        assert tab_cache.key_file().read_bytes() == key
        assert tab_cache.key_file().stat().st_mode & 0o077 == 0
        tab_cache.signing_key.cache_clear()
        assert tab_cache.signing_key() == key  # kept, not made again
    finally:
        tab_cache.signing_key.cache_clear()


def test_without_a_place_for_the_key_nothing_is_cached(book, tmp_path, monkeypatch):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the state folder would be")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocked))
    tab_cache.signing_key.cache_clear()
    try:
        cache = TabCache(tmp_path / "cache")
        assert cache.signing is None
        _warm(book, cache)
        assert not list((tmp_path / "cache").glob("*.rows"))
        assert_reads_as_fresh(book, cache)
    finally:
        tab_cache.signing_key.cache_clear()


def test_a_cache_that_cannot_be_written_changes_nothing(book, tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    cache = TabCache(blocked / "cache")
    _warm(book, cache)
    assert_reads_as_fresh(book, cache)


def test_a_run_reports_an_edit_after_quiet_days_as_a_run_without_cache_does(tmp_path):
    business = Business.create(tmp_path / "shop", _rows())
    business.run_days(dt.date(2026, 11, 1), dt.date(2026, 11, 4))
    cache = business.config.journal_path.parent / TAB_CACHE
    assert sorted(cache.glob("*.rows"))  # quiet tabs are kept after two runs
    business.edit(ChangeSet(sets=(SetCell("Services", "S002", "start_date", "someday"),
                                  SetCell("Clients", "C003", "billing_day", 31))))
    twin = Business.create(tmp_path / "twin", _rows())
    shutil.rmtree(twin.folder)
    shutil.copytree(business.folder, twin.folder)
    twin.reload_config()
    shutil.rmtree(twin.folder / TAB_CACHE)

    day = dt.date(2026, 11, 5)
    with_cache, without = business.run(day), twin.run(day)
    shown = [str(p) for p in with_cache.problems]
    assert shown == [str(p) for p in without.problems]
    assert any(p.startswith("Services!D3: ") for p in shown)
    assert any(p.startswith("Clients!F4: ") for p in shown)
    assert with_cache.exit_code is without.exit_code is ExitCode.ROWS_SKIPPED
    assert _cells(business.raw()) == _cells(twin.raw())


def test_a_write_cut_short_by_a_kill_leaves_no_lasting_file(book, tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    stale, fresh = folder / ".tmp-killed", folder / ".tmp-writing-now"
    stale.write_bytes(b"half an entry")
    fresh.write_bytes(b"another run's entry, being written")
    os.utime(stale, (1_000_000_000, 1_000_000_000))
    _warm(book, TabCache(folder))
    assert not stale.exists() and fresh.exists()
    assert_reads_as_fresh(book, TabCache(folder))
