"""The IMAP connector against a real Dovecot on loopback: incremental sync, no duplicates after a
reconnect, a server restart or a UIDVALIDITY change, APPEND to Sent and ``\\Answered``."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from solodesk.connectors.imap import (
    ImapConnector,
    ImapSecurityError,
    is_loopback,
)
from solodesk.connectors.mailimport import import_mail
from solodesk.core.events import EventBus, Progress, RunFailed
from solodesk.store.config import Config
from solodesk.store.db import connect
from solodesk.store.repos import Store
from solodesk.store.secrets import SecretStore
from tests.support import imap_server
from tests.support.imap_server import PASSWORD, USER, DovecotServer, sample_message
from tests.support.net import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    server = imap_server.start_server()
    try:
        yield server
    finally:
        server.close()


class Env:
    """A store, settings and keyring pointed at one Dovecot, and the events published."""

    def __init__(self, tmp: Path, server: DovecotServer, *, security: str = "starttls") -> None:
        self.server = server
        self.config = Config(tmp / "config.json")
        port = server.ssl_port if security == "ssl" else server.port
        for key, value in {
            "imap.host": "127.0.0.1",
            "imap.port": str(port),
            "imap.security": security,
            "imap.username": USER,
            "imap.timeout": "20",
        }.items():
            self.config.set(key, value)
        self.secrets = SecretStore()  # keyring's fail backend: kept in memory for the test
        self.secrets.set("imap.password", PASSWORD)
        self.db_path = tmp / "solodesk.db"
        self.store = Store(connect(self.db_path))
        self.bus = EventBus()
        self.progress: list[Progress] = []
        self.failures: list[RunFailed] = []
        self.bus.subscribe(Progress, self.progress.append)
        self.bus.subscribe(RunFailed, self.failures.append)

    def connector(self, **options: Any) -> ImapConnector:
        options.setdefault("ssl_context", self.server.ssl_context())
        return ImapConnector(
            config=self.config, secrets=self.secrets, store=self.store, bus=self.bus, **options
        )

    def message_ids(self) -> list[str]:
        return [r[0] for r in self.store.db.execute("SELECT message_id FROM mail ORDER BY id")]

    def retries(self) -> list[str]:
        return [p.message for p in self.progress if "retrying in" in p.message]


@pytest.fixture
def env(tmp_path: Path, dovecot: DovecotServer) -> Iterator[Env]:
    e = Env(tmp_path, dovecot)
    try:
        yield e
    finally:
        e.store.close()


def no_wait(seconds: float) -> Any:
    return asyncio.sleep(0)


@pytest.mark.parametrize("condstore", [True, False], ids=["condstore", "no-condstore"])
def test_incremental_sync(tmp_path: Path, run: Any, condstore: bool) -> None:
    server = imap_server.start_server(condstore=condstore)
    e = Env(tmp_path, server)
    try:
        raws = [sample_message(i) for i in range(1, 8)]
        server.deliver("INBOX", raws)
        server.deliver("Archive", [sample_message(50, folder="archive")])
        e.config.set("imap.folders", "INBOX, Archive")
        connector = e.connector(batch_messages=3)

        first = run(connector.sync())
        assert first.ok, first
        inbox, archive = first.folders
        assert (len(inbox.new), inbox.skipped, inbox.errors) == (7, 0, [])
        assert (len(archive.new), archive.skipped) == (1, 0)
        assert inbox.line() == "INBOX: new 7, skipped 0, errors 0"
        assert len(e.message_ids()) == 8
        mail = e.store.mail.get(inbox.new[0])
        assert mail.subject == "Question number 1"
        assert mail.source.startswith(f"imap://ada@127.0.0.1:{server.port}/INBOX;UIDVALIDITY=")
        raw = e.store.db.execute("SELECT raw FROM mail WHERE id = ?", [mail.id]).fetchone()[0]
        assert raw == raws[0]  # the exact bytes on the server
        batches = [p for p in e.progress if p.message.startswith("INBOX: ") and "/" in p.message]
        assert [p.done for p in batches] == [3, 6, 7]  # bounded batches of 3
        # The founder's unread mail stays unread (BODY.PEEK).
        assert all(b"\\Seen" not in flags for flags, _ in server.messages("INBOX").values())

        second = run(connector.sync())
        assert [len(f.new) for f in second.folders] == [0, 0]
        # Nothing fetched: HIGHESTMODSEQ (CONDSTORE) or UIDNEXT (without) says nothing changed.
        assert all(f.unchanged for f in second.folders)

        server.deliver("INBOX", [sample_message(8), sample_message(9)])
        third = run(connector.sync())
        assert (len(third.folders[0].new), third.folders[0].skipped) == (2, 0)
        assert len(e.message_ids()) == 10
        assert len(set(e.message_ids())) == 10
        assert e.store.imap.count() == 10
        state = e.store.imap.folder(f"ada@127.0.0.1:{server.port}", "INBOX")
        assert state.last_uid == 9
        assert (state.highestmodseq is not None) is condstore
    finally:
        e.store.close()
        server.close()


def test_flag_changes_are_seen_through_condstore(env: Env, run: Any) -> None:
    env.server.deliver("INBOX", [sample_message(1), sample_message(2)])
    connector = env.connector()
    run(connector.sync())
    client = env.server.client()
    try:
        client.select_folder("INBOX")
        client.add_flags([2], [b"\\Answered"])  # the founder replied from their phone
    finally:
        client.logout()
    report = run(connector.sync())
    assert not report.folders[0].unchanged  # HIGHESTMODSEQ moved
    (loc,) = env.store.imap.locate("<msg-2.inbox@customer.example>")
    assert loc.flags == "\\Answered"
    assert env.store.mail.count() == 2


def test_dropped_connection_mid_sync_resumes_without_loss_or_duplicates(
    env: Env, run: Any
) -> None:
    env.server.deliver("INBOX", [sample_message(i) for i in range(1, 21)])
    kicked: list[int] = []

    def kick_after_first_batch(event: Progress) -> None:
        if event.message == "INBOX: 5/20" and not kicked:
            env.server.kick()  # the server drops the connection between two batches
            kicked.append(env.store.mail.count())

    env.bus.subscribe(Progress, kick_after_first_batch)
    report = run(env.connector(batch_messages=5, sleep=no_wait).sync())
    assert kicked == [5]  # the first batch was committed before the drop
    assert report.ok, report
    assert report.retries == 1
    assert len(env.retries()) == 1 and "attempt 2 of 6" in env.retries()[0]
    assert (len(report.folders[0].new), report.folders[0].skipped) == (20, 0)
    ids = env.message_ids()
    assert len(ids) == 20 and len(set(ids)) == 20  # ...and nothing was lost or doubled
    assert env.store.imap.count() == 20
    assert env.failures == []


def test_server_restart_mid_sync_retries_with_backoff(env: Env, run: Any) -> None:
    env.server.deliver("INBOX", [sample_message(i) for i in range(1, 13)])
    waits: list[float] = []

    def stop_after_first_batch(event: Progress) -> None:
        if event.message == "INBOX: 4/12" and env.server.running:
            env.server.stop()  # the administrator restarts Dovecot

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:  # down for the first retry, back for the second
            env.server.start()

    env.bus.subscribe(Progress, stop_after_first_batch)
    report = run(env.connector(batch_messages=4, sleep=sleep, backoff_base_s=0.5).sync())
    assert report.ok, report
    assert waits == [0.5, 1.0]  # exponential backoff
    assert report.retries == 2
    print(f"retries: {env.retries()}")
    assert "connection" in env.retries()[0].lower()
    assert "cannot reach IMAP server" in env.retries()[1]
    ids = env.message_ids()
    assert len(ids) == 12 and len(set(ids)) == 12
    assert env.store.imap.count() == 12


def test_a_batch_that_never_committed_is_fetched_again(env: Env, run: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The process dies between fetching a batch and committing it: the folder position did
    not move, so the next sync fetches that batch again, and stores each message once."""
    env.server.deliver("INBOX", [sample_message(i) for i in range(1, 10)])
    real_commit = env.store.imap.commit_batch
    calls: list[int] = []

    def crash_on_second_batch(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise SystemExit("killed")  # as abrupt as it gets inside the process
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(env.store.imap, "commit_batch", crash_on_second_batch)
    with pytest.raises(SystemExit):
        run(env.connector(batch_messages=3).sync())
    assert env.store.mail.count() == 3
    account = f"ada@127.0.0.1:{env.server.port}"
    assert env.store.imap.folder(account, "INBOX").last_uid == 3
    monkeypatch.setattr(env.store.imap, "commit_batch", real_commit)
    report = run(env.connector(batch_messages=3).sync())
    assert (len(report.folders[0].new), report.folders[0].skipped) == (6, 0)
    ids = env.message_ids()
    assert len(ids) == 9 and len(set(ids)) == 9


def test_reconnect_after_a_complete_sync_imports_nothing_again(env: Env, run: Any) -> None:
    env.server.deliver("INBOX", [sample_message(i) for i in range(1, 6)])
    run(env.connector().sync())
    # Another process (a new connection, a fresh connector) syncs the same home.
    other = Store(connect(env.db_path))
    try:
        again = run(ImapConnector(config=env.config, secrets=env.secrets, store=other,
                                  ssl_context=env.server.ssl_context()).sync())
    finally:
        other.close()
    assert (len(again.folders[0].new), again.folders[0].error) == (0, "")
    assert env.store.mail.count() == 5


def test_uidvalidity_change_resyncs_without_importing_twice(env: Env, run: Any) -> None:
    env.server.deliver("INBOX", [sample_message(i) for i in range(1, 6)])
    connector = env.connector()
    run(connector.sync())
    account = f"ada@127.0.0.1:{env.server.port}"
    old = env.store.imap.folder(account, "INBOX").uidvalidity
    env.server.set_uidvalidity("INBOX", old + 1000)
    env.server.deliver("INBOX", [sample_message(6)])
    report = run(connector.sync())
    inbox = report.folders[0]
    assert inbox.resynced
    assert (len(inbox.new), inbox.skipped, inbox.errors) == (1, 5, [])
    assert "UIDVALIDITY changed" in inbox.line()
    assert env.store.mail.count() == 6
    assert env.store.imap.folder(account, "INBOX").uidvalidity == old + 1000
    assert env.store.imap.count(account, "INBOX") == 6  # old UIDs forgotten, all remapped
    assert {loc.uidvalidity for loc in env.store.imap.locate(
        "<msg-1.inbox@customer.example>")} == {old + 1000}


def test_folder_recreated_with_messages_in_another_order(env: Env, run: Any) -> None:
    """A folder deleted and rebuilt (a restore): new UIDVALIDITY, new UIDs, same mail."""
    env.config.set("imap.folders", "Clients")
    messages = [sample_message(i, folder="clients") for i in range(1, 5)]
    env.server.deliver("Clients", messages)
    connector = env.connector()
    run(connector.sync())
    client = env.server.client()
    try:
        client.delete_folder("Clients")
    finally:
        client.logout()
    env.server.deliver("Clients", list(reversed(messages)) + [sample_message(5, folder="clients")])
    report = run(connector.sync())
    clients = report.folders[0]
    assert clients.resynced
    assert (len(clients.new), clients.skipped) == (1, 4)
    assert env.store.mail.count() == 5
    (loc,) = env.store.imap.locate("<msg-1.clients@customer.example>")
    assert loc.uid == 4  # now last of the reversed four


def test_messages_that_cannot_be_imported_are_reported_by_uid(env: Env, run: Any) -> None:
    no_from = b"To: ada@solodesk.example\r\nSubject: no sender\r\nMessage-ID: <x@y>\r\n\r\nhi\r\n"
    env.server.deliver("INBOX", [sample_message(1), no_from, sample_message(3),
                                 sample_message(4, message_id="")])
    report = run(env.connector().sync())
    inbox = report.folders[0]
    assert report.ok  # a bad message does not fail the folder
    assert len(inbox.new) == 3  # including the one without a Message-ID (stand-in id)
    assert inbox.errors == ["UID 2: missing or invalid From header"]
    assert inbox.line() == "INBOX: new 3, skipped 0, errors 1"
    again = run(env.connector().sync())
    assert again.folders[0].errors == [] and again.folders[0].new == []
    # The message without Message-ID is recognised by its bytes when seen again.
    env.server.deliver("INBOX", [sample_message(4, message_id="")])
    third = run(env.connector().sync())
    assert (third.folders[0].new, third.folders[0].skipped) == ([], 1)


def test_a_missing_folder_fails_alone_and_says_what_exists(env: Env, run: Any) -> None:
    env.server.deliver("INBOX", [sample_message(1)])
    env.config.set("imap.folders", "Nope,INBOX")
    report = run(env.connector().sync())
    nope, inbox = report.folders
    assert "folder 'Nope' cannot be opened" in nope.error
    assert "check imap.folders (the server has: " in nope.error and "INBOX" in nope.error
    assert len(inbox.new) == 1 and inbox.error == ""
    assert not report.ok
    assert env.failures and "Nope" in env.failures[0].message


def test_implicit_tls_and_plain_loopback(tmp_path: Path, dovecot: DovecotServer,
                                         run: Any) -> None:
    dovecot.deliver("INBOX", [sample_message(1)])
    for security, home in (("ssl", "a"), ("none", "b")):
        (tmp_path / home).mkdir()
        e = Env(tmp_path / home, dovecot, security=security)
        try:
            report = run(e.connector().sync())
            assert report.ok and len(report.folders[0].new) == 1, (security, report)
        finally:
            e.store.close()


def test_plaintext_credentials_are_refused_to_a_remote_host(env: Env, run: Any) -> None:
    env.config.set("imap.host", "192.0.2.10")  # TEST-NET-1: never contacted
    env.config.set("imap.security", "none")
    report = run(env.connector(sleep=no_wait).sync())
    assert report.error.startswith(
        "imap.security is 'none': the password would cross the network unencrypted to "
        "192.0.2.10. Use 'ssl' (port 993) or 'starttls' (port 143)"
    )
    assert report.folders == [] and env.retries() == []
    assert env.failures[0].message == report.error
    with pytest.raises(ImapSecurityError):
        run(env.connector().append_to_sent(sample_message(1)))
    with pytest.raises(ImapSecurityError):
        run(env.connector().mark_answered("<msg-1.inbox@customer.example>"))


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("LOCALHOST.", True), ("::ffff:127.0.0.1", True),
     ("10.0.0.1", False), ("192.0.2.10", False), ("imap.example.com", False),
     ("localhost.example.com", False), ("::", False)],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_untrusted_certificate_is_refused(env: Env, run: Any) -> None:
    report = run(env.connector(ssl_context=ssl.create_default_context(), sleep=no_wait).sync())
    assert "is not trusted" in report.error
    assert "imap.host" in report.error
    assert report.retries == 0  # retrying cannot fix it


