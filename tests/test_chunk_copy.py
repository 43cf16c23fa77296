"""The journal's copy beside a workbook backup is made by rewriting, in place, the chunks of the
copy due to be pruned that differ from the journal (`ispsheets.chunk_copy`).

What an owner sees: the copies are byte for byte the journal as the write left it, as before;
a big journal's copy writes a few percent of the file instead of all of it; a copy whose
digests no longer describe it (touched, damaged) is written whole; a run killed in the middle
leaves the newest copy whole and nothing half-made that looks finished.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from ispsheets import chunk_copy
from ispsheets.journal import Journal
from ispsheets.journal_copies import prune_journal_copies, start_journal_copy

CHUNK = 64


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _copy(source: Path, target: Path, old: chunk_copy.Digests | None) -> chunk_copy.Copied:
    return chunk_copy.copy_file(source, target, old, CHUNK)


def _digests(path: Path, copied: chunk_copy.Copied) -> chunk_copy.Digests:
    chunk_copy.record(path, copied.digests, CHUNK)
    digests = chunk_copy.recorded(path)
    assert digests is not None
    return digests


@pytest.fixture
def first(tmp_path):
    """A 100.5-chunk file and its copy, with the copy's digests recorded."""
    data = random.Random(7).randbytes(CHUNK * 100 + 32)
    source = _file(tmp_path / "journal", data)
    copy = tmp_path / "copy"
    copied = _copy(source, copy, None)
    assert copied.whole and copied.written == 101 and copy.read_bytes() == data
    return source, copy, _digests(copy, copied)


def test_only_the_chunks_that_changed_are_written_and_the_copy_is_the_file(first):
    source, copy, digests = first
    data = bytearray(source.read_bytes())
    data[CHUNK * 2 + 5] ^= 0xFF  # one byte in chunk 2
    data[CHUNK * 7:CHUNK * 7 + 3] = b"new"  # chunk 7
    data += b"appended beyond the old end" * 4  # the old tail chunk and two more
    source.write_bytes(bytes(data))

    copied = _copy(source, copy, digests)

    assert copy.read_bytes() == bytes(data)
    assert not copied.whole
    assert copied.written == 2 + 1 + 2  # chunks 2 and 7, the old last chunk, two new ones


def test_a_shorter_file_leaves_no_old_bytes_at_the_end(first):
    source, copy, digests = first
    data = source.read_bytes()[:CHUNK * 4 + 10]
    source.write_bytes(data)

    copied = _copy(source, copy, digests)

    assert copy.read_bytes() == data and copied.written == 1  # the new, shorter last chunk


def test_digests_of_a_copy_touched_since_are_not_trusted(first):
    _, copy, _ = first
    assert chunk_copy.recorded(copy) is not None
    with copy.open("r+b") as handle:
        handle.write(b"owner")  # a new modification time
    os.utime(copy, ns=(0, 1_000_000_000))
    assert chunk_copy.recorded(copy) is None
    assert chunk_copy.recorded(copy.with_name("no such copy")) is None


@pytest.mark.parametrize("sampled", [chunk_copy.SAMPLED, 0])
def test_a_copy_damaged_behind_its_digests_is_written_whole(first, monkeypatch, sampled):
    """Bytes changed with the file's times set back (a failing disk) pass the stat check; the
    chunks read back after the patch show it: the first and last taken as unchanged always
    (`sampled` 0: those alone), and a random sample of the others."""
    monkeypatch.setattr(chunk_copy, "SAMPLED", sampled)
    source, copy, _ = first
    digests = chunk_copy.recorded(copy)
    assert digests is not None
    stat = copy.stat()
    with copy.open("r+b") as handle:
        handle.write(b"\0" * 8)  # chunk 0, which the journal did not change
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert chunk_copy.recorded(copy) == digests  # looks as recorded

    copied = _copy(source, copy, digests)

    assert copied.whole and copy.read_bytes() == source.read_bytes()


# -- through the journal's copies beside the workbook backups ------------------------------------


def _backup(folder: Path, stamp: str) -> Path:
    backup = folder / f"isp-{stamp}.xlsx"
    backup.write_bytes(b"x")
    return backup


def _journal(tmp_path: Path, rows: int) -> Journal:
    journal = Journal.open(tmp_path / "ispsheets.db")
    with journal.transaction():
        for n in range(rows):
            journal.set_sequence(f"seq-{n}-" + "x" * 200, n)
    return journal


def _copy_name(backup: Path) -> Path:
    return backup.with_name(f"{backup.stem}.ispsheets.db")


