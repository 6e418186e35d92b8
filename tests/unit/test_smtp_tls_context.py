"""The SMTP client builds a TLS context only for TLS, once per process (issue 9: building one
loads the whole trust store, ~17 ms, and every send paid it even with ``security none``)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest

from solodesk.actions import smtp
from tests.support.smtp_server import SmtpSink

PAYLOAD = {
    "to": ["marta@example.com"], "cc": [], "subject": "Hi", "body": "Hello\n",
    "message_id": "<tls-test@solodesk.example>",
}


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    s = SmtpSink().start()
    try:
        yield s
    finally:
        s.stop()


def test_security_none_never_builds_an_ssl_context(
    sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[object] = []

    def refuse(*args: object, **kwargs: object) -> ssl.SSLContext:
        built.append(args)
        raise AssertionError("an SSL context was built for security none")

    monkeypatch.setattr(ssl, "create_default_context", refuse)
    monkeypatch.setattr(smtp, "_TLS_CONTEXTS", {})
    settings = smtp.SmtpSettings("127.0.0.1", sink.port, "none", "", "ada@solodesk.example")
    for n in range(3):
        outcome = smtp.send({**PAYLOAD, "message_id": f"<tls-{n}@solodesk.example>"}, settings,
                            None)
        assert outcome.status == "sent", outcome.detail
    assert built == []
    assert len(sink.messages) == 3


def test_the_tls_context_is_built_once_with_verification(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    calls: list[int] = []
    real = ssl.create_default_context

    def counting(*args: object, **kwargs: object) -> ssl.SSLContext:
        calls.append(1)
        return real()

    monkeypatch.setattr(ssl, "create_default_context", counting)
    monkeypatch.setattr(smtp, "_TLS_CONTEXTS", {})
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    first = smtp.tls_context()
    assert smtp.tls_context() is first and len(calls) == 1
    assert first.verify_mode is ssl.CERT_REQUIRED and first.check_hostname
    # Another trust store (SSL_CERT_FILE) gets its own context.
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")
    other = smtp.tls_context()
    assert other is not first and len(calls) == 2
    assert smtp.tls_context() is other and len(calls) == 2