def test_wrong_password_fails_at_once_and_never_shows_the_password(env: Env, run: Any) -> None:
    env.secrets.set("imap.password", "not-the-password-777")
    report = run(env.connector(sleep=no_wait).sync())
    assert f"refused the login of {USER}" in report.error
    assert "solodesk secrets set imap.password" in report.error
    assert report.retries == 0
    assert "not-the-password-777" not in report.error
    assert env.store.mail.count() == 0


def test_missing_password_and_settings_say_what_to_run(env: Env, run: Any) -> None:
    env.secrets.delete("imap.password")
    report = run(env.connector().sync())
    assert report.error == "no IMAP password: run 'solodesk secrets set imap.password'"
    env.config.set("imap.host", "")
    assert run(env.connector().sync()).error.startswith(
        "IMAP is not configured: run 'solodesk config set imap.host HOST'"
    )


def test_unreachable_server_gives_up_after_bounded_retries(env: Env, run: Any) -> None:
    env.config.set("imap.port", str(free_port()))  # nothing listens there
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    report = run(env.connector(sleep=sleep, retries=3, backoff_base_s=2).sync())
    assert waits == [2, 4, 8]
    assert report.retries == 3
    assert "cannot reach IMAP server 127.0.0.1" in report.error
    assert "gave up after 4 attempts" in report.error
    assert "then run 'solodesk mail sync' again" in report.error
    assert [r.split(";")[1].strip() for r in env.retries()] == [
        "retrying in 2 s (attempt 2 of 4)", "retrying in 4 s (attempt 3 of 4)",
        "retrying in 8 s (attempt 4 of 4)",
    ]
    assert env.failures[-1].message == report.error
    account = f"ada@127.0.0.1:{env.config.get('imap.port')}"
    assert env.store.imap.folders(account) == []


