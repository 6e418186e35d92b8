"""``solodesk mail sync``: one sync of the IMAP folders (see ``connectors.imap``).

Prints one line per folder on stdout (``INBOX: new 3, skipped 1, errors 0``), progress, retries
and messages that could not be imported on stderr. Exit status 1 when a folder could not be
synced (the reason, with what to do, is printed).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from solodesk.core.events import Progress


def register(mail: Any) -> None:
    """Add ``sync`` to the ``mail`` subcommands (``mail`` is an argparse subparsers object)."""
    sync = mail.add_parser(
        "sync",
        help="fetch new mail from the IMAP server (settings imap.*; secret imap.password)",
        description="Fetch new mail from the folders in imap.folders, once. Mail already "
        "imported is never imported again. Triage it afterwards with 'solodesk mail triage'.",
    )
    sync.add_argument(
        "--folder",
        action="append",
        default=None,
        metavar="NAME",
        help="sync only this folder (repeatable; default: the setting imap.folders)",
    )


def _print_progress(event: Progress) -> None:
    if event.task == "mail_sync" and event.message:
        print(event.message, file=sys.stderr, flush=True)


async def dispatch(sv: Any, args: argparse.Namespace) -> int:
    """Run ``mail sync`` with the process's services ``sv``; returns the exit status."""
    from solodesk.connectors.imap import ImapConnector

    connector = ImapConnector(config=sv.config, secrets=sv.secrets, store=sv.store, bus=sv.bus)
    unsubscribe = sv.bus.subscribe(Progress, _print_progress)
    try:
        report = await connector.sync(args.folder)
    finally:
        unsubscribe()
    for folder in report.folders:
        print(folder.line())
        for problem in folder.errors:
            print(f"  {folder.folder} {problem}", file=sys.stderr)
    if report.error:
        print(f"solodesk: {report.error}", file=sys.stderr)
    elif report.new:
        print(f"{report.new} new message(s): triage them with 'solodesk mail triage'")
    return 0 if report.ok else 1