@pytest.fixture
def two_days(tmp_path):
    """A journal copied beside two days' workbook backups (`journal_copies: 2`), then
    written to, and the third day's backup: (journal, backups, older, newer, newest)."""
    journal = _journal(tmp_path, 3000)
    backups = tmp_path / "backups"
    backups.mkdir()
    older, newer = _backup(backups, "20261201-060000"), _backup(backups, "20261202-060000")
    for backup in (older, newer):
        assert start_journal_copy(journal, backup, keep=2)() is None
    journal.set_sequence("one more", 1)
    yield journal, backups, older, newer, _backup(backups, "20261203-060000")
    journal.close()


def test_the_copy_due_to_go_becomes_the_newest_copy_in_place(two_days):
    journal, backups, older, newer, newest = two_days
    reused = _copy_name(older).stat().st_ino
    newer_bytes = _copy_name(newer).read_bytes()

    assert start_journal_copy(journal, newest, keep=2)() is None

    copy = _copy_name(newest)
    assert copy.stat().st_ino == reused  # the old copy's file, brought up to date
    assert not _copy_name(older).exists()
    assert _copy_name(newer).read_bytes() == newer_bytes  # the other copy never touched
    check = Journal.open(copy)
    try:
        assert check.peek_seq("one more") == 2 and check.peek_seq("seq-2999-"
                                                                              + "x" * 200) == 3000
    finally:
        check.close()
    assert sorted(p.name for p in backups.glob(".*")) == [
        ".isp-20261202-060000.ispsheets.db.chunks", ".isp-20261203-060000.ispsheets.db.chunks"]


def test_one_copy_kept_is_never_rewritten_in_place(tmp_path):
    """With `journal_copies: 1` the only copy stays whole until the new one is there."""
    journal = _journal(tmp_path, 100)
    backups = tmp_path / "backups"
    backups.mkdir()
    older = _backup(backups, "20261201-060000")
    assert start_journal_copy(journal, older, keep=1)() is None
    inode = _copy_name(older).stat().st_ino
    newest = _backup(backups, "20261202-060000")

    assert start_journal_copy(journal, newest, keep=1)() is None

    journal.close()
    assert not _copy_name(older).exists()
    assert _copy_name(newest).stat().st_ino != inode
    assert not (backups / ".isp-20261201-060000.ispsheets.db.chunks").exists()


def test_a_copy_killed_half_way_leaves_the_other_copy_and_nothing_that_looks_made(
        two_days, tmp_path, monkeypatch):
    journal, backups, _, newer, newest = two_days
    newer_bytes = _copy_name(newer).read_bytes()

    def failing(*args: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "pwrite", failing)
    problem = start_journal_copy(journal, newest, keep=2)()
    monkeypatch.undo()

    assert problem is not None and "could not be copied" in str(problem)
    assert not _copy_name(newest).exists() and not list(backups.glob(".*.tmp"))
    assert _copy_name(newer).read_bytes() == newer_bytes
    assert sorted(p.name for p in backups.glob(".*")) == [
        ".isp-20261202-060000.ispsheets.db.chunks"]  # none for the copy taken apart

    assert start_journal_copy(journal, newest, keep=2)() is None  # the next run: whole
    assert _copy_name(newest).read_bytes() == (tmp_path / "ispsheets.db").read_bytes()


def test_prune_drops_the_digests_of_copies_gone(tmp_path):
    (tmp_path / "isp-20261201-060000.xlsx").write_bytes(b"x")
    (tmp_path / "isp-20261201-060000.ispsheets.db").write_bytes(b"j")
    (tmp_path / ".isp-20261201-060000.ispsheets.db.chunks").write_text("{}")
    (tmp_path / ".isp-20261130-060000.ispsheets.db.chunks").write_text("{}")  # its copy gone
    (tmp_path / ".isp-20261129-060000.ispsheets.db.chunks.tmp").write_text("{")

    prune_journal_copies(tmp_path, "ispsheets.db", keep=2)

    assert sorted(p.name for p in tmp_path.glob(".*")) == [
        ".isp-20261201-060000.ispsheets.db.chunks"]


def test_digests_of_another_hash_or_chunk_size_are_not_used(first):
    """Records written by a version that hashed otherwise, or cut other chunks, describe
    other bytes: the copy is written whole (and still right)."""
    source, copy, digests = first
    path = chunk_copy.digests_path(copy)
    record = path.read_text(encoding="utf-8")
    path.write_text(record.replace('"xxh3_128"', '"sha256"'), encoding="utf-8")
    assert chunk_copy.recorded(copy) is None
    path.write_text(record, encoding="utf-8")
    assert chunk_copy.recorded(copy) == digests

    copied = chunk_copy.copy_file(source, copy, digests, CHUNK * 2)

    assert copied.whole and copy.read_bytes() == source.read_bytes()
