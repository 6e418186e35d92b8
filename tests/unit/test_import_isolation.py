"""Imports isolated per file (issue 6): each bad file or message is reported with its path and
reason and the rest imports; special files are never read; the size cap applies while reading;
a failed batch or an interrupted import loses nothing that can be imported."""

from __future__ import annotations

import errno
import mailbox
import os
import sqlite3
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from solodesk.connectors import mailimport
from solodesk.connectors.mailimport import (
    BATCH,
    ImportSourceError,
    import_mail,
    read_capped,
)
from solodesk.store.db import connect
from solodesk.store.repos import MailRepo, Store
from tests.unit.test_mailimport import eml, message_ids

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(connect(tmp_path / "solodesk.db"))
    yield s
    s.close()


def eml_folder(folder: Path, count: int, *, start: int = 1) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(start, start + count):
        p = folder / f"{n:04d}.eml"
        p.write_bytes(eml(n))
        paths.append(p)
    return paths


def not_read(report: mailimport.ImportReport) -> dict[str, str]:
    return {u.where: u.reason for u in report.unreadable}


class ReadCounter:
    """Counts the bytes ``os.read`` returns, and which paths ``os.open`` was asked to open."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bytes = 0
        self.opened: list[str] = []
        real_read, real_open = os.read, os.open

        def read(fd: int, n: int) -> bytes:
            data = real_read(fd, n)
            self.bytes += len(data)
            return data

        def open_(path: object, flags: int, *args: object, **kw: object) -> int:
            self.opened.append(os.fspath(path))  # type: ignore[arg-type]
            return real_open(path, flags, *args, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "read", read)
        monkeypatch.setattr(os, "open", open_)


# -- unreadable files -------------------------------------------------------------------------


@pytest.mark.skipif(IS_ROOT, reason="root reads files whatever their permissions")
def test_unreadable_eml_is_reported_and_the_rest_imports(store: Store, tmp_path: Path) -> None:
    paths = eml_folder(tmp_path / "export", 250)
    locked = paths[120]
    locked.chmod(0)
    try:
        report = import_mail(tmp_path / "export", store.mail)
    finally:
        locked.chmod(0o600)
    assert len(report.imported) == 249
    assert not_read(report) == {str(locked): "cannot be read: Permission denied (EACCES)"}


def test_an_eml_that_cannot_be_opened_is_reported_and_the_rest_imports(
    store: Store, tmp_path: Path
) -> None:
    # As root no permission stops a read, so provoke a real open failure: a symbolic link loop.
    eml_folder(tmp_path / "export", 250)
    loop_a, loop_b = tmp_path / "export" / "0100a.eml", tmp_path / "export" / "0100b.eml"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    report = import_mail(tmp_path / "export", store.mail)
    assert len(report.imported) == 250  # before issue 6: aborted after 200, the rest never
    reasons = not_read(report)
    assert set(reasons) == {str(loop_a), str(loop_b)}
    assert all("Too many levels of symbolic links (ELOOP)" in r for r in reasons.values())
    assert report.summary() == "imported 250, skipped 0 already imported, 0 malformed, 2 not read"


def test_an_io_error_names_the_file_and_the_rest_imports(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = eml_folder(tmp_path / "export", 5)
    bad = paths[2]
    real_read = os.read

    def failing_read(fd: int, n: int) -> bytes:
        if os.readlink(f"/proc/self/fd/{fd}") == str(bad):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", failing_read)
    report = import_mail(tmp_path / "export", store.mail)
    assert len(report.imported) == 4
    assert not_read(report) == {str(bad): "cannot be read: Input/output error (EIO)"}


# -- links and folders ------------------------------------------------------------------------


def test_dangling_symlink_in_a_maildir(store: Store, tmp_path: Path) -> None:
    md = mailbox.Maildir(str(tmp_path / "Mail"), create=True)
    md.add(eml(1))
    md.add(eml(2))
    dangling = tmp_path / "Mail" / "new" / "1700000000.M1P1.host"
    dangling.symlink_to(tmp_path / "gone")
    report = import_mail(tmp_path / "Mail", store.mail)
    assert len(report.imported) == 2  # before issue 6: 0 imported
    assert not_read(report) == {
        str(dangling): f"dangling symbolic link to {tmp_path / 'gone'}; not read"
    }


def test_dangling_symlink_in_a_folder(store: Store, tmp_path: Path) -> None:
    eml_folder(tmp_path / "export", 2)
    link = tmp_path / "export" / "lost.eml"
    link.symlink_to(tmp_path / "nowhere.eml")
    report = import_mail(tmp_path / "export", store.mail)
    assert len(report.imported) == 2
    assert not_read(report) == {
        str(link): f"dangling symbolic link to {tmp_path / 'nowhere.eml'}; not read"
    }


def test_unreadable_subfolder_is_reported_not_skipped_silently(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    eml_folder(tmp_path / "export", 2)
    hidden = tmp_path / "export" / "2025"
    eml_folder(hidden, 3, start=10)
    real_scandir = os.scandir

    def scandir(path: object = ".") -> object:
        if os.fspath(path) == str(hidden):  # type: ignore[arg-type]
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(hidden))
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)
    report = import_mail(tmp_path / "export", store.mail)
    assert len(report.imported) == 2
    assert not_read(report) == {
        str(hidden): "folder cannot be read: Permission denied (EACCES); its mail was not "
        "imported"
    }
    assert "not read: " + str(hidden) in "\n".join(report.problems())


@pytest.mark.skipif(IS_ROOT, reason="root reads folders whatever their permissions")
def test_unreadable_subfolder_for_real(store: Store, tmp_path: Path) -> None:
    eml_folder(tmp_path / "export", 2)
    hidden = tmp_path / "export" / "2025"
    eml_folder(hidden, 3, start=10)
    hidden.chmod(0)
    try:
        report = import_mail(tmp_path / "export", store.mail)
    finally:
        hidden.chmod(0o700)
    assert len(report.imported) == 2
    assert list(not_read(report)) == [str(hidden)]


def test_symlinked_folder_is_reported_not_followed(store: Store, tmp_path: Path) -> None:
    eml_folder(tmp_path / "export", 1)
    eml_folder(tmp_path / "elsewhere", 1, start=5)
    (tmp_path / "export" / "more").symlink_to(tmp_path / "elsewhere")
    report = import_mail(tmp_path / "export", store.mail)
    assert len(report.imported) == 1
    assert "not followed" in not_read(report)[str(tmp_path / "export" / "more")]


# -- special files are never read -------------------------------------------------------------


def test_fifo_in_a_folder_is_skipped_and_never_opened(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    eml_folder(tmp_path / "export", 2)
    fifo = tmp_path / "export" / "pipe.eml"
    os.mkfifo(fifo)
    counter = ReadCounter(monkeypatch)
    report = import_mail(tmp_path / "export", store.mail)
    assert len(report.imported) == 2
    assert not_read(report) == {str(fifo): "a FIFO (named pipe), not a mail file; not read"}
    assert str(fifo) not in counter.opened  # opening it could block forever


def test_fifo_in_a_maildir_and_as_the_source(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    md = mailbox.Maildir(str(tmp_path / "Mail"), create=True)
    md.add(eml(1))
    fifo = tmp_path / "Mail" / "cur" / "1700000000.M2P2.host:2,S"
    os.mkfifo(fifo)
    top = tmp_path / "incoming.mbox"
    os.mkfifo(top)
    counter = ReadCounter(monkeypatch)
    report = import_mail(tmp_path / "Mail", store.mail)
    assert len(report.imported) == 1 and list(not_read(report)) == [str(fifo)]
    with pytest.raises(ImportSourceError, match=r"incoming.mbox is a FIFO .*nothing was read"):
        import_mail(top, store.mail)
    assert str(fifo) not in counter.opened and str(top) not in counter.opened


# -- mbox detection ---------------------------------------------------------------------------


def test_mbox_starting_with_a_blank_line(store: Store, tmp_path: Path) -> None:
    box = tmp_path / "export.mbox"
    body = b"".join(
        b"From sam@example.com Mon Nov 16 09:00:00 2026\n" + eml(n).replace(b"\r\n", b"\n")
        + b"\n"
        for n in (1, 2, 3)
    )
    box.write_bytes(b"\n\n" + body)
    report = import_mail(box, store.mail)
    assert len(report.imported) == 3 and report.malformed == []  # not one malformed .eml
    assert message_ids(store) == [f"<msg-{n}@example.com>" for n in (1, 2, 3)]
    assert store.mail.get(report.imported[0]).source == f"{box} message 1"


# -- size cap while reading -------------------------------------------------------------------


BIG = 300 * 1024 * 1024


def test_a_300_mb_message_is_not_read(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = eml_folder(tmp_path / "export", 2)
    big = tmp_path / "export" / "0099-huge.eml"
    with big.open("wb") as fh:  # sparse: 300 MB on paper, nothing on disk
        fh.write(eml(99))
        fh.truncate(BIG)
    counter = ReadCounter(monkeypatch)
    tracemalloc.start()
    try:
        report = import_mail(tmp_path / "export", store.mail)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(report.imported) == 2
    assert not_read(report) == {
        str(big): f"larger than the {mailimport.MAX_MESSAGE_BYTES} byte limit ({BIG} bytes); "
        "not read"
    }
    small = sum(p.stat().st_size for p in paths)
    assert counter.bytes <= small  # not one byte of the big file
    print(f"300 MB .eml: {counter.bytes} bytes read, peak traced memory {peak / 1e6:.1f} MB")


def test_the_reader_stops_at_the_cap_even_if_the_size_was_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "growing.eml"
    with big.open("wb") as fh:
        fh.truncate(BIG)
    # As if the file had been small when checked and grew before it was read.
    monkeypatch.setattr(mailimport, "_check_regular", lambda path, limit: None)
    counter = ReadCounter(monkeypatch)
    limit = 1024 * 1024
    with pytest.raises(mailimport._Skip, match="larger than the 1048576 byte limit"):
        read_capped(big, limit)
    assert counter.bytes == limit + 1  # never more than the cap + 1 byte


def test_a_300_mb_message_inside_an_mbox(store: Store, tmp_path: Path) -> None:
    box = tmp_path / "big.mbox"
    with box.open("wb") as fh:
        fh.write(b"From sam@example.com Mon Nov 16 09:00:00 2026\n" + eml(1) + b"\n")
        fh.write(b"From sam@example.com Mon Nov 16 09:00:00 2026\n" + eml(2))
        fh.seek(fh.tell() + BIG)  # a 300 MB hole: one huge line of NUL bytes
        fh.write(b"\n\nFrom sam@example.com Mon Nov 16 09:00:00 2026\n" + eml(3))
    parsed: list[int] = []
    real_parse = mailimport.parse_message

    def parse(raw: bytes) -> object:
        parsed.append(len(raw))
        return real_parse(raw)

    tracemalloc.start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(mailimport, "parse_message", parse)
            report = import_mail(box, store.mail)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message_ids(store) == ["<msg-1@example.com>", "<msg-3@example.com>"]
    [(where, reason)] = not_read(report).items()
    assert where == f"{box} message 2" and reason.startswith("larger than the ")
    assert max(parsed) <= mailimport.MAX_MESSAGE_BYTES
    print(f"300 MB mbox message: peak traced memory {peak / 1e6:.1f} MB")


# -- failed batches and interrupted imports ---------------------------------------------------


def test_a_row_the_database_refuses_does_not_lose_its_batch(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    eml_folder(tmp_path / "export", 250)
    real_insert = MailRepo.insert

    def insert(self: MailRepo, record: dict[str, object]) -> int | None:
        if record["message_id"] == "<msg-7@example.com>":
            raise sqlite3.IntegrityError("CHECK constraint failed: scripted")
        return real_insert(self, record)

    monkeypatch.setattr(MailRepo, "insert", insert)
    report = import_mail(tmp_path / "export", store.mail)
    assert len(report.imported) == 249 and store.mail.count() == 249
    assert [(m.where, m.reason) for m in report.malformed] == [
        (str(tmp_path / "export" / "0007.eml"),
         "cannot be stored: CHECK constraint failed: scripted")
    ]


def test_a_database_that_refuses_writes_stops_the_import_and_a_rerun_continues(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    eml_folder(tmp_path / "export", 450)
    real_insert = MailRepo.insert
    full = {"on": True}

    def insert(self: MailRepo, record: dict[str, object]) -> int | None:
        if full["on"] and record["message_id"] == "<msg-300@example.com>":
            raise sqlite3.OperationalError("database or disk is full")
        return real_insert(self, record)

    monkeypatch.setattr(MailRepo, "insert", insert)
    problems: list[str] = []
    report = import_mail(tmp_path / "export", store.mail, on_problem=problems.append)
    assert len(report.imported) == BATCH == store.mail.count()  # the first batch is kept
    assert report.stopped.startswith("the database refused the write: the disk holding")
    assert "is full" in report.stopped  # the store's one-line DiskFull, saying what to do
    assert problems == [f"stopped: {report.stopped}"]
    assert report.summary().endswith("run the same import again to continue")

    full["on"] = False
    again = import_mail(tmp_path / "export", store.mail)
    assert len(again.imported) == 250 and again.duplicates == BATCH
    assert store.mail.count() == 450


def test_an_interrupted_import_can_be_run_again(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    eml_folder(tmp_path / "export", 250)
    real_iter = mailimport._iter_sources

    def interrupted(path: Path, limit: int) -> Iterator[object]:
        for n, item in enumerate(real_iter(path, limit)):
            if n == 230:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(mailimport, "_iter_sources", interrupted)
    with pytest.raises(KeyboardInterrupt):
        import_mail(tmp_path / "export", store.mail)
    assert store.mail.count() == BATCH  # the committed batch survives
    monkeypatch.setattr(mailimport, "_iter_sources", real_iter)
    again = import_mail(tmp_path / "export", store.mail)
    assert len(again.imported) == 50 and again.duplicates == BATCH
    assert store.mail.count() == 250


def test_problems_are_reported_as_they_are_found(store: Store, tmp_path: Path) -> None:
    eml_folder(tmp_path / "export", 1)
    (tmp_path / "export" / "empty.eml").write_bytes(b"")
    (tmp_path / "export" / "gone.eml").symlink_to(tmp_path / "nothing")
    seen: list[str] = []
    report = import_mail(tmp_path / "export", store.mail, on_problem=seen.append)
    assert sorted(seen) == sorted(report.problems())
    assert f"malformed: {tmp_path / 'export' / 'empty.eml'}: empty file" in seen
