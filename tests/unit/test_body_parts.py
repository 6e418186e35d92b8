"""The one-walk body finder picks exactly the parts ``EmailMessage.get_body`` picks (issue 9:
the importer walked the MIME tree once per preference, parsing each Content-Type twice)."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest

from solodesk.connectors.mailimport import _quick_message_id, fingerprint, identify
from solodesk.connectors.mailparse import _body_parts, parse_bytes

DATA = Path(__file__).resolve().parents[1] / "data" / "mail"


def _get_body(msg: EmailMessage, subtype: str) -> object:
    try:
        return msg.get_body(preferencelist=(subtype,))
    except Exception:
        return None


def _related(start: bool) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "a@example.com"
    msg.set_content("plain first")
    msg.add_alternative("<p>html</p>", subtype="html")
    outer = EmailMessage()
    outer["From"] = "a@example.com"
    outer.make_related()
    html = EmailMessage()
    html.set_content("<p>the start part</p>", subtype="html")
    html["Content-ID"] = "<start@x>"
    other = EmailMessage()
    other.set_content("not the start", subtype="plain")
    outer.attach(other)
    outer.attach(html)
    if start:
        outer.set_param("start", "<start@x>")
    return outer


def _cases() -> list[tuple[str, bytes]]:
    cases = [(p.name, p.read_bytes()) for p in sorted(DATA.glob("*.eml"))]
    att = EmailMessage()
    att["From"] = "a@example.com"
    att.set_content("body text")
    att.add_attachment("attached text", filename="notes.txt")
    att.add_attachment("<p>attached html</p>", subtype="html", filename="page.html")
    alt = EmailMessage()
    alt["From"] = "a@example.com"
    alt.set_content("plain")
    alt.add_alternative("<p>html</p>", subtype="html")
    alt.make_mixed()
    alt.add_attachment(b"\x00" * 10, maintype="application", subtype="pdf", filename="a.pdf")
    html_first = EmailMessage()
    html_first["From"] = "a@example.com"
    html_first.set_content("<p>only html</p>", subtype="html")
    cases += [("attachments", bytes(att)), ("mixed-alternative", bytes(alt)),
              ("html-only", bytes(html_first)), ("related-start", bytes(_related(True))),
              ("related-no-start", bytes(_related(False))),
              ("broken-multipart", b"From: a@example.com\nContent-Type: multipart/related;"
               b" boundary=zz\n\nno parts at all\n"),
              ("no-content-type", b"From: a@example.com\n\nhello\n")]
    return cases


@pytest.mark.parametrize(("name", "raw"), _cases(), ids=[c[0] for c in _cases()])
def test_same_parts_as_get_body(name: str, raw: bytes) -> None:
    msg = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    plain, html = _body_parts(msg)
    assert plain is _get_body(msg, "plain")
    assert html is _get_body(msg, "html")


@pytest.mark.parametrize(("name", "raw"), _cases(), ids=[c[0] for c in _cases()])
def test_identify_reads_the_message_id_as_the_quick_reader_does(name: str, raw: bytes) -> None:
    assert identify(raw) == (fingerprint(raw), _quick_message_id(raw))


@pytest.mark.parametrize(("name", "raw"), _cases(), ids=[c[0] for c in _cases()])
def test_read_message_answers_as_the_standard_parser(name: str, raw: bytes) -> None:
    """Headers parsed once give the same answers as ``policy.default`` parsing them each time."""
    ours = parse_bytes(raw)
    std = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(std, EmailMessage)
    ours_parts, std_parts = list(ours.walk()), list(std.walk())
    assert len(ours_parts) == len(std_parts)
    for a, b in zip(ours_parts, std_parts, strict=True):
        assert a.get_content_type() == b.get_content_type()
        assert a.get_content_charset() == b.get_content_charset()
        assert a.is_attachment() == b.is_attachment()
        for key in b.keys():
            assert str(a[key]) == str(b[key])
        assert a["content-type"] is a["content-type"]  # parsed once


def test_a_header_changed_later_is_parsed_again() -> None:
    msg = parse_bytes(b"From: a@example.com\nContent-Type: text/plain; charset=latin-1\n\nhi\n")
    assert msg.get_content_charset() == "latin-1"
    msg.replace_header("Content-Type", "text/html; charset=utf-8")
    assert (msg.get_content_type(), msg.get_content_charset()) == ("text/html", "utf-8")
    del msg["Content-Type"]
    assert msg.get_content_type() == "text/plain" and msg.get_content_charset() is None
