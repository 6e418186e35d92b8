"""Small helpers shared by integration tests: sample mail, proposals, recorded events, the CLI
in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from solodesk.connectors.mailimport import import_mail
from solodesk.core.actions import Action, Provenance
from solodesk.core.events import Event
from solodesk.core.kinds.mail import REPLY_EMAIL, SEND_EMAIL
from solodesk.core.mail import new_message_id
from solodesk.core.resources import resource
from solodesk.services import Services
from solodesk.store.owner import Owner
from solodesk.store.repos import Store

REPO = Path(__file__).resolve().parents[2]
SAMPLE_MBOX = resource("sample_mail", "demo.mbox")
MARTA_ID = "<20261116081233.4821.marta@example.com>"

E = TypeVar("E", bound=Event)


def default_sigint() -> None:
    """``preexec_fn`` for a command the test interrupts with SIGINT: Ctrl-C's default action in
    the child even when the test run itself ignores SIGINT (a run started as a background job
    without job control inherits SIG_IGN, and so would every command it starts)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def import_sample(store: Store) -> list[int]:
    """Import the sample mailbox; returns the six mail ids in file order."""
    report = import_mail(SAMPLE_MBOX, store.mail)
    assert len(report.imported) == 6, report
    return report.imported


def propose_email(store: Store, *, reply: bool = True, **changes: Any) -> Action:
    """Store a valid pending proposal directly (as a triage or chat turn would)."""
    payload: dict[str, Any] = {
        "to": ["Marta Kowalski <marta.kowalski@example.com>"],
        "cc": ["Bookkeeping <books@inkwell.example>"],
        "subject": "Re: Refund for my annual Pro plan?",
        "body": "Hi Marta,\n\nthanks for letting me know. I will look into it.\n\nAda\n",
        "message_id": new_message_id("solodesk.example"),
    }
    if reply:
        payload.update(
            in_reply_to=MARTA_ID, references=["<older@example.com>", MARTA_ID], source_mail_id=1
        )
    payload.update(changes)
    kind = REPLY_EMAIL if reply else SEND_EMAIL
    return store.actions.propose(
        kind=kind,
        payload=payload,
        agent="support" if reply else "manager",
        summary=f"{payload['subject']} → {payload['to'][0]}",
        provenance=Provenance("mail", 1, untrusted=True) if reply else Provenance("chat", 1),
        idempotency_key=payload["message_id"],
    )


def dead_owner() -> Owner:
    """The owner of a claim whose process is gone: this process's pid with another start
    time (as if the claimer had died and its pid been reused)."""
    me = Owner.current()
    return replace(me, start=str(int(me.start or "0") + 1))


def collect(services: Services, event_type: type[E]) -> list[E]:
    """A list that receives every ``event_type`` event published on the services' bus."""
    seen: list[E] = []
    services.bus.subscribe(event_type, seen.append)
    return seen


def run_cli(
    home: Path,
    *args: str,
    input: str | None = None,  # noqa: A002 - mirrors subprocess.run
    env: Mapping[str, str | None] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """``python -m solodesk --home HOME ARGS...`` in a subprocess.

    ``timeout`` (seconds) only guards against a hang: on a loaded machine a command that imports
    litellm and calls a model can take a minute, so it is generous.

    The keyring defaults to keyring's ``fail`` backend so a developer's real keyring is never
    touched; ``env`` overrides (a value of None removes the variable).
    """
    full_env: dict[str, str | None] = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PYTHONIOENCODING": "utf-8",
    }
    full_env.pop("SOLODESK_HOME", None)
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "solodesk", "--home", str(home), *args],
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        env={k: v for k, v in full_env.items() if v is not None},
        cwd=REPO,
        timeout=timeout,
        check=False,
    )
