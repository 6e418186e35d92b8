"""Benchmark of the IMAP sync against a local Dovecot. Prints figures; asserts nothing about time.

Run: .venv/bin/python tests/bench/bench_imap_sync.py [N]   (needs dovecot-imapd installed)
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import keyring
import keyring.backends.fail

from solodesk.connectors.imap import ImapConnector
from solodesk.store.config import Config
from solodesk.store.db import connect
from solodesk.store.repos import Store
from solodesk.store.secrets import SecretStore
from tests.support.imap_server import PASSWORD, USER, DovecotServer


def message(i: int) -> bytes:
    body = "Hello,\r\nI have a question about my plan and my last invoice.\r\n" * 40
    return (
        f"From: Customer {i} <c{i}@customer.example>\r\nTo: ada@solodesk.example\r\n"
        f"Subject: Question {i}\r\nMessage-ID: <bench-{i}@customer.example>\r\n"
        f"Date: Mon, 16 Nov 2026 08:00:00 +0100\r\n\r\n{body}"
    ).encode()


def bench(n: int) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    server = DovecotServer().start()
    try:
        client = server.client()
        t = time.perf_counter()
        for start in range(0, n, 100):
            client.multiappend("INBOX", [message(i) for i in range(start, min(n, start + 100))])
        client.logout()
        print(f"delivered {n} messages ({len(message(0))} bytes each) in "
              f"{time.perf_counter() - t:.1f} s")
        with tempfile.TemporaryDirectory() as tmp:
            config = Config(Path(tmp) / "config.json")
            for key, value in {"imap.host": "127.0.0.1", "imap.port": str(server.port),
                               "imap.security": "starttls", "imap.username": USER}.items():
                config.set(key, value)
            secrets = SecretStore()
            secrets.set("imap.password", PASSWORD)
            store = Store(connect(Path(tmp) / "bench.db"))
            connector = ImapConnector(config=config, secrets=secrets, store=store,
                                      ssl_context=server.ssl_context())
            tracemalloc.start()
            t = time.perf_counter()
            report = asyncio.run(connector.sync())
            dt = time.perf_counter() - t
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"first sync: {report.folders[0].line()} in {dt:.2f} s = {n / dt:,.0f} msg/s, "
                  f"peak Python memory {peak / 1e6:.1f} MB")
            t = time.perf_counter()
            again = asyncio.run(connector.sync())
            print(f"second sync (nothing new): {again.folders[0].line()} in "
                  f"{(time.perf_counter() - t) * 1000:.0f} ms")
            state = store.imap.folders()[0]
            server.set_uidvalidity("INBOX", state.uidvalidity + 1)
            t = time.perf_counter()
            resync = asyncio.run(connector.sync())
            dt = time.perf_counter() - t
            print(f"resync after a UIDVALIDITY change: {resync.folders[0].line()} in {dt:.2f} s "
                  "(headers only)")
            db_size = (Path(tmp) / "bench.db").stat().st_size
            print(f"database: {db_size / 1e6:.1f} MB for {store.mail.count()} mails")
            store.close()
    finally:
        server.close()


if __name__ == "__main__":
    bench(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
