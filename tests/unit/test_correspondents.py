"""Known correspondents as an indexed table (issue 9): maintained on import and on delivery,
backfilled by the migration, looked up through the index, and the gates decide as before."""

from __future__ import annotations

import json
import mailbox
import random
import sqlite3
from email.message import EmailMessage
from pathlib import Path

from sqlite_utils import Database

from solodesk.connectors.mailimport import import_mail
from solodesk.core.actions import ActionStatus, Provenance
from solodesk.core.kinds.mail import SEND_EMAIL
from solodesk.core.risk import recipients
from solodesk.inbox.gates import Gates
from solodesk.store.config import Config
from solodesk.store.db import connect, migrations
from solodesk.store.owner import Owner
from solodesk.store.repos import Store


def _message(sender: str, n: int, *, to: str = "Ada <ada@inkwell.example>") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = f"Question {n}"
    msg["Message-ID"] = f"<q{n}@example.com>"
    msg.set_content(f"Hello, question {n}.\n")
    return msg


def _mbox(path: Path, messages: list[EmailMessage]) -> Path:
    box = mailbox.mbox(str(path))
    for msg in messages:
        box.add(msg)
    box.close()
    return path


def _deliver(store: Store, to: list[str], cc: list[str] | None = None, n: int = 0) -> int:
    """Propose, approve, claim and record a delivery (as the outbox does)."""
    action = store.actions.propose(
        kind=SEND_EMAIL,
        payload={"to": to, "cc": cc or [], "subject": f"Hi {n}", "body": "Hello\n",
                 "message_id": f"<sent{n}@inkwell.example>"},
        agent="manager", summary="hi", provenance=Provenance("chat", 1),
        idempotency_key=f"<sent{n}@inkwell.example>",
    )
    store.actions.approve(action.id)
    owner = Owner.current()
    assert store.actions.claim(action.id, owner=owner) is not None
    store.actions.finish(action.id, ActionStatus.EXECUTED, owner=owner, event="executed",
                         result={"status": "sent"})
    return action.id


def test_import_counts_senders_only_with_first_mail_and_counts(tmp_path: Path) -> None:
    store = Store(connect(tmp_path / "s.db"))
    box = _mbox(tmp_path / "in.mbox", [
        _message("Marta <Marta@Example.COM>", 1, to="ada@inkwell.example, bob@other.example"),
        _message("marta@example.com", 2),
        _message("Jonas <jonas@example.org>", 3),
    ])
    report = import_mail(box, store.mail)
    assert len(report.imported) == 3
    first, _second, third = report.imported

    marta = store.correspondents.get("MARTA@example.com")
    assert marta is not None
    assert (marta.address, marta.domain) == ("marta@example.com", "example.com")
    assert (marta.first_mail_id, marta.received, marta.sent) == (first, 2, 0)
    assert marta.first_seen <= marta.last_seen
    jonas = store.correspondents.get("jonas@example.org")
    assert jonas is not None and (jonas.first_mail_id, jonas.received) == (third, 1)
    # Recipients of received mail are not correspondents: the founder never wrote to them.
    assert store.correspondents.get("bob@other.example") is None
    assert store.correspondents.get("ada@inkwell.example") is None

    # Importing again adds nothing (duplicates are skipped).
    import_mail(box, store.mail)
    again = store.correspondents.get("marta@example.com")
    assert again is not None and again.received == 2


def test_eml_and_maildir_imports_are_counted(tmp_path: Path) -> None:
    store = Store(connect(tmp_path / "s.db"))
    eml = tmp_path / "one.eml"
    eml.write_bytes(bytes(_message("Lena <lena@example.net>", 1)))
    maildir = mailbox.Maildir(str(tmp_path / "md"))
    maildir.add(_message("Omar <omar@example.io>", 2))
    maildir.close()
    import_mail(eml, store.mail)
    import_mail(tmp_path / "md", store.mail)
    assert store.correspondents.known(["lena@example.net", "omar@example.io", "x@y.z"]) == {
        "lena@example.net", "omar@example.io"
    }


