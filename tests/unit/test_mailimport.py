"""Mail import: mbox, Maildir, folder of .eml files, single .eml; duplicates and bad files."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path

import pytest

from solodesk.connectors.mailimport import ImportSourceError, import_mail
from solodesk.core.resources import resource
from solodesk.store.db import connect
from solodesk.store.repos import Store

SAMPLE = resource("sample_mail", "demo.mbox")
SAMPLE_IDS = [
    "<20261116081233.4821.marta@example.com>",
    "<c41e9a07-5d2b-4f8e-9b61-android-sync@example.org>",
    "<CAF7pR-x93kQ2m@mail.example.net>",
    "<8d2f1c3a.invoice.0117@example.com>",
    "<digest.2026w46.ada@example.net>",
    "<5b7e20d4-jonas-reply-2@example.org>",
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(connect(tmp_path / "solodesk.db"))
    yield s
    s.close()


def eml(n: int, *, sender: str = "Sam Sender <sam@example.com>", subject: str = "") -> bytes:
    return (
        f"From: {sender}\r\n"
        "To: Ada <ada@solodesk.example>\r\n"
        f"Subject: {subject or f'Question {n}'}\r\n"
        "Date: Mon, 16 Nov 2026 09:00:00 +0000\r\n"
        f"Message-ID: <msg-{n}@example.com>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"Body of message {n}.\r\n"
    ).encode()


def message_ids(store: Store) -> list[str]:
    return [r[0] for r in store.db.execute("SELECT message_id FROM mail ORDER BY id")]


def test_sample_mbox(store: Store) -> None:
    report = import_mail(SAMPLE, store.mail)
    assert len(report.imported) == 6
    assert report.duplicates == 0 and report.malformed == []
    assert message_ids(store) == SAMPLE_IDS
    first = store.mail.get(report.imported[0])
    assert first.from_addr == "Marta Kowalski <marta.kowalski@example.com>"
    assert first.subject == "Refund for my annual Pro plan?"
    assert first.date == "2026-11-16T09:12:33+01:00"
    assert "order INK-2026-10482" in first.body_text
    assert first.source == f"{SAMPLE} message 1"
    assert first.triage_status == "new"
    last = store.mail.get(report.imported[-1])
    assert last.in_reply_to == "<20261118.ada.reply.7731@solodesk.example>"
    assert last.refs == (
        "<c41e9a07-5d2b-4f8e-9b61-android-sync@example.org> "
        "<20261118.ada.reply.7731@solodesk.example>"
    )


def test_reimport_skips_duplicates(store: Store) -> None:
    import_mail(SAMPLE, store.mail)
    again = import_mail(SAMPLE, store.mail)
    assert again.imported == [] and again.duplicates == 6 and again.malformed == []
    assert store.mail.count() == 6


def test_maildir(store: Store, tmp_path: Path) -> None:
    md = mailbox.Maildir(str(tmp_path / "Mail"), create=True)
    md.add(eml(1))
    msg = mailbox.MaildirMessage(eml(2))
    msg.set_subdir("cur")
    md.add(msg)
    report = import_mail(tmp_path / "Mail", store.mail)
    assert len(report.imported) == 2 and report.malformed == []
    assert sorted(message_ids(store)) == ["<msg-1@example.com>", "<msg-2@example.com>"]


def test_folder_of_eml_with_malformed_files(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.eml").write_bytes(eml(1))
    (folder / "sub" / "b.eml").write_bytes(eml(2))
    (folder / "empty.eml").write_bytes(b"")
    (folder / "garbage.eml").write_bytes(bytes(range(256)) * 8)
    (folder / "nofrom.eml").write_bytes(
        b"To: ada@solodesk.example\r\nSubject: who sent this?\r\n"
        b"Message-ID: <nofrom@example.com>\r\n\r\nbody\r\n"
    )
    (folder / "notes.txt").write_text("not mail")  # ignored: not .eml
    report = import_mail(folder, store.mail)
    assert len(report.imported) == 2
    assert sorted(message_ids(store)) == ["<msg-1@example.com>", "<msg-2@example.com>"]
    bad = {Path(m.where).name: m.reason for m in report.malformed}
    assert bad == {
        "empty.eml": "empty file",
        "garbage.eml": "binary data, not an RFC 5322 message",
        "nofrom.eml": "missing or invalid From header",
    }
    for m in report.malformed:
        assert m.where.startswith(str(folder))


def test_binary_garbage_without_nul_bytes(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "noise.eml"
    path.write_bytes(bytes(range(1, 256)) * 4)
    report = import_mail(path, store.mail)
    assert report.imported == []
    assert len(report.malformed) == 1 and report.malformed[0].where == str(path)
    assert store.mail.count() == 0


def test_single_eml(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "one.eml"
    path.write_bytes(eml(7, subject="=?utf-8?q?Gr=C3=BC=C3=9Fe?="))
    report = import_mail(path, store.mail)
    assert len(report.imported) == 1
    m = store.mail.get(report.imported[0])
    assert m.message_id == "<msg-7@example.com>"
    assert m.subject == "Grüße"  # RFC 2047 decoded
    assert m.source == str(path)
    assert import_mail(path, store.mail).duplicates == 1


def test_same_message_in_two_files_is_one_mail(store: Store, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "1.eml").write_bytes(eml(1))
    # The same message with LF line endings and a transport header added on the way.
    copy = b"Received: from relay.example by mx.example; Mon, 16 Nov 2026 09:00:01 +0000\n"
    (tmp_path / "d" / "2.eml").write_bytes(copy + eml(1).replace(b"\r\n", b"\n"))
    report = import_mail(tmp_path / "d", store.mail)
    assert len(report.imported) == 1 and report.duplicates == 1 and report.conflicts == []


def test_a_different_message_reusing_a_message_id_is_imported_as_a_conflict(
    store: Store, tmp_path: Path
) -> None:
    # Issue 6: it used to be dropped silently as a "duplicate".
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "1.eml").write_bytes(eml(1))
    (tmp_path / "d" / "2.eml").write_bytes(eml(1, subject="a different question"))
    report = import_mail(tmp_path / "d", store.mail)
    assert len(report.imported) == 2 and report.duplicates == 0
    [conflict] = report.conflicts
    assert conflict.message_id == "<msg-1@example.com>"
    assert conflict.where == str(tmp_path / "d" / "2.eml")
    assert conflict.other == str(tmp_path / "d" / "1.eml")  # both sources named
    line = report.problems()[0]
    assert str(tmp_path / "d" / "2.eml") in line and str(tmp_path / "d" / "1.eml") in line
    second = store.mail.get(conflict.mail_id)
    assert second.subject == "a different question"
    assert second.message_id.startswith("<conflict-") and second.header_message_id == (
        "<msg-1@example.com>"
    )
    assert second.reply_message_id == "<msg-1@example.com>"  # replies thread on its own id
    # Running the import again changes nothing and reports no new conflict.
    again = import_mail(tmp_path / "d", store.mail)
    assert again.imported == [] and again.duplicates == 2 and again.conflicts == []


def test_missing_message_id_gets_a_stable_one(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "noid.eml"
    path.write_bytes(b"From: sam@example.com\r\nSubject: hi\r\n\r\nhello\r\n")
    first = import_mail(path, store.mail)
    assert len(first.imported) == 1
    mid = store.mail.get(first.imported[0]).message_id
    assert mid.startswith("<sha256-") and mid.endswith("@solodesk.invalid>")
    assert import_mail(path, store.mail).duplicates == 1


def test_html_only_body_is_turned_into_text(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "html.eml"
    path.write_bytes(
        b"From: sam@example.com\r\nMessage-ID: <h@example.com>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>Hello &amp; welcome</p><br>Bye\r\n"
    )
    report = import_mail(path, store.mail)
    body = store.mail.get(report.imported[0]).body_text
    assert "Hello & welcome" in body and "<p>" not in body and "Bye" in body


def test_nonexistent_path(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ImportSourceError, match="does not exist"):
        import_mail(tmp_path / "nope.mbox", store.mail)


def test_folder_without_mail(store: Store, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImportSourceError, match="no .eml files"):
        import_mail(tmp_path / "empty", store.mail)
