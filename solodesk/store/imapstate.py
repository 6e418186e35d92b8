"""IMAP sync state: per folder, where the last sync stopped; per message, its UID and mail row.

A folder's state is its UIDVALIDITY and the highest UID imported (RFC 3501 section 2.3.1.1: UIDs
only grow while UIDVALIDITY stays the same), plus HIGHESTMODSEQ where the server has CONDSTORE
(RFC 7162). Each synced message's ``(account, folder, UIDVALIDITY, UID)`` is mapped to its row in
``mail``, so a later ``\\Answered`` flag or a move can find it on the server.

A batch of messages and the folder's new ``last_uid`` are written in one transaction: the state
never advances past a message that was not stored, and a message is never stored twice (the
Message-ID is unique in ``mail``; the UID key is unique here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from solodesk.core.actions import utcnow

if TYPE_CHECKING:
    from solodesk.store.repos import MailRepo


class StaleSyncState(Exception):
    """The folder's state changed under a batch (another sync reset it); nothing was written."""


@dataclass(frozen=True, slots=True)
class FolderState:
    """Where the sync of one folder of one account stands.

    Attributes:
        account: ``user@host:port`` of the IMAP account.
        folder: Mailbox name as the server spells it (``INBOX``, ``Archive/2026``).
        uidvalidity: The folder's UIDVALIDITY when ``last_uid`` was recorded.
        last_uid: Highest UID whose message is stored (0: none yet).
        highestmodseq: HIGHESTMODSEQ at the last complete sync (None without CONDSTORE).
        synced_at: UTC timestamp of the last complete sync, or None.
        last_error: One line about the last failed sync of this folder, or ``""``.
    """

    account: str
    folder: str
    uidvalidity: int
    last_uid: int
    highestmodseq: int | None
    synced_at: str | None
    last_error: str


@dataclass(frozen=True, slots=True)
class SyncedMessage:
    """One message of a batch, as the connector found it on the server.

    Attributes:
        uid: Its UID in the folder.
        message_id: Its Message-ID (RFC 5322), or ``""`` when it has none.
        flags: Its IMAP flags, space-separated (``\\Seen \\Answered``).
        row: The parsed mail row to store (see ``connectors.mailimport.parse_message``), or
            None when it is already stored (found by Message-ID) or could not be parsed.
        error: Why it could not be imported (with ``row`` None), or ``""``.
    """

    uid: int
    message_id: str
    flags: str = ""
    row: Mapping[str, Any] | None = None
    error: str = ""


@dataclass(slots=True)
class BatchResult:
    """What a committed batch did: new mail ids, messages already stored, messages in error."""

    new: list[int] = field(default_factory=list)
    skipped: int = 0
    errors: int = 0


@dataclass(frozen=True, slots=True)
class MessageLocation:
    """Where a stored mail is on the server (under the folder's current UIDVALIDITY)."""

    account: str
    folder: str
    uidvalidity: int
    uid: int
    message_id: str
    mail_id: int | None
    flags: str


def _state(row: Mapping[str, Any]) -> FolderState:
    return FolderState(
        account=row["account"],
        folder=row["folder"],
        uidvalidity=int(row["uidvalidity"]),
        last_uid=int(row["last_uid"]),
        highestmodseq=None if row["highestmodseq"] is None else int(row["highestmodseq"]),
        synced_at=row["synced_at"],
        last_error=row["last_error"],
    )


