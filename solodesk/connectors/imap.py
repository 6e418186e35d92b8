"""Live mailbox over IMAP (RFC 3501): incremental sync, copies to Sent, ``\\Answered`` flags.

imapclient does the protocol; every IMAP command runs in one worker thread per operation, and
every database write runs on the caller's event loop thread between commands.

**Sync.** Each configured folder is synced incrementally by UIDVALIDITY and UID (RFC 3501
section 2.3.1.1), and, where the server has CONDSTORE (RFC 7162), HIGHESTMODSEQ tells an
unchanged folder without a search and which flags changed. New messages are fetched with
``BODY.PEEK[]`` (the founder's unread mail stays unread) in bounded batches (by count and by
bytes) and imported through ``connectors.mailimport.parse_message`` and ``MailRepo.insert``, like
``mail import``. Nothing is imported twice: a message whose Message-ID is stored is not even
downloaded, and each ``(folder, UIDVALIDITY, UID)`` is recorded with its mail row. A batch and
the folder's new position are committed together, so a connection dropped mid-sync resumes after
the last committed batch, without loss or duplicates. A changed UIDVALIDITY restarts the folder
from UID 1, and the Message-IDs keep that resync from importing anything twice.

**Failures.** A lost or refused connection is retried with exponential backoff (a bounded number
of consecutive attempts), each retry published as a :class:`~solodesk.core.events.Progress`
event; what cannot be fixed by retrying (settings, login, certificate, a missing folder) fails
at once with one line saying what to do. Credentials never travel unencrypted, except to a
server on this machine (127.0.0.0/8, ::1, localhost).

**After a reply is sent.** :meth:`ImapConnector.append_to_sent` files a copy in the Sent folder
(RFC 6154 ``\\Sent``), idempotently by Message-ID; :meth:`ImapConnector.mark_answered` sets
``\\Answered`` on the message replied to.
"""

from __future__ import annotations

import asyncio
import email.policy
import ipaddress
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from solodesk.connectors.mailimport import MAX_MESSAGE_BYTES, _quick_message_id, parse_message
from solodesk.core.events import EventBus, Progress, RunFailed
from solodesk.store.config import Config, ConfigError
from solodesk.store.imapstate import StaleSyncState, SyncedMessage
from solodesk.store.repos import Store
from solodesk.store.secrets import SecretError, SecretStore

log = logging.getLogger(__name__)

T = TypeVar("T")
Security = Literal["ssl", "starttls", "none"]

#: At most this many message bodies per fetch and per database transaction.
BATCH_MESSAGES = 50
#: At most this many bytes of message bodies per batch (a larger message is a batch alone).
BATCH_BYTES = 16 * 1024 * 1024
#: UIDs whose headers are fetched in one command.
HEADER_CHUNK = 500
#: Consecutive failed connection attempts before a sync gives up.
RETRIES = 5
#: First backoff delay in seconds; it doubles with every consecutive failure, up to BACKOFF_MAX_S.
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 60.0
TASK = "mail_sync"

SEEN = rb"\Seen"
ANSWERED = rb"\Answered"
SENT = rb"\Sent"


class ImapError(Exception):
    """An IMAP operation failed; the message is one line saying what to do (never a secret)."""


class ImapConfigError(ImapError):
    """A setting or the password is missing or invalid."""


class ImapSecurityError(ImapError):
    """The connection would not be safe (no encryption to a remote host, untrusted certificate,
    no STARTTLS)."""


class ImapAuthError(ImapError):
    """The server refused the login."""


class ImapConnectionError(ImapError):
    """The server could not be reached or the connection was lost (retried with backoff)."""


