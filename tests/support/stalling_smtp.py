"""A scripted SMTP server (RFC 5321) on 127.0.0.1 that can stall or refuse at a chosen stage.

aiosmtpd answers the DATA command with 354 by itself, so a stall *between* DATA and 354, or after
the data but before the final reply, needs a server that speaks the protocol by hand. This one
does, one connection at a time, in a thread:

- ``stall_at``: ``"greeting"``, ``"ehlo"``, ``"mail"``, ``"rcpt"``, ``"data"`` (no 354),
  ``"content"`` (the data received, no final reply) or None. A stalled connection is held open,
  unanswered, until :meth:`stop` (or until the client goes away).
- ``refuse``: recipient addresses answered ``550 5.1.1 no such user``.
- ``reject_data``: answer the data with ``554 5.6.0 rejected`` instead of 250.

:attr:`reached` records each stage reached per connection, :attr:`delivered` the messages
answered 250, and :attr:`stalled` is set once a connection is stalling.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field

from tests.support.net import free_port


@dataclass
class StallingSmtp:
    stall_at: str | None = None
    refuse: frozenset[str] = frozenset()
    reject_data: bool = False
    port: int = field(default_factory=free_port)
    reached: list[list[str]] = field(default_factory=list)
    delivered: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stalled = threading.Event()
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", self.port))
        self._sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._serve, name="stalling-smtp", daemon=True)
        self._conns: list[socket.socket] = []

    def start(self) -> StallingSmtp:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for conn in self._conns:
            try:
                conn.close()
            except OSError:
                pass
        self._sock.close()

    # -- the protocol --------------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._conns.append(conn)
            conn.settimeout(0.1)
            stages: list[str] = []
            self.reached.append(stages)
            try:
                self._talk(conn, stages)
            except OSError:
                pass
            finally:
                conn.close()

    def _stall(self, stages: list[str], stage: str) -> bool:
        stages.append(stage)
        if self.stall_at != stage:
            return False
        self.stalled.set()
        self._stop.wait()
        return True

    def _line(self, conn: socket.socket, buf: bytearray) -> bytes | None:
        while b"\r\n" not in buf:
            if self._stop.is_set():
                return None
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                return None
            buf += chunk
        line, _, rest = bytes(buf).partition(b"\r\n")
        buf[:] = rest
        return line

    def _talk(self, conn: socket.socket, stages: list[str]) -> None:
        buf = bytearray()
        if self._stall(stages, "greeting"):
            return
        conn.sendall(b"220 stalling.test ESMTP\r\n")
        accepted = 0
        while True:
            line = self._line(conn, buf)
            if line is None:
                return
            verb = line.split(b" ", 1)[0].upper()
            if verb in (b"EHLO", b"HELO"):
                if self._stall(stages, "ehlo"):
                    return
                conn.sendall(b"250-stalling.test\r\n250 8BITMIME\r\n")
            elif verb == b"MAIL":
                if self._stall(stages, "mail"):
                    return
                accepted = 0
                conn.sendall(b"250 2.1.0 ok\r\n")
            elif verb == b"RCPT":
                if self._stall(stages, "rcpt"):
                    return
                address = line.split(b"<", 1)[-1].split(b">", 1)[0].decode()
                if address in self.refuse:
                    conn.sendall(b"550 5.1.1 no such user\r\n")
                else:
                    accepted += 1
                    conn.sendall(b"250 2.1.5 ok\r\n")
            elif verb == b"DATA":
                if self._stall(stages, "data"):
                    return
                conn.sendall(b"354 go ahead\r\n")
                data = bytearray()
                while True:
                    part = self._line(conn, buf)
                    if part is None:
                        return
                    if part == b".":
                        break
                    data += part + b"\r\n"
                if self._stall(stages, "content"):
                    return
                if self.reject_data:
                    conn.sendall(b"554 5.6.0 rejected\r\n")
                else:
                    self.delivered.append(bytes(data))
                    conn.sendall(b"250 2.0.0 queued\r\n")
            elif verb == b"RSET":
                conn.sendall(b"250 ok\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"502 5.5.2 not implemented\r\n")
