"""Filing a sent mail on the founder's IMAP server, as part of the approved effect.

After the SMTP server accepted an approved ``send_email``/``reply_email``, the outbox's mail
executor (``actions.executors.mail``) calls the ``imap_filing`` transport built here: a copy of
the message goes to the Sent folder (IMAP APPEND, RFC 3501; idempotent by Message-ID), and for a
reply the mail it answers gets the ``\\Answered`` flag. What was filed is one line added to the
execution's detail and fields added to its result (``imap_sent``, ``imap_answered``), both kept
with the action and in its audit entry. Where ``imap.host`` is not set nothing is filed. A
filing failure never turns the sent mail into a failure: the detail says what was not filed.

The copy is the same RFC 5322 message as sent (the same builder, the same Message-ID; only the
``Date`` header is the filing time).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from solodesk.core.actions import Action
from solodesk.core.events import EventBus
from solodesk.store.config import Config
from solodesk.store.repos import Store
from solodesk.store.secrets import SecretStore

#: ``file(action) -> (note, result fields)``; an empty note: nothing to file.
FileSent = Callable[[Action], Awaitable[tuple[str, dict[str, str]]]]


def imap_filing(config: Config, secrets: SecretStore, store: Store, bus: EventBus) -> FileSent:
    """The ``imap_filing`` transport over the ``imap.*`` settings and ``imap.password``."""

    async def file(action: Action) -> tuple[str, dict[str, str]]:
        if not config.get("imap.host").strip():
            return "", {}
        from solodesk.actions.outbox import _mime_builder
        from solodesk.actions.smtp import SmtpSettings, build_message
        from solodesk.connectors.imap import ImapConnector

        payload: dict[str, Any] = dict(action.payload)
        sender = SmtpSettings.from_config(config).from_addr
        if payload.get("attachments"):
            message = _mime_builder(action, store.blobs)(sender)
        else:
            message = build_message(payload, sender)
        raw = message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        connector = ImapConnector(config=config, secrets=secrets, store=store, bus=bus)
        notes: list[str] = []
        data: dict[str, str] = {}
        try:
            appended = await connector.append_to_sent(raw)
        except Exception as exc:
            notes.append(f"copy NOT filed in Sent: {exc}")
            data["imap_sent"] = "failed"
        else:
            where = f"{appended.folder}" + (f" (UID {appended.uid})" if appended.uid else "")
            notes.append(f"copy filed in {where}" if appended.status == "appended"
                         else f"copy already in {appended.folder}")
            data["imap_sent"] = f"{appended.status} {appended.folder} {appended.uid or ''}".strip()
        answered = str(payload.get("in_reply_to") or "")
        if answered:
            try:
                flagged = await connector.mark_answered(answered)
            except Exception as exc:
                notes.append(f"\\Answered NOT set on {answered}: {exc}")
                data["imap_answered"] = "failed"
            else:
                if flagged.status == "flagged":
                    notes.append(f"\\Answered set in {flagged.folder}")
                else:
                    notes.append(f"the answered mail {answered} was not found on the server")
                data["imap_answered"] = f"{flagged.status} {flagged.folder}".strip()
        return "IMAP: " + "; ".join(notes), data

    return file
