"""Known correspondents: the addresses the founder has received mail from or sent mail to.

The gates ask, for each proposal, whether its recipients and the source mail's sender are
known. Answering that by parsing every stored mail made triage O(N²) in mailbox size; this
table keeps the answer, maintained in the same transaction as what changes it:

- a mail row inserted (every import path: mbox/eml/Maildir import and IMAP sync go through
  :meth:`solodesk.store.repos.MailRepo.insert`) counts its sender (``from_email``; not
  Reply-To, not the recipients: the founder has not corresponded with those yet);
- an action becoming ``executed`` (the outbox recording a delivered mail, or the founder
  confirming an ``unknown`` one) counts the To and Cc addresses of its payload.

Addresses are lower-cased addr-specs (RFC 5322 §3.4.1). ``first_mail_id`` is the smallest
``mail.id`` the address sent, so "known before mail N" (the gates' question for a proposal
derived from mail N) is ``first_mail_id < N OR sent > 0``; ``correspondent_domains`` holds the
same per domain (the phishing checks compare a sender's domain with every known domain).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlite_utils import Database

from solodesk.core.mail import domain_of

# Bound parameters per IN (...) query; SQLite allows 32,766 (250,000 since 3.32), we stay low.
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Correspondent:
    """One known address.

    Attributes:
        address: The lower-cased addr-spec.
        domain: Its lower-cased domain ('' when it has none).
        first_mail_id: The first stored mail from it (``mail.id``), or None if none came.
        received: Mails stored from it.
        sent: Delivered actions addressed to it (To or Cc).
        first_seen: When it was first seen (UTC ISO 8601: import or delivery time).
        last_seen: When it was last seen (same).
    """

    address: str
    domain: str
    first_mail_id: int | None
    received: int
    sent: int
    first_seen: str
    last_seen: str


def normalise(address: str) -> str:
    """The key of an addr-spec: stripped and lower-cased (as the gates compare addresses)."""
    return address.strip().lower()


def _upsert_address(
    db: Database, address: str, *, mail_id: int | None, received: int, sent: int, when: str
) -> None:
    domain = domain_of(address)
    db.execute(
        "INSERT INTO correspondents"
        " (address, domain, first_mail_id, received, sent, first_seen, last_seen)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (address) DO UPDATE SET"
        " first_mail_id = CASE WHEN first_mail_id IS NULL THEN excluded.first_mail_id"
        "   WHEN excluded.first_mail_id IS NULL THEN first_mail_id"
        "   ELSE min(first_mail_id, excluded.first_mail_id) END,"
        " received = received + excluded.received, sent = sent + excluded.sent,"
        " first_seen = min(first_seen, excluded.first_seen),"
        " last_seen = max(last_seen, excluded.last_seen)",
        [address, domain, mail_id, received, sent, when, when],
    )
    if domain:
        db.execute(
            "INSERT INTO correspondent_domains (domain, first_mail_id, sent) VALUES (?, ?, ?)"
            " ON CONFLICT (domain) DO UPDATE SET"
            " first_mail_id = CASE WHEN first_mail_id IS NULL THEN excluded.first_mail_id"
            "   WHEN excluded.first_mail_id IS NULL THEN first_mail_id"
            "   ELSE min(first_mail_id, excluded.first_mail_id) END,"
            " sent = sent + excluded.sent",
            [domain, mail_id, sent],
        )


def record_received(db: Database, address: str, *, mail_id: int, when: str) -> None:
    """Count a stored mail from ``address`` (call inside the transaction inserting the mail).

    Args:
        db: The database, inside a write transaction.
        address: The mail's ``from_email`` (any case); '' is ignored.
        mail_id: The new ``mail.id``.
        when: The import time (UTC ISO 8601).
    """
    key = normalise(address)
    if key:
        _upsert_address(db, key, mail_id=mail_id, received=1, sent=0, when=when)


def record_sent(db: Database, addresses: Iterable[str], *, when: str) -> None:
    """Count one delivered mail to each of ``addresses`` (To and Cc; duplicates count once).

    Args:
        db: The database, inside the write transaction recording the delivery.
        addresses: addr-specs (any case).
        when: The delivery time (UTC ISO 8601).
    """
    for key in dict.fromkeys(normalise(a) for a in addresses):
        if key:
            _upsert_address(db, key, mail_id=None, received=0, sent=1, when=when)


class CorrespondentRepo:
    """Reads of the known-correspondents table (writes happen with the mail and the outbox)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, address: str) -> Correspondent | None:
        """The row of ``address`` (any case), or None if it was never seen."""
        row = self.db.execute(
            "SELECT address, domain, first_mail_id, received, sent, first_seen, last_seen"
            " FROM correspondents WHERE address = ?",
            [normalise(address)],
        ).fetchone()
        return Correspondent(*row) if row is not None else None

    def known(self, addresses: Iterable[str], *, before: int | None = None) -> set[str]:
        """Which of ``addresses`` are known (one indexed lookup per chunk of 500).

        Args:
            addresses: Lower-cased addr-specs.
            before: A ``mail.id``: only mail stored before it counts as received (sent mail
                always counts). None: all stored mail counts.

        Returns:
            The known subset of ``addresses``.
        """
        wanted = sorted({a for a in addresses if a})
        found: set[str] = set()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ", ".join("?" for _ in chunk)
            if before is None:
                sql = f"SELECT address FROM correspondents WHERE address IN ({marks})"
                params: list[object] = list(chunk)
            else:
                sql = (
                    f"SELECT address FROM correspondents WHERE address IN ({marks})"
                    " AND (sent > 0 OR first_mail_id < ?)"
                )
                params = [*chunk, before]
            found.update(str(a) for (a,) in self.db.execute(sql, params).fetchall())
        return found

    def domains(self, *, before: int | None = None) -> set[str]:
        """The domains of known addresses (``before`` as in :meth:`known`)."""
        if before is None:
            rows = self.db.execute("SELECT domain FROM correspondent_domains").fetchall()
        else:
            rows = self.db.execute(
                "SELECT domain FROM correspondent_domains WHERE sent > 0 OR first_mail_id < ?",
                [before],
            ).fetchall()
        return {str(d) for (d,) in rows}

    def all(self, *, before: int | None = None) -> set[str]:
        """Every known address (``before`` as in :meth:`known`); a full read, for display."""
        if before is None:
            rows = self.db.execute("SELECT address FROM correspondents").fetchall()
        else:
            rows = self.db.execute(
                "SELECT address FROM correspondents WHERE sent > 0 OR first_mail_id < ?",
                [before],
            ).fetchall()
        return {str(a) for (a,) in rows}
