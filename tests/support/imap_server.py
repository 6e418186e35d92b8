"""A real IMAP server for tests: Debian's Dovecot (``dovecot-imapd``) with its own configuration.

Started as ``dovecot -F -c CONF`` with its own ``base_dir``, a ``passwd-file`` passdb, a static
userdb and Maildir storage in a temporary folder; it listens on 127.0.0.1 only, at free ports:
one for plain IMAP with STARTTLS, one for implicit TLS (IMAPS). The TLS certificate is
self-signed, made by the test with ``cryptography`` (SAN ``localhost`` and ``127.0.0.1``), so a
client trusts it through :meth:`DovecotServer.ssl_context` or ``SSL_CERT_FILE``. Dovecot offers
CONDSTORE/QRESYNC (RFC 7162); ``condstore=False`` hides them from CAPABILITY so the client's
fallback path can be tested.

No root daemon is needed: as a normal user every Dovecot process runs as that user. Run as root
(as in CI containers), Dovecot refuses root for its login and mail processes, so the login
process uses Dovecot's own ``dovenull``/``dovecot`` users and the mail processes ``nobody``; the
server's folder is then made under ``/tmp`` (pytest's temp folders are private to root).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from tests.support.net import free_ports

#: Where Debian installs the binaries (``/usr/sbin`` is not on every user's PATH).
SBIN = ("/usr/sbin", "/usr/local/sbin")
#: How long to wait for Dovecot to come up or go down (a deadline, not a measured assertion).
DEADLINE_S = 30.0

PASSWORD = "imap-Test-pass-2718"
USER = "ada"


class DovecotUnavailable(RuntimeError):
    """Dovecot is not installed or did not start; the message says why."""


def find_binary(name: str) -> str | None:
    """The path of a Dovecot binary (``dovecot``, ``doveadm``), or None."""
    found = shutil.which(name)
    if found:
        return found
    for folder in SBIN:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` and ``127.0.0.1``; returns (cert, key) paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


# Capabilities Dovecot 2.3 announces after login, minus CONDSTORE and QRESYNC.
_NO_CONDSTORE = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES "
    "THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN "
    "NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH "
    "LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ "
    "NOTIFY SPECIAL-USE"
)


class DovecotServer:
    """One Dovecot instance on loopback with one user (``ada``) and Maildir storage.

    Args:
        sent_folder: Name of the mailbox created with the ``\\Sent`` special-use flag (RFC 6154),
            or None for no special-use Sent folder.
        condstore: False hides CONDSTORE/QRESYNC from the capabilities.
    """

    host = "127.0.0.1"

    def __init__(self, *, sent_folder: str | None = "Sent", condstore: bool = True) -> None:
        dovecot = find_binary("dovecot")
        if dovecot is None:
            raise DovecotUnavailable("dovecot is not installed (apt-get install dovecot-imapd)")
        self.dovecot = dovecot
        self.doveadm_bin = find_binary("doveadm") or "doveadm"
        self.sent_folder = sent_folder
        self.condstore = condstore
        self.root = Path(tempfile.mkdtemp(prefix="solodesk-dovecot-"))
        self.root.chmod(0o755)
        self.port, self.ssl_port = free_ports(2)
        self.cert, self.key = make_certificate(self.root)
        self.maildir_root = self.root / "mail"
        self.maildir_root.mkdir()
        self.config = self.root / "dovecot.conf"
        self.log = self.root / "dovecot.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._write_config()

    # -- configuration ---------------------------------------------------------------------------
    def _users(self) -> tuple[str, str, str, int, int]:
        """(internal user, its group, login user, mail uid, mail gid) for our privileges."""
        import grp

        if os.geteuid() != 0:
            me = pwd.getpwuid(os.geteuid())
            group = grp.getgrgid(os.getegid()).gr_name
            return me.pw_name, group, me.pw_name, me.pw_uid, me.pw_gid
        nobody = pwd.getpwnam("nobody")
        internal = "dovecot" if _user_exists("dovecot") else "nobody"
        group = grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name
        login = "dovenull" if _user_exists("dovenull") else "nobody"
        os.chown(self.maildir_root, nobody.pw_uid, nobody.pw_gid)
        return internal, group, login, nobody.pw_uid, nobody.pw_gid

    def _write_config(self) -> None:
        internal, group, login, uid, gid = self._users()
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        sent = ""
        if self.sent_folder:
            sent = (
                f'  mailbox "{self.sent_folder}" {{\n'
                "    auto = create\n"
                "    special_use = \\Sent\n"
                "  }\n"
            )
        capability = "" if self.condstore else f"  imap_capability = {_NO_CONDSTORE}\n"
        r = self.root
        self.config.write_text(
            f"""