def test_append_to_sent_is_idempotent_by_message_id(env: Env, run: Any) -> None:
    reply = sample_message(100, message_id="<reply-100@solodesk.example>",
                           sender="Ada Founder <ada@solodesk.example>")
    connector = env.connector()
    first = run(connector.append_to_sent(reply))
    assert (first.status, first.folder, first.created_folder) == ("appended", "Sent", False)
    second = run(connector.append_to_sent(reply))
    assert (second.status, second.uid) == ("already_present", first.uid)
    (entry,) = env.server.messages("Sent").items()
    uid, (flags, message_id) = entry
    assert uid == first.uid
    assert b"\\Seen" in flags and message_id == "<reply-100@solodesk.example>"
    with pytest.raises(ValueError, match="no Message-ID"):
        run(connector.append_to_sent(sample_message(5, message_id="")))


def test_append_finds_the_special_use_sent_folder(tmp_path: Path, run: Any) -> None:
    server = imap_server.start_server(sent_folder="Sent Items")
    e = Env(tmp_path, server)
    try:
        outcome = run(e.connector().append_to_sent(sample_message(7, folder="sent")))
        assert (outcome.status, outcome.folder) == ("appended", "Sent Items")
        assert len(server.messages("Sent Items")) == 1
        e.config.set("imap.sent_folder", "Outbox copies")  # the setting wins, created if missing
        chosen = run(e.connector().append_to_sent(sample_message(8, folder="sent")))
        assert (chosen.folder, chosen.created_folder) == ("Outbox copies", True)
    finally:
        e.store.close()
        server.close()


