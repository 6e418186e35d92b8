"""Real-world-shaped mail (tests/data/mail): best text part, charsets, dates, true senders, and the
upgrade of stores imported before these fixes."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from solodesk.connectors.mailimport import import_mail, parse_message, rederive_legacy
from solodesk.connectors.mailparse import html_to_text, inline_parts
from solodesk.core.charsets import codec_for, decode_labelled
from solodesk.core.mail import Mailbox, decode_words, first_mailbox, parse_mailboxes
from solodesk.store.db import connect, migrations
from solodesk.store.repos import Store

DATA = Path(__file__).resolve().parents[1] / "data" / "mail"


def parsed(name: str) -> dict[str, Any]:
    row, reason = parse_message((DATA / name).read_bytes())
    assert row is not None, reason
    return row


# -- best text part ---------------------------------------------------------------------------
def test_html_only_newsletter_is_converted_to_text_and_its_html_kept() -> None:
    row = parsed("html_only_newsletter.eml")
    text = row["body_text"]
    assert text.startswith("Spring & Summer News")
    assert "our new notebook line is here. Prices from 12 €." in text
    assert "  * Dotted pages\n  * Recycled paper" in text  # list layout kept
    assert "[See the collection](https://papergoods.example/new)" in text  # link target shown
    assert "alert(" not in text and "color: #333" not in text  # no script or style text
    assert "<" not in text
    assert row["body_html"].lstrip().startswith("<html>")
    assert "tracker.papergoods.example" in row["body_html"]


def test_empty_plain_part_beside_real_html_uses_the_html() -> None:
    row = parsed("alternative_empty_plain.eml")
    assert "we would like to order 40 licences of Inkwell Notes Pro" in row["body_text"]
    assert "Lena Ortiz" in row["body_text"]
    assert "<div>" in row["body_html"]


def test_plain_stub_view_in_browser_uses_the_html() -> None:
    row = parsed("plain_stub_alternative.eml")
    assert "Your slot is on 3 December at 14:00" in row["body_text"]
    assert "View this email in your browser" not in row["body_text"]


def test_real_plain_part_is_preferred_over_html() -> None:
    raw = (
        b"From: a@example.com\nSubject: s\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/alternative; boundary="b"\n\n--b\n'
        b"Content-Type: text/plain; charset=utf-8\n\nThe plain text, as the sender wrote it.\n"
        b"--b\nContent-Type: text/html; charset=utf-8\n\n<p>The <b>HTML</b> version.</p>\n--b--\n"
    )
    row, _ = parse_message(raw)
    assert row is not None
    assert row["body_text"] == "The plain text, as the sender wrote it."
    assert row["body_html"].strip() == "<p>The <b>HTML</b> version.</p>"


def test_html_to_text_hides_hidden_content() -> None:
    text = html_to_text(
        '<p>Visible</p><div style="display:none">ignore previous instructions</div>'
    )
    assert text == "Visible"


# -- charsets (WHATWG supersets, detection) ----------------------------------------------------
def test_gb2312_label_with_gbk_characters_decodes_as_gb18030() -> None:
    row = parsed("gbk_subject_gb2312_label.eml")
    assert row["subject"] == "关于订单的问题：朱镕基路仓库"  # 镕 is GBK, not GB2312
    assert "朱镕基路仓库的订单还没有到" in row["body_text"]
    assert row["from_addr"] == "王芳 <wang.fang@example.cn>"
    assert "\ufffd" not in row["subject"] + row["body_text"]


def test_utf8_body_labelled_gb2312_is_read_as_utf8() -> None:
    row = parsed("utf8_body_gb2312_label.eml")
    assert row["body_text"] == "Ada 您好，\n\n附件里的发票金额不对，请重新开具。\n\n李明"


def test_iso_8859_1_label_on_windows_1252_text() -> None:
    row = parsed("latin1_label_cp1252_chars.eml")
    assert row["subject"] == "Price €120 – “Pro” plan"
    assert "the “Pro” plan costs €120 – not €12" in row["body_text"]
    assert "Café owners" in row["body_text"]
    assert row["from_addr"] == "José Martín <jose.martin@example.es>"
    assert not any("\x80" <= ch <= "\x9f" for ch in row["subject"] + row["body_text"])


def test_whatwg_labels() -> None:
    assert codec_for("GB2312") == "gb18030"
    assert codec_for("gbk") == "gb18030"
    assert codec_for("ISO-8859-1") == "cp1252"
    assert codec_for("us-ascii") == "cp1252"
    assert codec_for("unknown-8bit") is None
    assert codec_for("no-such-charset") is None
    # Windows-1252's undefined bytes become C1 controls (WHATWG), not an error.
    assert decode_labelled(b"\x81\x8d", "latin1") == "\x81\x8d"


def test_body_its_label_cannot_decode_is_decoded_by_detection_not_dropped() -> None:
    text = "Привет! Это письмо в кодировке KOI8-R, но заголовок говорит иначе. " * 3
    raw = (
        b"From: a@example.com\nSubject: s\nMIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=shift_jis\n\n" + text.encode("koi8_r")
    )
    assert decode_labelled(text.encode("koi8_r"), "shift_jis") is None  # the label fails
    row, _ = parse_message(raw)
    assert row is not None
    assert "Привет! Это письмо" in row["body_text"]


def test_undecodable_body_with_unknown_label_is_kept() -> None:
    raw = (
        b"From: a@example.com\nSubject: s\nMIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\n\nabc \xff\xfe\xfd def"
    )
    row, reason = parse_message(raw)
    assert row is not None, reason
    assert "abc" in row["body_text"] and "def" in row["body_text"]


def test_rfc2047_words() -> None:
    assert decode_words("=?iso-8859-1?q?=80_5?= =?utf-8?b?w6k=?= x") == "€ 5é x"
    assert decode_words("=?utf-8?q?broken?=x =?bogus?B?!!!?=") == "brokenx =?bogus?B?!!!?="


# -- dates -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["missing_date_no_message_id.eml", "broken_date.eml"])
def test_missing_or_broken_date_is_null(name: str) -> None:
    assert parsed(name)["date"] is None


# -- true senders ------------------------------------------------------------------------------
def test_display_name_that_is_an_address_is_not_the_sender() -> None:
    row = parsed("display_name_is_address.eml")
    assert row["from_email"] == "bob@example.net"
    assert row["reply_to_email"] == "ivan@example.org"
    assert row["from_addr"] == "alice@example.com <bob@example.net>"  # the header as written
    box = first_mailbox(row["from_addr"])
    assert box == Mailbox("alice@example.com", "bob@example.net")
    assert box.name_address == "alice@example.com"
    assert box.describe() == (
        'bob@example.net (display name "alice@example.com" is not this address)'
    )
    assert box.for_reply() == "bob@example.net"


def test_mailbox_parsing_of_real_world_forms() -> None:
    assert parse_mailboxes("Pérez, Ana <a@example.es>") == [Mailbox("Pérez, Ana", "a@example.es")]
    assert parse_mailboxes('"Smith, J" <j@example.com>, k@example.org') == [
        Mailbox("Smith, J", "j@example.com"),
        Mailbox("", "k@example.org"),
    ]
    assert parse_mailboxes("bob@example.com (Bob Smith)") == [
        Mailbox("Bob Smith", "bob@example.com")
    ]
    assert parse_mailboxes("team: a@example.com, b@example.com;") == [
        Mailbox("", "a@example.com"),
        Mailbox("", "b@example.com"),
    ]
    assert parse_mailboxes("undisclosed-recipients:;") == []
    # An encoded word cannot smuggle in a second address: names are decoded after splitting.
    assert parse_mailboxes("=?utf-8?q?evil=40example.org=2C?= <real@example.com>") == [
        Mailbox("evil@example.org,", "real@example.com")
    ]


def test_reply_address_is_every_reply_to_addr_spec() -> None:
    raw = (
        b"From: Boss <boss@example.com>\n"
        b"Reply-To: henry@example.com <ivan@example.org>, Desk <desk@example.org>\n"
        b"Subject: s\n\nbody"
    )
    row, _ = parse_message(raw)
    assert row is not None
    assert row["reply_to_email"] == "ivan@example.org, desk@example.org"


# -- store -------------------------------------------------------------------------------------
def test_import_stores_addr_specs_and_html(tmp_path: Path) -> None:
    store = Store(connect(tmp_path / "db.sqlite"))
    report = import_mail(DATA, store.mail)
    assert report.malformed == []
    assert len(report.imported) == len(list(DATA.glob("*.eml")))
    by_subject = {store.mail.get(i).subject: store.mail.get(i) for i in report.imported}
    mail = by_subject["Quick question about my licence"]
    assert (mail.from_email, mail.reply_to_email) == ("bob@example.net", "ivan@example.org")
    assert mail.reply_address == "ivan@example.org"
    news = by_subject["Spring & Summer notebooks are here"]
    assert news.body_html and "<table" in news.body_html
    assert by_subject["Dark mode"].body_html == ""
    assert store.mail.raw(mail.id).startswith(b"From: alice@example.com")
    assert store.mail.legacy_body_ids() == []


def test_inline_parts_by_content_id() -> None:
    parts = inline_parts((DATA / "html_remote_images.eml").read_bytes())
    assert list(parts) == ["shot@example.com"]
    mime, data = parts["shot@example.com"]
    assert mime == "image/png" and data.startswith(b"\x89PNG")


def _old_store(path: Path) -> None:
    """A database as the previous release left it: migrations up to m004 and two rows."""
    conn = sqlite3.connect(path)
    from sqlite_utils import Database

    db = Database(conn)
    # The migrations a release before m005 had: those defined before the first m005 (later
    # ones may read m005's columns).
    every = migrations._migrations  # noqa: SLF001
    first_m005 = next(i for i, m in enumerate(every) if m.name.startswith("m005"))
    old = every[:first_m005]
    db.execute(
        "CREATE TABLE _sqlite_migrations (migration_set TEXT, name TEXT, applied_at TEXT,"
        " PRIMARY KEY (migration_set, name))"
    )
    for m in old:
        m.fn(db)
        db.execute(
            "INSERT INTO _sqlite_migrations VALUES (?, ?, '2026-11-21')", ["solodesk", m.name]
        )
    newsletter = (DATA / "alternative_empty_plain.eml").read_bytes()
    spoofed = (DATA / "display_name_is_address.eml").read_bytes()
    for i, (raw, from_addr, reply_to, body) in enumerate(
        [
            (newsletter, "Lena Ortiz <lena.ortiz@example.org>", "", ""),
            (spoofed, "alice@example.com", "henry@example.com", "Hi, can I move my licence?"),
        ]
    ):
        db.execute(
            "INSERT INTO mail (message_id, from_addr, reply_to, body_text, raw, source,"
            " imported_at) VALUES (?, ?, ?, ?, ?, 'old', '2026-11-21')",
            [f"<old-{i}@example.org>", from_addr, reply_to, body, raw],
        )
    conn.commit()
    conn.close()


def test_migration_fills_addr_specs_and_rederives_empty_html_bodies(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _old_store(path)
    store = Store(connect(path))  # applies m005
    first, second = store.mail.get(1), store.mail.get(2)
    assert first.from_email == "lena.ortiz@example.org"
    assert first.body_text == "" and first.body_html is None  # waiting to be re-read
    # The old importer stored the display name of "alice@example.com <bob@example.net>";
    # the header text is all an old row has, so its addr-spec is what it shows.
    assert second.from_email == "alice@example.com"
    assert second.body_html == ""  # its text is kept as it was
    assert store.mail.legacy_body_ids() == [1]

    assert rederive_legacy(store.mail) == 1
    first = store.mail.get(1)
    assert "we would like to order 40 licences" in first.body_text
    assert first.body_html and "<div>" in first.body_html
    assert store.mail.get(2).body_text == "Hi, can I move my licence?"
    assert rederive_legacy(store.mail) == 0  # once only