class ImapFolderError(ImapError):
    """A folder does not exist or cannot be opened."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: ``localhost``, 127.0.0.0/8 or ::1 (literally; no DNS)."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


@dataclass(frozen=True, slots=True)
class ImapSettings:
    """Where and how to reach the mailbox.

    Attributes:
        host: Server host name.
        port: TCP port (993 for ssl, 143 for starttls).
        security: ``ssl`` (implicit TLS), ``starttls`` or ``none`` (loopback hosts only).
        username: Login name.
        folders: Folders to sync, in order.
        sent_folder: Folder for copies of sent mail; ``""`` to detect it (RFC 6154 ``\\Sent``,
            else a folder named like ``Sent``, else ``Sent``).
        timeout: Seconds per IMAP command.
    """

    host: str
    port: int
    security: Security
    username: str
    folders: tuple[str, ...] = ("INBOX",)
    sent_folder: str = ""
    timeout: float = 30.0

    @property
    def account(self) -> str:
        """``user@host:port``: the key of this account's sync state."""
        return f"{self.username}@{self.host.lower()}:{self.port}"

    @classmethod
    def from_config(cls, config: Config) -> ImapSettings:
        """Read the ``imap.*`` settings.

        Raises:
            ImapConfigError: host or username unset, or a value out of range.
        """
        host = config.get("imap.host").strip()
        username = config.get("imap.username").strip()
        if not host:
            raise ImapConfigError(
                "IMAP is not configured: run 'solodesk config set imap.host HOST' "
                "(and imap.port, imap.security, imap.username, then "
                "'solodesk secrets set imap.password')"
            )
        if not username:
            raise ImapConfigError("no IMAP login: run 'solodesk config set imap.username NAME'")
        security = config.get("imap.security")
        if security not in ("ssl", "starttls", "none"):
            raise ImapConfigError("imap.security must be ssl, starttls or none")
        try:
            port = config.get_int("imap.port")
            timeout = float(config.get_int("imap.timeout"))
        except ConfigError as exc:
            raise ImapConfigError(str(exc)) from None
        if not 0 < port < 65536:
            raise ImapConfigError(f"imap.port must be between 1 and 65535, not {port}")
        folders = tuple(f.strip() for f in config.get("imap.folders").split(",") if f.strip())
        if not folders:
            raise ImapConfigError("imap.folders is empty: set it to INBOX (comma-separated list)")
        return cls(
            host=host,
            port=port,
            security=security,  # type: ignore[arg-type]
            username=username,
            folders=folders,
            sent_folder=config.get("imap.sent_folder").strip(),
            timeout=timeout,
        )


def check_transport(settings: ImapSettings) -> None:
    """Refuse to send credentials unencrypted, except to a loopback host.

    Raises:
        ImapSecurityError: ``security`` is ``none`` and the host is not this machine.
    """
    if settings.security == "none" and not is_loopback(settings.host):
        raise ImapSecurityError(
            f"imap.security is 'none': the password would cross the network unencrypted to "
            f"{settings.host}. Use 'ssl' (port 993) or 'starttls' (port 143); 'none' is only "
            "allowed for a server on this machine (127.0.0.1, ::1, localhost)"
        )


def imap_url(settings: ImapSettings, folder: str, uidvalidity: int, uid: int) -> str:
    """The RFC 5092 IMAP URL of one message (recorded as the mail's ``source``)."""
    return (
        f"imap://{quote(settings.username, safe='')}@{settings.host}:{settings.port}/"
        f"{quote(folder, safe='/')};UIDVALIDITY={uidvalidity}/;UID={uid}"
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())[:300]


# -- the blocking side: one logged-in IMAPClient, used from one worker thread ---------------------
@dataclass(frozen=True, slots=True)
class _FolderStatus:
    uidvalidity: int
    uidnext: int
    highestmodseq: int | None


@dataclass(frozen=True, slots=True)
class _Header:
    uid: int
    size: int
    message_id: str
    flags: str


def _flags(value: Iterable[bytes | str]) -> str:
    """Flags as stored: space-separated, without ``\\Recent`` (it belongs to one session)."""
    names = (v.decode("ascii", "replace") if isinstance(v, bytes) else str(v) for v in value)
    return " ".join(n for n in names if n.lower() != "\\recent")