class ImapStateRepo:
    """Sync state of IMAP folders and the UID of every synced message."""

    def __init__(self, db: Database, mail: MailRepo) -> None:
        self.db = db
        self.mail = mail

    # -- folders -------------------------------------------------------------------------------
    def folder(self, account: str, folder: str) -> FolderState | None:
        """The state of ``folder`` of ``account``, or None if it was never synced."""
        rows = list(
            self.db.query(
                "SELECT * FROM imap_folders WHERE account = ? AND folder = ?", [account, folder]
            )
        )
        return _state(rows[0]) if rows else None

    def folders(self, account: str | None = None) -> list[FolderState]:
        """Every folder's state (of one account, or all), by account and folder name."""
        sql = "SELECT * FROM imap_folders"
        params: list[Any] = []
        if account is not None:
            sql += " WHERE account = ?"
            params.append(account)
        return [_state(r) for r in self.db.query(sql + " ORDER BY account, folder", params)]

    def start_folder(self, account: str, folder: str, uidvalidity: int) -> FolderState:
        """The state to sync ``folder`` from, given the server's current ``uidvalidity``.

        A folder seen for the first time starts at UID 0. When UIDVALIDITY changed (RFC 3501:
        the old UIDs mean nothing any more) the folder starts again at UID 0 and the old UID
        mappings are dropped; the mail rows stay, so the resync re-imports nothing (Message-ID).
        """
        with self.db.atomic():
            current = self.folder(account, folder)
            if current is not None and current.uidvalidity == uidvalidity:
                return current
            if current is None:
                self.db.execute(
                    "INSERT INTO imap_folders (account, folder, uidvalidity) VALUES (?, ?, ?)",
                    [account, folder, uidvalidity],
                )
            else:
                self.db.execute(
                    "UPDATE imap_folders SET uidvalidity = ?, last_uid = 0, highestmodseq = NULL"
                    " WHERE account = ? AND folder = ?",
                    [uidvalidity, account, folder],
                )
                self.db.execute(
                    "DELETE FROM imap_messages WHERE account = ? AND folder = ?"
                    " AND uidvalidity != ?",
                    [account, folder, uidvalidity],
                )
        state = self.folder(account, folder)
        assert state is not None
        return state

    def finish_folder(
        self,
        account: str,
        folder: str,
        uidvalidity: int,
        *,
        highestmodseq: int | None,
        last_uid: int = 0,
    ) -> None:
        """Record a complete sync of ``folder`` (clears its last error).

        Args:
            highestmodseq: The folder's HIGHESTMODSEQ when it was opened for this sync.
            last_uid: Every UID up to this one was examined (stored or gone): UIDNEXT - 1 at
                the time the folder was opened. ``last_uid`` never moves backwards.
        """
        with self.db.atomic():
            self.db.execute(
                "UPDATE imap_folders SET highestmodseq = ?, synced_at = ?, last_error = '',"
                " last_uid = max(last_uid, ?)"
                " WHERE account = ? AND folder = ? AND uidvalidity = ?",
                [highestmodseq, utcnow(), last_uid, account, folder, uidvalidity],
            )

    def record_error(self, account: str, folder: str, message: str) -> None:
        """Remember the one-line error of a failed sync of ``folder`` (if it has a state)."""
        with self.db.atomic():
            self.db.execute(
                "UPDATE imap_folders SET last_error = ? WHERE account = ? AND folder = ?",
                [message, account, folder],
            )

    # -- messages ------------------------------------------------------------------------------
    def commit_batch(
        self,
        account: str,
        folder: str,
        uidvalidity: int,
        messages: Sequence[SyncedMessage],
        *,
        source: Mapping[int, str],
    ) -> BatchResult:
        """Store a batch of messages and advance the folder's ``last_uid``, in one transaction.

        Args:
            account: ``user@host:port``.
            folder: The folder the messages are in.
            uidvalidity: The UIDVALIDITY the UIDs belong to.
            messages: The batch, any order; every UID up to the highest must be in it or
                already stored, since ``last_uid`` becomes the highest UID.
            source: For each UID with a row, the ``mail.source`` to record (an IMAP URL).

        Returns:
            New mail ids, and how many were already stored (by Message-ID or UID) or in error.

        Raises:
            StaleSyncState: the folder's UIDVALIDITY is no longer ``uidvalidity``.
        """
        result = BatchResult()
        if not messages:
            return result
        with self.db.atomic():
            cur = self.db.execute(
                "UPDATE imap_folders SET last_uid = max(last_uid, ?)"
                " WHERE account = ? AND folder = ? AND uidvalidity = ?",
                [max(m.uid for m in messages), account, folder, uidvalidity],
            )
            if cur.rowcount != 1:
                raise StaleSyncState(
                    f"{folder} of {account} changed UIDVALIDITY during the sync; sync again"
                )
            for m in sorted(messages, key=lambda m: m.uid):
                if self._has_uid(account, folder, uidvalidity, m.uid):
                    result.skipped += 1
                    continue
                mail_id: int | None = None
                message_id = m.message_id
                if m.row is not None:
                    row = dict(m.row)
                    row["source"] = source.get(m.uid, row.get("source", ""))
                    message_id = str(row["message_id"])
                    mail_id = self.mail.insert(row)
                    if mail_id is None:
                        result.skipped += 1
                        mail_id = self.mail_id_for(message_id)
                    else:
                        result.new.append(mail_id)
                elif m.error:
                    result.errors += 1
                else:
                    result.skipped += 1
                    mail_id = self.mail_id_for(message_id) if message_id else None
                self.db.execute(
                    "INSERT INTO imap_messages (account, folder, uidvalidity, uid, message_id,"
                    " mail_id, flags, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [account, folder, uidvalidity, m.uid, message_id, mail_id, m.flags, m.error],
                )
        return result

    def _has_uid(self, account: str, folder: str, uidvalidity: int, uid: int) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM imap_messages WHERE account = ? AND folder = ? AND uidvalidity = ?"
            " AND uid = ?",
            [account, folder, uidvalidity, uid],
        ).fetchone()
        return row is not None

    def known_message_ids(self, message_ids: Iterable[str]) -> set[str]:
        """Those of ``message_ids`` already stored in ``mail``."""
        wanted = [m for m in set(message_ids) if m]
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = self.db.execute(
                f"SELECT message_id FROM mail WHERE message_id IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            found.update(str(r[0]) for r in rows)
        return found

    def mail_id_for(self, message_id: str) -> int | None:
        """The id of the stored mail with ``message_id``, or None."""
        row = self.db.execute("SELECT id FROM mail WHERE message_id = ?", [message_id]).fetchone()
        return int(row[0]) if row else None

    def update_flags(
        self, account: str, folder: str, uidvalidity: int, flags: Mapping[int, str]
    ) -> int:
        """Record the current flags of messages (by UID); returns how many rows changed."""
        changed = 0
        with self.db.atomic():
            for uid, value in flags.items():
                cur = self.db.execute(
                    "UPDATE imap_messages SET flags = ? WHERE account = ? AND folder = ?"
                    " AND uidvalidity = ? AND uid = ? AND flags != ?",
                    [value, account, folder, uidvalidity, uid, value],
                )
                changed += cur.rowcount
        return changed

    def locate(self, message_id: str, *, account: str | None = None) -> list[MessageLocation]:
        """Where the message with ``message_id`` was seen, under each folder's current
        UIDVALIDITY (a mapping from before a UIDVALIDITY change is never returned)."""
        sql = (
            "SELECT m.* FROM imap_messages m JOIN imap_folders f ON f.account = m.account"
            " AND f.folder = m.folder AND f.uidvalidity = m.uidvalidity WHERE m.message_id = ?"
        )
        params: list[Any] = [message_id]
        if account is not None:
            sql += " AND m.account = ?"
            params.append(account)
        return [
            MessageLocation(
                account=r["account"],
                folder=r["folder"],
                uidvalidity=int(r["uidvalidity"]),
                uid=int(r["uid"]),
                message_id=r["message_id"],
                mail_id=None if r["mail_id"] is None else int(r["mail_id"]),
                flags=r["flags"],
            )
            for r in self.db.query(sql + " ORDER BY m.id", params)
        ]

    def count(self, account: str | None = None, folder: str | None = None) -> int:
        """Number of UID mappings (optionally of one account and folder)."""
        sql = "SELECT count(*) FROM imap_messages WHERE 1"
        params: list[Any] = []
        if account is not None:
            sql += " AND account = ?"
            params.append(account)
        if folder is not None:
            sql += " AND folder = ?"
            params.append(folder)
        return int(self.db.execute(sql, params).fetchone()[0])