def test_append_without_a_sent_folder_creates_sent(tmp_path: Path, run: Any) -> None:
    server = imap_server.start_server(sent_folder=None)
    e = Env(tmp_path, server)
    try:
        outcome = run(e.connector().append_to_sent(sample_message(7, folder="sent")))
        assert (outcome.status, outcome.folder, outcome.created_folder) == (
            "appended", "Sent", True,
        )
    finally:
        e.store.close()
        server.close()


def test_mark_answered_through_the_uid_mapping(env: Env, run: Any) -> None:
    env.server.deliver("INBOX", [sample_message(1), sample_message(2)])
    connector = env.connector()
    run(connector.sync())
    outcome = run(connector.mark_answered("<msg-2.inbox@customer.example>"))
    assert (outcome.status, outcome.folder, outcome.uid, outcome.found_by) == (
        "flagged", "INBOX", 2, "uid_mapping",
    )
    flags = {uid: f for uid, (f, _) in env.server.messages("INBOX").items()}
    assert b"\\Answered" in flags[2] and b"\\Answered" not in flags[1]
    (loc,) = env.store.imap.locate("<msg-2.inbox@customer.example>")
    assert "\\Answered" in loc.flags
    again = run(connector.mark_answered("<msg-2.inbox@customer.example>"))  # harmless twice
    assert again.status == "flagged"