def test_delivery_counts_to_and_cc_once_per_mail(tmp_path: Path) -> None:
    store = Store(connect(tmp_path / "s.db"))
    _deliver(store, ["Bo <BO@shop.example>"], ["books@inkwell.example", "bo@shop.example"], 1)
    _deliver(store, ["bo@shop.example"], n=2)
    bo = store.correspondents.get("bo@shop.example")
    assert bo is not None and (bo.sent, bo.received, bo.first_mail_id) == (2, 0, None)
    books = store.correspondents.get("books@inkwell.example")
    assert books is not None and books.sent == 1
    # Approved but never delivered (failed): not a correspondent.
    action = store.actions.propose(
        kind=SEND_EMAIL,
        payload={"to": ["never@nowhere.example"], "cc": [], "subject": "x", "body": "x\n",
                 "message_id": "<never@inkwell.example>"},
        agent="manager", summary="x", provenance=Provenance("chat", 1),
        idempotency_key="<never@inkwell.example>",
    )
    store.actions.approve(action.id)
    owner = Owner.current()
    store.actions.claim(action.id, owner=owner)
    store.actions.finish(action.id, ActionStatus.FAILED, owner=owner, event="execution_failed",
                         result={"status": "failed"})
    assert store.correspondents.get("never@nowhere.example") is None


def test_confirmed_delivery_of_an_unknown_send_counts(tmp_path: Path) -> None:
    store = Store(connect(tmp_path / "s.db"))
    action = store.actions.propose(
        kind=SEND_EMAIL,
        payload={"to": ["eve@unsure.example"], "cc": [], "subject": "x", "body": "x\n",
                 "message_id": "<u@inkwell.example>"},
        agent="manager", summary="x", provenance=Provenance("chat", 1),
        idempotency_key="<u@inkwell.example>",
    )
    store.actions.approve(action.id)
    owner = Owner.current()
    store.actions.claim(action.id, owner=owner)
    store.actions.finish(action.id, ActionStatus.UNKNOWN, owner=owner, event="execution_unknown",
                         result={"status": "unknown"})
    assert store.correspondents.get("eve@unsure.example") is None
    store.actions.transition(action.id, ActionStatus.EXECUTED, actor="founder",
                             event="confirmed_delivered", expect=[ActionStatus.UNKNOWN])
    eve = store.correspondents.get("eve@unsure.example")
    assert eve is not None and eve.sent == 1


def _old_home(path: Path) -> Store:
    """A database with every migration before the correspondents table, and some history."""
    conn = sqlite3.connect(path)
    db = Database(conn)
    db.execute(
        "CREATE TABLE _sqlite_migrations (migration_set TEXT, name TEXT, applied_at TEXT,"
        " PRIMARY KEY (migration_set, name))"
    )
    for m in migrations._migrations:  # noqa: SLF001
        if m.name == "m007_perf_correspondents":
            break
        m.fn(db)
        db.execute("INSERT INTO _sqlite_migrations VALUES ('solodesk', ?, '2026-11-21')",
                   [m.name])
    conn.commit()
    assert "correspondents" not in db.table_names()
    store = Store(db)
    return store


