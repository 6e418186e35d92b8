"""A private Secret Service: its own D-Bus session bus and gnome-keyring-daemon.

Equivalent to ``dbus-run-session -- sh -c 'echo -n PW | gnome-keyring-daemon --unlock ...'``,
but owned by the test: the daemons run with temporary XDG folders (so the keyring file is
created in the test's temp folder, never in the developer's home) and are killed at the end.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BINARIES = ("dbus-daemon", "gnome-keyring-daemon")
KEYRING_PASSWORD = "test-keyring-unlock"
#: How long to wait for the daemons to come up (a deadline, not a measured assertion).
STARTUP_DEADLINE_S = 30.0


class SecretServiceUnavailable(RuntimeError):
    """The daemons are missing or did not start."""


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None]


@dataclass
class PrivateSecretService:
    """Running daemons and the environment a client needs to reach them."""

    env: dict[str, str]
    dbus: subprocess.Popen[bytes]
    keyring: subprocess.Popen[bytes]
    data_home: Path

    @property
    def address(self) -> str:
        return self.env["DBUS_SESSION_BUS_ADDRESS"]

    def stop(self) -> None:
        for proc in (self.keyring, self.dbus):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
            for stream in (proc.stdout, proc.stderr, proc.stdin):
                if stream is not None:
                    stream.close()


def _read_line(proc: subprocess.Popen[bytes], deadline: float) -> str:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    while not buf.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or proc.poll() is not None:
            raise SecretServiceUnavailable(f"{proc.args[0]} printed no address")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 1)
            if not chunk:
                raise SecretServiceUnavailable(f"{proc.args[0]} exited")
            buf += chunk
    return buf.decode().strip()


# A session bus with no service directories: nothing can be D-Bus-activated on it. (On the
# standard session config, a probe of org.freedesktop.secrets before our daemon owns the name
# would activate a second, locked gnome-keyring-daemon and make ours exit.)
_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def _service_ready(address: str) -> bool:
    """True once the Secret Service owns its bus name and its default collection is unlocked.

    Only ``NameHasOwner`` is asked until then: it never activates anything.
    """
    import secretstorage
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    try:
        conn = open_dbus_connection(address)
    except OSError:
        return False
    try:
        bus = DBusAddress(
            "/org/freedesktop/DBus",
            bus_name="org.freedesktop.DBus",
            interface="org.freedesktop.DBus",
        )
        reply = conn.send_and_get_reply(
            new_method_call(bus, "NameHasOwner", "s", ("org.freedesktop.secrets",)), timeout=5
        )
        if not reply.body[0]:
            return False
        collection = secretstorage.get_default_collection(conn)
        return not collection.is_locked()
    except secretstorage.exceptions.SecretStorageException:
        return False
    finally:
        conn.close()


def start(tmp: Path) -> PrivateSecretService:
    """Start a session bus and an unlocked gnome-keyring (``secrets`` component) under ``tmp``.

    Raises:
        SecretServiceUnavailable: a binary is missing or a daemon did not come up in time.
    """
    missing = missing_binaries()
    if missing:
        raise SecretServiceUnavailable(f"not installed: {', '.join(missing)}")
    runtime = tmp / "xdg-runtime"
    runtime.mkdir(mode=0o700, parents=True)
    data_home = tmp / "xdg-data"
    env = {
        **os.environ,
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_DATA_HOME": str(data_home),
        "XDG_CONFIG_HOME": str(tmp / "xdg-config"),
        "XDG_CACHE_HOME": str(tmp / "xdg-cache"),
    }
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    bus_config = tmp / "session-bus.conf"
    bus_config.write_text(_BUS_CONFIG)
    dbus_log = (tmp / "dbus-daemon.log").open("wb")
    dbus = subprocess.Popen(
        ["dbus-daemon", f"--config-file={bus_config}", "--nofork", "--nopidfile",
         "--print-address=1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=dbus_log, env=env,
    )
    dbus_log.close()
    keyring: subprocess.Popen[bytes] | None = None
    try:
        env["DBUS_SESSION_BUS_ADDRESS"] = _read_line(dbus, deadline)
        keyring_log_path = tmp / "gnome-keyring-daemon.log"
        with keyring_log_path.open("wb") as keyring_log:
            keyring = subprocess.Popen(
                ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
                stdin=subprocess.PIPE, stdout=keyring_log, stderr=keyring_log, env=env,
            )
        assert keyring.stdin is not None
        keyring.stdin.write(KEYRING_PASSWORD.encode())
        keyring.stdin.close()
        while not _service_ready(env["DBUS_SESSION_BUS_ADDRESS"]):
            if keyring.poll() is not None:
                err = keyring_log_path.read_text(errors="replace")
                raise SecretServiceUnavailable(f"gnome-keyring-daemon exited: {err.strip()}")
            if time.monotonic() > deadline:
                raise SecretServiceUnavailable(
                    "gnome-keyring-daemon did not come up unlocked: "
                    + keyring_log_path.read_text(errors="replace").strip()
                )
            time.sleep(0.05)
    except BaseException:
        for proc in (keyring, dbus):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        raise
    return PrivateSecretService(env=env, dbus=dbus, keyring=keyring, data_home=data_home)


#: What a client subprocess needs to find the private Secret Service.
CLIENT_ENV_KEYS = ("DBUS_SESSION_BUS_ADDRESS", "XDG_CONFIG_HOME", "XDG_DATA_HOME")


@contextmanager
def subprocess_env(tmp: Path) -> Iterator[dict[str, str | None]]:
    """Environment for a SoloDesk subprocess that finds a private, unlocked Secret Service
    (``PYTHON_KEYRING_BACKEND`` removed). Skips the test where the daemons are missing, but
    fails it under ``CI=true`` (CI installs them)."""
    import pytest

    missing = missing_binaries()
    if missing:
        message = f"needs {', '.join(missing)} (apt: dbus gnome-keyring)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    service = start(tmp)
    try:
        env: dict[str, str | None] = {k: service.env[k] for k in CLIENT_ENV_KEYS}
        env["PYTHON_KEYRING_BACKEND"] = None
        yield env
    finally:
        service.stop()