def test_mark_answered_after_a_move_searches_by_message_id(env: Env, run: Any,
                                                          tmp_path: Path) -> None:
    env.server.deliver("INBOX", [sample_message(1), sample_message(2)])
    connector = env.connector()
    run(connector.sync())
    client = env.server.client()
    try:
        client.create_folder("Clients")
        client.select_folder("INBOX")
        client.move([1], "Clients")  # the founder filed it; its old UID is gone
    finally:
        client.logout()
    env.config.set("imap.folders", "INBOX,Clients")
    outcome = run(connector.mark_answered("<msg-1.inbox@customer.example>"))
    assert (outcome.status, outcome.folder, outcome.found_by) == ("flagged", "Clients", "search")
    (flags, _mid), = env.server.messages("Clients").values()
    assert b"\\Answered" in flags
    # Mail that was imported from a file (no UID known) is found by search too.
    eml = tmp_path / "x.eml"
    eml.write_bytes(sample_message(9))
    env.server.deliver("INBOX", [sample_message(9)])
    import_mail(eml, env.store.mail)
    found = run(connector.mark_answered("<msg-9.inbox@customer.example>"))
    assert (found.status, found.found_by) == ("flagged", "search")
    missing = run(connector.mark_answered("<never-seen@example.com>"))
    assert missing.status == "not_found"


def test_the_password_is_stored_nowhere(env: Env, run: Any, tmp_path: Path) -> None:
    env.server.deliver("INBOX", [sample_message(1)])
    run(env.connector().sync())
    env.store.close()
    env.store = Store(connect(env.db_path))
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