def test_migration_backfills_from_stored_mail_and_executed_actions(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = _old_home(path)
    rows = [("Marta <marta@EXAMPLE.com>", "marta@EXAMPLE.com"), ("jonas@example.org",
            "jonas@example.org"), ("Marta <marta@example.com>", "marta@example.com")]
    for i, (header, addr) in enumerate(rows):
        old.db.execute(
            "INSERT INTO mail (message_id, from_addr, from_email, raw, source, imported_at)"
            " VALUES (?, ?, ?, x'00', 'old', ?)",
            [f"<old{i}@example.com>", header, addr, f"2026-11-0{i + 1}T00:00:00Z"],
        )
    for status, to in [("executed", ["Bo <bo@shop.example>"]), ("failed", ["no@shop.example"]),
                       ("pending", ["nor@shop.example"])]:
        old.db.execute(
            "INSERT INTO actions (kind, payload, payload_sha256, agent, summary, provenance,"
            " status, created_at, updated_at, executed_at) VALUES ('send_email', ?, 'x', 'a',"
            " 's', '{}', ?, 't', 't', '2026-11-05T00:00:00Z')",
            [json.dumps({"to": to, "cc": ["books@inkwell.example"]}), status],
        )
    old.db.conn.commit()
    old.close()

    store = Store(connect(path))  # applies the migration
    marta = store.correspondents.get("marta@example.com")
    assert marta is not None
    assert (marta.received, marta.first_mail_id, marta.sent) == (2, 1, 0)
    assert (marta.first_seen, marta.last_seen) == ("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z")
    assert store.correspondents.all() == {
        "marta@example.com", "jonas@example.org", "bo@shop.example", "books@inkwell.example"
    }
    assert store.correspondents.all(before=2) == {
        "marta@example.com", "bo@shop.example", "books@inkwell.example"
    }
    assert store.correspondents.domains(before=1) == {"shop.example", "inkwell.example"}


def _plan(db: Database, sql: str, params: list[object]) -> str:
    return " | ".join(str(r[-1]) for r in db.execute("EXPLAIN QUERY PLAN " + sql, params))


def test_lookups_use_the_index_not_a_scan(tmp_path: Path) -> None:
    store = Store(connect(tmp_path / "s.db"))
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    found = store.correspondents.known(["a@x.example", "b@y.example"], before=10)
    store.db.conn.set_trace_callback(None)
    assert found == set()
    [select] = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    plan = _plan(store.db, "SELECT address FROM correspondents WHERE address IN (?, ?)"
                 " AND (sent > 0 OR first_mail_id < ?)", ["a@x.example", "b@y.example", 10])
    assert "FROM correspondents WHERE address IN" in select
    assert "USING PRIMARY KEY" in plan and "SCAN" not in plan, plan

    # The gates no longer read the mail or actions tables for who is known.
    gates = Gates(store, Config(tmp_path / "config.json"))
    statements.clear()
    store.db.conn.set_trace_callback(statements.append)
    who = gates.correspondents(Provenance("chat", None))
    assert "someone@x.example" not in who.known
    store.db.conn.set_trace_callback(None)
    assert not any("FROM mail" in s or "FROM actions" in s for s in statements), statements


def _old_known(db: Database, before: int | None) -> set[str]:
    """What ``Gates.correspondents`` computed before the table (a scan of mail and actions)."""
    sql = "SELECT DISTINCT lower(from_email) FROM mail WHERE from_email != ''"
    rows = (db.execute(sql + " AND id < ?", [before]) if before is not None
            else db.execute(sql)).fetchall()
    known = {str(a) for (a,) in rows}
    for (payload,) in db.execute(
        "SELECT payload FROM actions WHERE status = 'executed'"
    ).fetchall():
        known.update(recipients(json.loads(payload)))
    return known


def test_known_addresses_match_the_old_scan_for_every_mail(tmp_path: Path) -> None:
    """Same answers as the scan the gates did before, for every source mail and for chat."""
    rnd = random.Random(9)
    store = Store(connect(tmp_path / "s.db"))
    people = [f"p{i}@d{i % 7}.example" for i in range(40)]
    msgs = [_message(f"P <{rnd.choice(people).upper() if i % 3 else rnd.choice(people)}>", i)
            for i in range(120)]
    import_mail(_mbox(tmp_path / "in.mbox", msgs), store.mail)
    for n in range(6):
        _deliver(store, [rnd.choice(people + ["new@fresh.example"])], [rnd.choice(people)], n)
    gates = Gates(store, Config(tmp_path / "config.json"))
    candidates = people + ["new@fresh.example", "nobody@d1.example"]
    mail_ids = [int(r[0]) for r in store.db.execute("SELECT id FROM mail")]
    for ref in [None, *mail_ids]:
        provenance = Provenance("mail", ref, untrusted=True) if ref else Provenance("chat", None)
        who = gates.correspondents(provenance)
        old = _old_known(store.db, ref)
        assert {a for a in candidates if a in who.known} == {a for a in candidates if a in old}
        assert who.known.lookup(candidates) == old & set(candidates)
        assert set(who.known) == old
        assert who.known.domains() == {a.rsplit("@", 1)[1] for a in old}
