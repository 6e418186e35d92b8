"""``solodesk profile`` and ``solodesk memory``: the shared memory every agent reads.

``profile show [--json]`` prints the business profile; ``profile set FIELD VALUE`` changes one
field (``-`` reads the value from stdin; ``offering`` as ``NAME: PRICE CURRENCY[/UNIT]; ...``,
``customers`` one note per line or ``;``); ``profile edit`` opens the profile as JSON in
``$VISUAL``/``$EDITOR`` and validates it on save: an invalid save names the field, keeps the
old profile, and keeps the rejected text in ``DATA/profile.rejected.json`` so nothing is lost.

``memory list [--all] [--json]``, ``memory search WORDS``, ``memory add TEXT [--ref REF]`` (the
founder's own word: stored at once, no approval) and ``memory forget ID`` (the fact stays in the
store, marked forgotten). Agents add facts only through ``remember_fact`` proposals.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from solodesk.core.bounds import escape_controls

COMMANDS = ("profile", "memory")


class MemoryCliError(Exception):
    """A user-facing error of a ``profile``/``memory`` command (one line, exit status 1)."""


def register(sub: Any) -> None:
    """Add the ``profile`` and ``memory`` commands to the top-level subcommands ``sub``."""
    from solodesk.core.profile import FIELDS

    prof = sub.add_parser(
        "profile",
        help="the business profile every agent sees (company, offering, tone, signature...)",
        description="The business profile: what every agent knows about your company. Fields: "
        + ", ".join(FIELDS) + ".",
    ).add_subparsers(dest="action", required=True)
    show = prof.add_parser("show", help="print the profile")
    show.add_argument("--json", action="store_true", help="the stored JSON document")
    st = prof.add_parser(
        "set", help="set one field",
        description="Set one field. offering: 'Website audit: 900 EUR; Consulting: 120.00 "
        "EUR/hour' (or a JSON list); customers: one note per line or ';'; availability: "
        "'Mon-Fri 09:00-12:00,14:00-17:00' in your time zone. VALUE '-' reads stdin.",
    )
    st.add_argument("field", choices=FIELDS)
    st.add_argument("value", help="the new value ('-': read it from stdin; '': clear)")
    prof.add_parser("edit", help="edit the profile as JSON in $EDITOR (validated on save)")

    mem = sub.add_parser(
        "memory",
        help="facts the agents remember (full-text search; agents add them by proposal)",
        description="Facts the agents read with search_memory. Facts you add are stored at "
        "once; agents propose theirs as remember_fact actions you approve.",
    ).add_subparsers(dest="action", required=True)
    ls = mem.add_parser("list", help="remembered facts, newest first")
    ls.add_argument("--all", action="store_true", help="forgotten facts too")
    ls.add_argument("--limit", type=int, default=200, help="how many (default 200)")
    ls.add_argument("--json", action="store_true", help="one JSON array")
    se = mem.add_parser("search", help="full-text search of the remembered facts")
    se.add_argument("query", help="words to look for")
    se.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    se.add_argument("--json", action="store_true", help="one JSON array")
    add = mem.add_parser("add", help="remember a fact (your own word: no approval needed)")
    add.add_argument("text", help="the fact ('-': read it from stdin)")
    add.add_argument("--ref", default="", help="where it comes from, e.g. 'call with Marta'")
    fg = mem.add_parser("forget", help="forget a fact (kept in the store, no longer used)")
    fg.add_argument("id", type=int)


def _value(text: str) -> str:
    return sys.stdin.read() if text == "-" else text


def _print_profile(sv: Any) -> None:
    from solodesk.core.profile import FIELDS, field_text

    profile = sv.store.profile.get()
    when = sv.store.profile.updated_at()
    if profile.is_empty():
        print("The business profile is empty: 'solodesk profile set FIELD VALUE' or "
              "'solodesk profile edit' fills it in.")
        return
    for name in FIELDS:
        text = field_text(profile, name)
        if name == "availability" and text:
            tz = sv.config.get("calendar.timezone") or "your system's time zone"
            text += f" ({tz})"
        if "\n" in text or name in ("offering", "customers"):
            print(f"{name}:" + ("" if text else " -"))
            for line in text.splitlines():
                print("  " + escape_controls(line))
        else:
            print(f"{name}: {escape_controls(text) or '-'}")
    if when:
        print(f"(saved {when})")


def _edit_profile(sv: Any) -> int:
    from solodesk.core.profile import ProfileError, parse_profile_json

    current = sv.store.profile.get()
    text = json.dumps(current.to_json(), ensure_ascii=False, indent=2) + "\n"
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="solodesk-profile-") as tmp:
        draft = Path(tmp) / "profile.json"
        draft.write_text(text, encoding="utf-8")
        try:
            done = subprocess.run([*shlex.split(editor), str(draft)], check=False)
        except OSError as exc:
            raise MemoryCliError(f"cannot start the editor {editor!r} ({exc}); set EDITOR"
                                 ) from None
        if done.returncode != 0:
            raise MemoryCliError(
                f"the editor exited with status {done.returncode}; the profile is unchanged"
            )
        new = draft.read_text(encoding="utf-8")
    if new == text:
        print("profile: no change")
        return 0
    try:
        profile = parse_profile_json(new, where="profile.json")
        sv.store.profile.save(profile)
    except ProfileError as exc:
        rejected = Path(sv.paths.data_dir) / "profile.rejected.json"
        rejected.parent.mkdir(parents=True, exist_ok=True)
        rejected.write_text(new, encoding="utf-8")
        raise MemoryCliError(
            f"{'; '.join(exc.errors)}; the profile was not changed (your text is kept in "
            f"{rejected})"
        ) from None
    print("profile: saved")
    return 0


def _profile(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.core.profile import ProfileError, field_text, set_field

    if args.action == "show":
        if args.json:
            print(json.dumps(sv.store.profile.get().to_json(), ensure_ascii=False, indent=2))
        else:
            _print_profile(sv)
        return 0
    if args.action == "set":
        try:
            profile = set_field(sv.store.profile.get(), args.field, _value(args.value))
            sv.store.profile.save(profile)
        except ProfileError as exc:
            raise MemoryCliError(f"{'; '.join(exc.errors)}; the profile was not changed"
                                 ) from None
        shown = field_text(profile, args.field)
        print(f"{args.field}:" + (f" {escape_controls(shown)}" if "\n" not in shown else ""))
        if "\n" in shown:
            for line in shown.splitlines():
                print("  " + escape_controls(line))
        return 0
    return _edit_profile(sv)


def _fact_line(fact: Any) -> str:
    origin = fact.source + (f", {fact.ref}" if fact.ref else "")
    flags = " UNTRUSTED" if fact.untrusted else ""
    flags += f" (forgotten {fact.forgotten_at})" if fact.forgotten else ""
    text = escape_controls(fact.text, multiline=True).replace("\n", "\n      ")
    return f"#{fact.id} [{origin}]{flags} {text}"


def _memory(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.core.memory import FactError
    from solodesk.store.repos import NotFound

    facts = sv.store.facts
    if args.action in ("list", "search"):
        if args.limit < 1:
            raise MemoryCliError(f"--limit must be at least 1, not {args.limit}")
        if args.action == "list":
            found = facts.list(include_forgotten=args.all, limit=args.limit)
        else:
            found = facts.search(args.query, limit=args.limit)
        if args.json:
            print(json.dumps([f.to_json() for f in found], ensure_ascii=False, indent=2))
            return 0
        if not found:
            print("no facts" + (f" match {args.query!r}" if args.action == "search" else
                                " yet: 'solodesk memory add TEXT' remembers one"))
        for fact in found:
            print(_fact_line(fact))
        return 0
    if args.action == "add":
        try:
            fact = facts.add(_value(args.text), source="founder", ref=args.ref)
        except FactError as exc:
            raise MemoryCliError(f"{exc}; nothing was stored") from None
        print(f"remembered #{fact.id}: {escape_controls(fact.text, multiline=True)}")
        return 0
    try:
        fact = facts.forget(args.id)
    except NotFound as exc:
        raise MemoryCliError(str(exc)) from None
    print(f"forgot #{fact.id} (kept in the store since {fact.created_at}, no longer used)")
    return 0


def dispatch(sv: Any, args: argparse.Namespace) -> int:
    """Run a ``profile`` or ``memory`` command with the process's services ``sv``.

    Raises:
        MemoryCliError: invalid input (naming the field), an unknown fact id.
    """
    if args.command == "profile":
        return _profile(sv, args)
    return _memory(sv, args)