class _Session:
    """A logged-in connection (blocking; only ever used from the connector's worker thread)."""

    def __init__(self, settings: ImapSettings, password: str, context: ssl.SSLContext) -> None:
        from imapclient import IMAPClient
        from imapclient.exceptions import CapabilityError, IMAPClientError, LoginError

        self.settings = settings
        where = f"{settings.host}:{settings.port}"
        client: Any = None
        try:
            client = IMAPClient(
                settings.host,
                port=settings.port,
                ssl=settings.security == "ssl",
                ssl_context=context,
                timeout=settings.timeout,
            )
            if settings.security == "starttls":
                try:
                    client.starttls(context)
                except CapabilityError:
                    raise ImapSecurityError(
                        f"{where} does not offer STARTTLS: set imap.security to ssl "
                        "(usually port 993)"
                    ) from None
            client.login(settings.username, password)
        except ImapError:
            _close_quietly(client)
            raise
        except LoginError as exc:
            _close_quietly(client)
            raise ImapAuthError(
                f"{where} refused the login of {settings.username} ({_reason(exc)}); check "
                "imap.username and the password ('solodesk secrets set imap.password'; "
                "providers with two-factor sign-in need an app password)"
            ) from None
        except ssl.SSLCertVerificationError as exc:
            _close_quietly(client)
            raise ImapSecurityError(
                f"the certificate of {where} is not trusted ({exc.verify_message}); check "
                "imap.host (it must match the certificate) or install the server's CA"
            ) from None
        except ssl.SSLError as exc:
            _close_quietly(client)
            raise ImapSecurityError(
                f"TLS with {where} failed ({_reason(exc)}); check imap.port and "
                "imap.security (993 = ssl, 143 = starttls)"
            ) from None
        except (OSError, IMAPClientError) as exc:
            _close_quietly(client)
            raise ImapConnectionError(f"cannot reach IMAP server {where}: {_reason(exc)}") from None
        self.client = client
        self.condstore = bool(client.has_capability("CONDSTORE"))
        if self.condstore:
            client.enable("CONDSTORE")

    def close(self) -> None:
        _close_quietly(self.client)

    def status(self, folder: str) -> _FolderStatus:
        from imapclient.exceptions import IMAPClientError

        what = ["UIDVALIDITY", "UIDNEXT"] + (["HIGHESTMODSEQ"] if self.condstore else [])
        try:
            data = self.client.folder_status(folder, what)
        except IMAPClientError as exc:
            if _is_abort(exc):
                raise
            raise ImapFolderError(
                f"folder {folder!r} cannot be opened on {self.settings.host} ({_reason(exc)}); "
                f"check imap.folders (the server has: {', '.join(self.folder_names())})"
            ) from None
        modseq = data.get(b"HIGHESTMODSEQ")
        return _FolderStatus(
            uidvalidity=int(data[b"UIDVALIDITY"]),
            uidnext=int(data.get(b"UIDNEXT", 0)),
            highestmodseq=None if modseq is None else int(modseq),
        )

    def folder_names(self) -> list[str]:
        return [str(name) for _flags_, _delim, name in self.client.list_folders()]

    def examine(self, folder: str) -> _FolderStatus:
        data = self.client.select_folder(folder, readonly=True)
        modseq = data.get(b"HIGHESTMODSEQ")
        return _FolderStatus(
            uidvalidity=int(data[b"UIDVALIDITY"]),
            uidnext=int(data.get(b"UIDNEXT", 0)),
            highestmodseq=None if modseq is None else int(modseq),
        )

    def uids_after(self, last_uid: int) -> list[int]:
        # "n:*" always includes the highest UID, even below n (RFC 3501 6.4.8): filter.
        return sorted(int(u) for u in self.client.search(["UID", f"{last_uid + 1}:*"])
                      if int(u) > last_uid)

    def changed_flags(self, last_uid: int, modseq: int) -> dict[int, str]:
        """Flags of stored messages changed since ``modseq`` (RFC 7162 MODSEQ search)."""
        uids = [int(u) for u in self.client.search(["MODSEQ", modseq + 1]) if int(u) <= last_uid]
        out: dict[int, str] = {}
        for start in range(0, len(uids), HEADER_CHUNK):
            chunk = uids[start : start + HEADER_CHUNK]
            for uid, item in self.client.fetch(chunk, ["FLAGS"]).items():
                out[int(uid)] = _flags(item.get(b"FLAGS", ()))
        return out

    def headers(self, uids: Sequence[int]) -> dict[int, _Header]:
        data = self.client.fetch(
            list(uids), ["RFC822.SIZE", "FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]
        )
        out: dict[int, _Header] = {}
        for uid, item in data.items():
            raw = item.get(b"BODY[HEADER.FIELDS (MESSAGE-ID)]") or b""
            out[int(uid)] = _Header(
                uid=int(uid),
                size=int(item.get(b"RFC822.SIZE", 0)),
                message_id=_quick_message_id(bytes(raw)),
                flags=_flags(item.get(b"FLAGS", ())),
            )
        return out

    def bodies(self, uids: Sequence[int]) -> dict[int, bytes]:
        data = self.client.fetch(list(uids), ["BODY.PEEK[]"])
        return {int(uid): bytes(item.get(b"BODY[]") or b"") for uid, item in data.items()}

    def find_message(self, folder: str, message_id: str, *, writable: bool) -> list[int]:
        """UIDs in ``folder`` whose Message-ID header is exactly ``message_id``."""
        self.client.select_folder(folder, readonly=not writable)
        candidates = [int(u) for u in self.client.search(["HEADER", "Message-ID", message_id])]
        if not candidates:
            return []
        heads = self.headers(candidates)
        return sorted(uid for uid, h in heads.items() if h.message_id == message_id)

    def uid_has_message(self, folder: str, uidvalidity: int, uid: int, message_id: str) -> bool:
        data = self.client.select_folder(folder)
        if int(data[b"UIDVALIDITY"]) != uidvalidity:
            return False
        head = self.headers([uid]).get(uid)
        return head is not None and head.message_id == message_id

    def add_flag(self, uid: int, flag: bytes) -> str:
        result = self.client.add_flags([uid], [flag])
        return _flags(result.get(uid, ())) if isinstance(result, dict) else ""

    def sent_folder(self) -> str:
        if self.settings.sent_folder:
            return self.settings.sent_folder
        found = self.client.find_special_folder(SENT)
        return str(found) if found else "Sent"

    def ensure_folder(self, folder: str) -> bool:
        """Create ``folder`` if missing; returns True if it was created."""
        if self.client.folder_exists(folder):
            return False
        self.client.create_folder(folder)
        return True

    def append(self, folder: str, raw: bytes, when: datetime | None) -> int | None:
        response = self.client.append(folder, raw, flags=(SEEN,), msg_time=when)
        text = response.decode("ascii", "replace") if isinstance(response, bytes) else ""
        marker = "[APPENDUID "
        if marker in text:  # RFC 4315 UIDPLUS
            parts = text[text.index(marker) + len(marker) :].split()
            if len(parts) >= 2 and parts[1].rstrip("]").isdigit():
                return int(parts[1].rstrip("]"))
        return None


def _is_abort(exc: BaseException) -> bool:
    from imapclient.exceptions import IMAPClientAbortError

    return isinstance(exc, IMAPClientAbortError)


def _is_imap_error(exc: BaseException) -> bool:
    from imapclient.exceptions import IMAPClientError

    return isinstance(exc, IMAPClientError)


def _close_quietly(client: Any) -> None:
    if client is None:
        return
    try:
        client.logout()
    except Exception:
        try:
            client.shutdown()
        except Exception:
            pass


def _connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` raised by an IMAP command means the connection is gone."""
    from imapclient.exceptions import IMAPClientAbortError

    return isinstance(exc, IMAPClientAbortError | OSError | EOFError)


# -- reports ---------------------------------------------------------------------------------------
@dataclass(slots=True)
class FolderReport:
    """What one sync did to one folder.

    Attributes:
        folder: The folder.
        new: Ids of the mail rows imported.
        skipped: Messages already stored (same Message-ID or UID).
        errors: Messages that could not be imported, each ``UID n: reason``.
        error: Why the folder could not be synced (one line with what to do), or ``""``.
        resynced: Its UIDVALIDITY had changed, so it was synced again from UID 1.
        unchanged: The server reported no change since the last sync (nothing fetched).
    """

    folder: str
    new: list[int] = field(default_factory=list)
    skipped: int = 0
    errors: list[str] = field(default_factory=list)
    error: str = ""
    resynced: bool = False
    unchanged: bool = False

    def line(self) -> str:
        """``INBOX: new 3, skipped 1, errors 0`` (plus the folder's error, if any)."""
        text = f"{self.folder}: new {len(self.new)}, skipped {self.skipped}, errors "
        text += str(len(self.errors) + (1 if self.error else 0))
        if self.resynced:
            text += " (UIDVALIDITY changed: folder checked again from the start)"
        if self.error:
            text += f" — {self.error}"
        return text


@dataclass(slots=True)
class SyncReport:
    """What one sync did.

    Attributes:
        account: ``user@host:port``.
        folders: One report per folder, in the order synced.
        retries: How many times the connection was retried.
        error: Why the whole sync failed (settings, login, server unreachable), or ``""``.
    """

    account: str
    folders: list[FolderReport] = field(default_factory=list)
    retries: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when every folder synced (messages in error do not count as failure)."""
        return not self.error and not any(f.error for f in self.folders)

    @property
    def new(self) -> int:
        return sum(len(f.new) for f in self.folders)


@dataclass(frozen=True, slots=True)
class AppendOutcome:
    """Result of :meth:`ImapConnector.append_to_sent`.

    Attributes:
        status: ``appended``, or ``already_present`` (a message with that Message-ID was
            already in the folder: nothing was added).
        folder: The Sent folder used.
        uid: The message's UID there (None if the server did not say; no UIDPLUS).
        created_folder: The folder did not exist and was created.
    """

    status: Literal["appended", "already_present"]
    folder: str
    message_id: str
    uid: int | None
    created_folder: bool = False


@dataclass(frozen=True, slots=True)
class AnsweredOutcome:
    """Result of :meth:`ImapConnector.mark_answered`.

    Attributes:
        status: ``flagged`` (``\\Answered`` is set now) or ``not_found``.
        folder: Where the message was found. ``uid``: its UID there.
        found_by: ``uid_mapping`` (from a sync) or ``search`` (HEADER Message-ID).
    """

    status: Literal["flagged", "not_found"]
    message_id: str
    folder: str = ""
    uid: int | None = None
    found_by: str = ""


# -- the async side --------------------------------------------------------------------------------
Sleep = Callable[[float], Awaitable[None]]


class ImapConnector:
    """Sync, file sent mail and flag answered mail on the founder's IMAP server.

    Args:
        config: Settings (read at each operation, so changes apply without a restart).
        secrets: The keyring; the password is the secret ``imap.password``.
        store: Where mail and sync state are stored (written on the caller's loop thread).
        bus: Progress and failures are published here.
        ssl_context: TLS context (default: the system's trusted CAs, host name checked).
        sleep: Waits between retries (injectable for tests).
        retries: Consecutive connection failures tolerated before giving up.
        backoff_base_s: First retry delay in seconds (doubles each time, at most
            ``BACKOFF_MAX_S``).
        batch_messages: Message bodies per fetch and transaction.
        batch_bytes: Bytes of message bodies per batch.
    """

    def __init__(
        self,
        *,
        config: Config,
        secrets: SecretStore,
        store: Store,
        bus: EventBus | None = None,
        ssl_context: ssl.SSLContext | None = None,
        sleep: Sleep = asyncio.sleep,
        retries: int = RETRIES,
        backoff_base_s: float = BACKOFF_BASE_S,
        batch_messages: int = BATCH_MESSAGES,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        self.config = config
        self.secrets = secrets
        self.store = store
        self.bus = bus or EventBus()
        self.ssl_context = ssl_context
        self.sleep = sleep
        self.retries = retries
        self.backoff_base_s = backoff_base_s
        self.batch_messages = max(1, batch_messages)
        self.batch_bytes = max(1, batch_bytes)

    # -- plumbing ------------------------------------------------------------------------------
    def settings(self) -> ImapSettings:
        """The current settings, checked for a safe transport.

        Raises:
            ImapConfigError: incomplete settings.
            ImapSecurityError: plaintext credentials to a non-loopback host.
        """
        settings = ImapSettings.from_config(self.config)
        check_transport(settings)
        return settings

    def _password(self) -> str:
        try:
            password = self.secrets.get("imap.password")
        except SecretError as exc:
            raise ImapConfigError(str(exc)) from None
        if not password:
            raise ImapConfigError("no IMAP password: run 'solodesk secrets set imap.password'")
        return password

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def _progress(self, done: int, total: int, message: str) -> None:
        self.bus.publish(Progress(task=TASK, done=done, total=total, message=message))

    def _delay(self, attempt: int) -> float:
        return float(min(BACKOFF_MAX_S, self.backoff_base_s * 2 ** (attempt - 1)))

    async def _retrying(
        self,
        operation: Callable[[_Session], T],
        settings: ImapSettings,
        password: str,
        what: str,
    ) -> T:
        """Connect and run ``operation`` in a worker thread, retrying lost connections."""
        loop = asyncio.get_running_loop()
        # Never waited for: a cancelled caller must not block the event loop on a slow command.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imap")
        failures = 0
        try:
            while True:
                session: _Session | None = None
                try:
                    session = await loop.run_in_executor(
                        pool, _Session, settings, password, self._context()
                    )
                    return await loop.run_in_executor(pool, operation, session)
                except ImapConnectionError as exc:
                    reason = str(exc)
                except ImapError:
                    raise
                except Exception as exc:
                    if not _connection_lost(exc):
                        raise
                    reason = f"connection to {settings.host} lost: {_reason(exc)}"
                finally:
                    if session is not None:
                        pool.submit(session.close)
                failures += 1
                if failures > self.retries:
                    raise ImapConnectionError(
                        f"{what} failed: {reason}; check your network and imap.host/imap.port"
                    )
                delay = self._delay(failures)
                self._progress(0, 0, f"IMAP: {reason}; retrying in {delay:g} s "
                               f"(attempt {failures + 1} of {self.retries + 1})")
                await self.sleep(delay)
        finally:
            pool.shutdown(wait=False)

    # -- sync ----------------------------------------------------------------------------------
    async def sync(self, folders: Sequence[str] | None = None) -> SyncReport:
        """Sync ``folders`` (default: the setting ``imap.folders``) once.

        Never raises for IMAP problems: they are in the report (and published as
        :class:`RunFailed`), one line each with what to do.

        Returns:
            Per folder: new, skipped, messages in error, and the folder's error if it failed.
        """
        try:
            settings = self.settings()
            password = self._password()
        except ImapError as exc:
            report = SyncReport(account="", error=str(exc))
            self.bus.publish(RunFailed(task=TASK, message=str(exc)))
            return report
        report = SyncReport(account=settings.account)
        pending = list(folders) if folders else list(settings.folders)
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imap-sync")
        session: _Session | None = None
        failures = 0

        def committed() -> None:  # progress was made: the next failure starts a new backoff
            nonlocal failures
            failures = 0

        try:
            current: FolderReport | None = None
            while pending:
                if current is None or current.folder != pending[0]:
                    current = FolderReport(folder=pending[0])
                    report.folders.append(current)
                try:
                    if session is None:
                        session = await loop.run_in_executor(
                            pool, _Session, settings, password, self._context()
                        )
                    await self._sync_folder(loop, pool, session, settings, current, committed)
                    pending.pop(0)
                    continue
                except ImapFolderError as exc:
                    current.error = str(exc)
                    self.store.imap.record_error(settings.account, current.folder, str(exc))
                    pending.pop(0)
                    continue
                except ImapConnectionError as exc:
                    reason = str(exc)
                except ImapError as exc:  # settings, login, certificate: retrying cannot help
                    report.error = current.error = str(exc)
                    report.folders += [FolderReport(n, error="not synced") for n in pending[1:]]
                    break
                except Exception as exc:
                    if not _connection_lost(exc):
                        if not _is_imap_error(exc):
                            raise
                        current.error = (
                            f"the server refused a command on {current.folder} ({_reason(exc)}); "
                            "run 'solodesk mail sync' again, and check the server if it persists"
                        )
                        self.store.imap.record_error(settings.account, current.folder,
                                                     current.error)
                        pending.pop(0)
                        continue
                    reason = f"connection to {settings.host} lost: {_reason(exc)}"
                if session is not None:
                    await loop.run_in_executor(pool, session.close)
                    session = None
                failures += 1
                if failures > self.retries:
                    report.error = current.error = (
                        f"{reason}; gave up after {failures} attempts. Check your network and "
                        "imap.host/imap.port, then run 'solodesk mail sync' again (what was "
                        "fetched so far is kept)"
                    )
                    self.store.imap.record_error(settings.account, current.folder, report.error)
                    report.folders += [FolderReport(n, error="not synced") for n in pending[1:]]
                    break
                report.retries += 1
                delay = self._delay(failures)
                self._progress(0, 0, f"IMAP: {reason}; retrying in {delay:g} s "
                               f"(attempt {failures + 1} of {self.retries + 1})")
                await self.sleep(delay)
        finally:
            if session is not None:
                pool.submit(session.close)  # logout on the worker thread, not awaited
            pool.shutdown(wait=False)
        count = len(report.folders)
        self._progress(count, count, f"mail sync: {report.new} new in {count} folder(s)")
        if not report.ok:
            failed = [f"{f.folder}: {f.error}" for f in report.folders if f.error]
            first = report.error or failed[0]
            self.bus.publish(RunFailed(task=TASK, message=first))
        return report

    async def _sync_folder(
        self,
        loop: asyncio.AbstractEventLoop,
        pool: ThreadPoolExecutor,
        session: _Session,
        settings: ImapSettings,
        report: FolderReport,
        committed: Callable[[], None],
    ) -> None:
        """Sync one folder from its stored state; commits batch by batch."""

        async def call(fn: Callable[..., T], *args: Any) -> T:
            return await loop.run_in_executor(pool, fn, *args)

        folder, account = report.folder, settings.account
        status = await call(session.status, folder)
        before = self.store.imap.folder(account, folder)
        state = self.store.imap.start_folder(account, folder, status.uidvalidity)
        if before is not None and before.uidvalidity != status.uidvalidity:
            report.resynced = True
        if (
            state.synced_at is not None
            and status.uidnext - 1 <= state.last_uid
            and (not session.condstore or status.highestmodseq == state.highestmodseq)
        ):
            report.unchanged = True
            self.store.imap.finish_folder(
                account, folder, state.uidvalidity, highestmodseq=state.highestmodseq,
                last_uid=state.last_uid,
            )
            return
        opened = await call(session.examine, folder)
        if opened.uidvalidity != state.uidvalidity:
            raise ImapConnectionError(f"{folder} changed UIDVALIDITY while being opened")
        if session.condstore and state.highestmodseq is not None and state.last_uid:
            changed = await call(session.changed_flags, state.last_uid, state.highestmodseq)
            self.store.imap.update_flags(account, folder, state.uidvalidity, changed)
        uids = await call(session.uids_after, state.last_uid)
        total = len(uids)
        done = 0
        self._progress(0, total, f"{folder}: {total} message(s) to check")
        for start in range(0, total, HEADER_CHUNK):
            chunk = uids[start : start + HEADER_CHUNK]
            heads = await call(session.headers, chunk)
            known = self.store.imap.known_message_ids(h.message_id for h in heads.values())
            batch: list[_Header] = []
            body_count = body_bytes = 0
            for uid in chunk:
                head = heads.get(uid)
                if head is None:  # expunged since the search
                    continue
                batch.append(head)
                if head.message_id not in known and head.size <= MAX_MESSAGE_BYTES:
                    body_count += 1
                    body_bytes += head.size
                if body_count >= self.batch_messages or body_bytes >= self.batch_bytes:
                    done += await self._commit(call, session, settings, report, state.uidvalidity,
                                               batch, known)
                    committed()
                    self._progress(done, total, f"{folder}: {done}/{total}")
                    batch, body_count, body_bytes = [], 0, 0
            if batch:
                done += await self._commit(call, session, settings, report, state.uidvalidity,
                                           batch, known)
                committed()
                self._progress(done, total, f"{folder}: {done}/{total}")
        self.store.imap.finish_folder(
            account, folder, state.uidvalidity, highestmodseq=opened.highestmodseq,
            last_uid=opened.uidnext - 1,
        )

    async def _commit(
        self,
        call: Callable[..., Awaitable[Any]],
        session: _Session,
        settings: ImapSettings,
        report: FolderReport,
        uidvalidity: int,
        batch: list[_Header],
        known: set[str],
    ) -> int:
        """Fetch the bodies a batch needs, parse them, and store the batch in one transaction."""
        folder = report.folder
        wanted = [
            h.uid for h in batch if h.message_id not in known and h.size <= MAX_MESSAGE_BYTES
        ]
        bodies: dict[int, bytes] = await call(session.bodies, wanted) if wanted else {}
        messages: list[SyncedMessage] = []
        sources: dict[int, str] = {}
        errors: list[str] = []
        for h in batch:
            if h.message_id and h.message_id in known:
                messages.append(SyncedMessage(h.uid, h.message_id, h.flags))
                continue
            if h.size > MAX_MESSAGE_BYTES:
                why = f"larger than {MAX_MESSAGE_BYTES} bytes: not imported (still on the server)"
                messages.append(SyncedMessage(h.uid, h.message_id, h.flags, error=why))
                errors.append(f"UID {h.uid}: {why}")
                continue
            raw = bodies.get(h.uid)
            if raw is None:  # expunged between the header and body fetches
                continue
            row, reason = parse_message(raw)
            if row is None:
                why = reason or "cannot be parsed"
                messages.append(SyncedMessage(h.uid, h.message_id, h.flags, error=why))
                errors.append(f"UID {h.uid}: {why}")
                continue
            sources[h.uid] = imap_url(settings, folder, uidvalidity, h.uid)
            messages.append(SyncedMessage(h.uid, str(row["message_id"]), h.flags, row=row))
        try:
            result = self.store.imap.commit_batch(
                settings.account, folder, uidvalidity, messages, source=sources
            )
        except StaleSyncState as exc:
            raise ImapConnectionError(str(exc)) from None
        for m in messages:
            if m.row is not None:
                known.add(str(m.row["message_id"]))
        report.new += result.new
        report.skipped += result.skipped
        report.errors += errors
        for line in errors:
            log.warning("IMAP %s %s: %s", settings.account, folder, line)
        return len(batch)

    # -- after a reply is sent -----------------------------------------------------------------
    async def append_to_sent(self, raw: bytes, *, when: datetime | None = None) -> AppendOutcome:
        """File a copy of a sent message in the Sent folder, flagged ``\\Seen``.

        Idempotent by Message-ID: when the folder already holds a message with the same
        Message-ID (a retry, or the server's own copy), nothing is added. The folder is created
        when it does not exist.

        Args:
            raw: The RFC 5322 message as sent (bytes, CRLF line ends preferred).
            when: Its internal date (default: its Date header, else now; UTC if naive).

        Raises:
            ValueError: the message has no Message-ID (it could not be filed idempotently).
            ImapError: settings, login, or the server unreachable after the retries.
        """
        message_id = _quick_message_id(raw)
        if not message_id:
            raise ValueError("the message has no Message-ID header; it cannot be filed once only")
        when = when or _date_of(raw)
        settings = self.settings()
        password = self._password()

        def operation(session: _Session) -> AppendOutcome:
            folder = session.sent_folder()
            created = session.ensure_folder(folder)
            found = session.find_message(folder, message_id, writable=False)
            if found:
                return AppendOutcome("already_present", folder, message_id, found[0], created)
            uid = session.append(folder, raw, when)
            return AppendOutcome("appended", folder, message_id, uid, created)

        return await self._retrying(operation, settings, password, "filing the sent message")

    async def mark_answered(self, message_id: str) -> AnsweredOutcome:
        """Set ``\\Answered`` on the message with ``message_id`` (the mail that was replied to).

        Found through the UID recorded by a sync (checked to still hold that Message-ID), else
        by searching the synced folders for the Message-ID header. Setting a flag twice is
        harmless, so this can be retried.

        Raises:
            ImapError: settings, login, or the server unreachable after the retries.
        """
        settings = self.settings()
        password = self._password()
        locations = self.store.imap.locate(message_id, account=settings.account)

        def operation(session: _Session) -> tuple[AnsweredOutcome, str]:
            for loc in locations:
                if session.uid_has_message(loc.folder, loc.uidvalidity, loc.uid, message_id):
                    flags = session.add_flag(loc.uid, ANSWERED)
                    return (
                        AnsweredOutcome("flagged", message_id, loc.folder, loc.uid,
                                        "uid_mapping"),
                        flags,
                    )
            folders = list(dict.fromkeys([*(loc.folder for loc in locations), *settings.folders]))
            names = set(session.folder_names())
            for folder in folders:
                if folder not in names:
                    continue
                found = session.find_message(folder, message_id, writable=True)
                if found:
                    flags = session.add_flag(found[0], ANSWERED)
                    return AnsweredOutcome("flagged", message_id, folder, found[0], "search"), flags
            return AnsweredOutcome("not_found", message_id), ""

        outcome, flags = await self._retrying(
            operation, settings, password, "flagging the answered message"
        )
        if outcome.status == "flagged" and outcome.uid is not None and flags:
            state = self.store.imap.folder(settings.account, outcome.folder)
            if state is not None:
                self.store.imap.update_flags(
                    settings.account, outcome.folder, state.uidvalidity, {outcome.uid: flags}
                )
        return outcome


def _date_of(raw: bytes) -> datetime:
    """The Date header of ``raw`` as an aware datetime, else now (UTC)."""
    try:
        value = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw).get("Date")
        if value:
            parsed = parsedate_to_datetime(str(value))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (TypeError, ValueError, IndexError):
        pass
    return datetime.now(UTC)