base_dir = {r}/run
state_dir = {r}/state
instance_name = solodesk-test-{self.port}
protocols = imap
listen = 127.0.0.1
log_path = {self.log}
ssl = yes
ssl_cert = <{self.cert}
ssl_key = <{self.key}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {group}
default_login_user = {login}
first_valid_uid = {min(uid, 100)}
first_valid_gid = 0
mail_location = maildir:{self.maildir_root}/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {r}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self.maildir_root}/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
{sent}}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.ssl_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
protocol imap {{
{capability}}}
"""
        )

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> DovecotServer:
        """Start Dovecot and wait until it greets on the IMAP port.

        Raises:
            DovecotUnavailable: it exited or did not answer before the deadline (with its log).
        """
        if self._proc is not None and self._proc.poll() is None:
            return self
        self._proc = subprocess.Popen(
            [self.dovecot, "-F", "-c", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(self.root / "dovecot.stderr").open("ab"),
            start_new_session=True,
        )
        deadline = time.monotonic() + DEADLINE_S
        while not self._greets():
            if self._proc.poll() is not None:
                raise DovecotUnavailable(f"dovecot exited: {self._logs()}")
            if time.monotonic() > deadline:
                self.stop()
                raise DovecotUnavailable(f"dovecot did not answer on {self.port}: {self._logs()}")
            time.sleep(0.05)
        return self

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=2) as s:
                return s.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop Dovecot and every process it started, as ``systemctl stop`` does (SIGTERM to
        the whole process group), and wait until its port is closed.

        Open client connections are dropped.
        """
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=DEADLINE_S)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=DEADLINE_S)
        deadline = time.monotonic() + DEADLINE_S
        while _signal_group(proc.pid, 0) and time.monotonic() < deadline:
            time.sleep(0.05)  # children (login, imap) exit after the master
        _signal_group(proc.pid, signal.SIGKILL)
        self._proc = None
        while self._listening() and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self) -> None:
        """Stop and start again (same storage, same ports)."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop and remove every file of this server."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _listening(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                return True
        except OSError:
            return False

    def _logs(self) -> str:
        parts = []
        for name in ("dovecot.log", "dovecot.stderr"):
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-2000:])
        return " | ".join(p.strip() for p in parts if p.strip()) or "(no log)"

    # -- clients and helpers ---------------------------------------------------------------------
    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's certificate (and verifies the host)."""
        return ssl.create_default_context(cafile=str(self.cert))

    def client(self) -> object:
        """An ``IMAPClient`` logged in as ``ada`` over STARTTLS (the caller logs out)."""
        from imapclient import IMAPClient

        c = IMAPClient(self.host, port=self.port, ssl=False, timeout=DEADLINE_S)
        c.starttls(self.ssl_context())
        c.login(USER, PASSWORD)
        return c

    def deliver(
        self, folder: str, messages: Iterable[bytes], *, flags: Sequence[bytes] = ()
    ) -> list[int]:
        """APPEND ``messages`` to ``folder`` (created if missing); returns their UIDs in order."""
        from imapclient import IMAPClient

        c = self.client()
        assert isinstance(c, IMAPClient)
        uids: list[int] = []
        try:
            if not c.folder_exists(folder):
                c.create_folder(folder)
            for raw in messages:
                response = c.append(folder, raw, flags=tuple(flags))
                uids.append(_appenduid(response))
        finally:
            c.logout()
        return uids

    def messages(self, folder: str) -> dict[int, tuple[tuple[bytes, ...], str]]:
        """``{uid: (flags, Message-ID)}`` of every message in ``folder`` (read-only)."""
        from imapclient import IMAPClient

        c = self.client()
        assert isinstance(c, IMAPClient)
        try:
            c.select_folder(folder, readonly=True)
            uids = c.search("ALL")
            data = c.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        finally:
            c.logout()
        out: dict[int, tuple[tuple[bytes, ...], str]] = {}
        for uid, item in data.items():
            header = item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode("ascii", "replace")
            mid = header.split(":", 1)[1].strip() if ":" in header else ""
            out[uid] = (tuple(item[b"FLAGS"]), mid)
        return out

    def doveadm(self, *args: str) -> str:
        """Run ``doveadm`` against this instance; returns its output.

        Raises:
            subprocess.CalledProcessError: doveadm failed (its stderr is in the exception).
        """
        result = subprocess.run(
            [self.doveadm_bin, "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=DEADLINE_S,
        )
        return result.stdout

    def set_uidvalidity(self, folder: str, value: int) -> None:
        """Give ``folder`` a new UIDVALIDITY (RFC 3501 2.3.1.1), as a server restore would."""
        self.doveadm("mailbox", "update", "-u", USER, "--uid-validity", str(value), folder)

    def uidvalidity(self, folder: str) -> int:
        from imapclient import IMAPClient

        c = self.client()
        assert isinstance(c, IMAPClient)
        try:
            return int(c.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])
        finally:
            c.logout()

    def kick(self) -> None:
        """Drop every connection of ``ada`` (the server side of a lost connection)."""
        self.doveadm("kick", USER)


def _signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to the process group ``pgid``; False if no process is left in it."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def _appenduid(response: bytes) -> int:
    """The UID from an APPEND response ``[APPENDUID <validity> <uid>]`` (RFC 4315)."""
    text = response.decode("ascii", "replace")
    start = text.index("[APPENDUID ")
    return int(text[start:].split()[2].rstrip("]"))


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def sample_message(
    n: int, *, folder: str = "INBOX", message_id: str | None = None, sender: str = ""
) -> bytes:
    """A small RFC 5322 message, numbered ``n`` (CRLF line ends, as IMAP carries them)."""
    mid = message_id if message_id is not None else f"<msg-{n}.{folder.lower()}@customer.example>"
    who = sender or f"Customer {n} <customer{n}@customer.example>"
    lines = [
        f"From: {who}",
        "To: Ada Founder <ada@solodesk.example>",
        f"Subject: Question number {n}",
        f"Date: Mon, 16 Nov 2026 08:{n % 60:02d}:00 +0100",
    ]
    if mid:
        lines.append(f"Message-ID: {mid}")
    lines += ["", f"Hello, this is question {n}.", "", "Thanks!"]
    return ("\r\n".join(lines) + "\r\n").encode()


def start_server(**options: object) -> DovecotServer:
    """A started :class:`DovecotServer`, for a fixture.

    Skips the test where Dovecot is not installed, but fails it under ``CI=true``: CI installs
    ``dovecot-imapd`` (``.ci/run``), so there a missing server is a broken setup, not a skip.
    """
    import pytest

    try:
        return DovecotServer(**options).start()  # type: ignore[arg-type]
    except DovecotUnavailable as exc:
        message = f"IMAP tests need Dovecot: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
