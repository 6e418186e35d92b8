"""The known-correspondents table is maintained by IMAP sync (a real Dovecot) and by the outbox
delivering over real SMTP (aiosmtpd), and the gates see it (issue 9)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from solodesk.core.actions import ActionStatus, Provenance
from solodesk.services import Services
from tests.integration.test_imap import Env
from tests.support import imap_server
from tests.support.helpers import propose_email
from tests.support.imap_server import sample_message
from tests.support.smtp_server import SmtpSink

pytestmark = pytest.mark.integration


def test_imap_sync_records_senders(tmp_path: Path, run: Any) -> None:
    server = imap_server.start_server()
    e = Env(tmp_path, server)
    try:
        server.deliver("INBOX", [
            sample_message(1, sender="Mia <MIA@shop.example>"),
            sample_message(2, sender="mia@shop.example"),
            sample_message(3),
        ])
        report = run(e.connector().sync())
        assert report.ok, report
        [inbox] = report.folders
        first = min(inbox.new)
        mia = e.store.correspondents.get("mia@shop.example")
        assert mia is not None and (mia.received, mia.first_mail_id) == (2, first)
        assert e.store.correspondents.get("customer3@customer.example") is not None
        # Synced again: nothing new, nothing counted twice.
        run(e.connector().sync())
        again = e.store.correspondents.get("mia@shop.example")
        assert again is not None and again.received == 2
    finally:
        e.store.close()
        server.close()


def test_delivery_over_smtp_makes_recipients_known_to_the_gates(
    services: Services, smtp_server: SmtpSink, run: Any
) -> None:
    store = services.store
    gates = services.runner.gates
    assert "marta.kowalski@example.com" not in gates.correspondents(Provenance("chat", 1)).known
    action = propose_email(store, reply=False)

    final = run(services.runner.approve(action.id))

    assert final.status is ActionStatus.EXECUTED and len(smtp_server.messages) == 1
    marta = store.correspondents.get("marta.kowalski@example.com")
    books = store.correspondents.get("books@inkwell.example")
    assert marta is not None and books is not None and (marta.sent, books.sent) == (1, 1)
    who = gates.correspondents(Provenance("chat", 1))
    assert "marta.kowalski@example.com" in who.known
    assert "example.com" in who.known.domains()
