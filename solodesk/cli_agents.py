"""``solodesk agents``: the agent cards, and running one on a task.

``agents list`` shows every agent (shipped, overridden or added by the founder in
``DATA/agents``) and every card that could not be loaded, with the file and field at fault.
``agents show NAME`` shows one card whole. ``agents edit NAME`` opens the founder's copy of a
card in ``$VISUAL``/``$EDITOR`` (copying the shipped card to ``DATA/agents`` first), checks it
when the editor closes, and keeps the old card if the new one is broken (the rejected text is
kept next to it, so no edit is lost). ``agents run NAME TASK`` runs the card on the task and
prints its report, the proposals made and the run id (``solodesk runs show ID`` for the tree).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from solodesk.core.bounds import escape_controls

COMMANDS = ("agents",)


class AgentsCliError(Exception):
    """A user-facing error of an ``agents`` command (one line, exit status 1)."""


def register(sub: Any) -> None:
    """Add the ``agents`` command to the top-level subcommands ``sub``."""
    agents = sub.add_parser(
        "agents",
        help="the agents (cards): list, show, edit, run",
        description="Each agent is a card (a TOML file): shipped ones in SoloDesk's "
        "resources/agents, the founder's in DATA/agents (same name: replaces the shipped one).",
    ).add_subparsers(dest="action", required=True)
    ls = agents.add_parser("list", help="every agent, and the cards that could not be loaded")
    ls.add_argument("--json", action="store_true", help="one JSON object")
    show = agents.add_parser("show", help="one card whole")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="one JSON object")
    edit = agents.add_parser(
        "edit", help="edit a card in $EDITOR (a shipped card is copied to DATA/agents first)"
    )
    edit.add_argument("name")
    run = agents.add_parser("run", help="run an agent on a task and print its report")
    run.add_argument("name")
    run.add_argument("task", help="what the agent should do")


def _card_json(card: Any) -> dict[str, Any]:
    return {
        "name": card.name, "role": card.role, "description": card.description,
        "model": card.model, "tools": list(card.tools), "kinds": list(card.kinds),
        "max_steps": card.max_steps, "max_parallel": card.max_parallel,
        "budget_usd": card.budget_usd, "first_tool": card.first_tool,
        "keywords": list(card.keywords), "origin": card.origin, "source": card.source,
        "prompt": card.prompt,
    }


def _list(sv: Any, as_json: bool) -> int:
    cards = sv.cards()
    if as_json:
        print(json.dumps({
            "agents": [{k: v for k, v in _card_json(c).items() if k != "prompt"} for c in cards],
            "errors": [{"file": e.source, "field": e.field, "reason": e.reason}
                       for e in cards.errors],
        }, indent=2))
        return 0
    for c in cards:
        model = c.model or "(llm.model)"
        kinds = ", ".join(c.kinds) or "-"
        print(f"{c.name:<16} {c.origin:<8} {model:<22} kinds: {kinds}")
        print(f"    {c.role}")
    for e in cards.errors:
        print(f"broken card: {e}")
    return 0


def _get(sv: Any, name: str) -> Any:
    cards = sv.cards()
    card = cards.get(name)
    if card is None:
        broken = [e for e in cards.errors if Path(e.source).stem == name]
        hint = f" ({broken[0]})" if broken else ""
        raise AgentsCliError(
            f"no agent named {name!r}{hint}; agents: {', '.join(cards.names()) or 'none'}"
        )
    return card


def _show(sv: Any, name: str, as_json: bool) -> int:
    card = _get(sv, name)
    if as_json:
        print(json.dumps(_card_json(card), indent=2))
        return 0
    print(f"{card.name} ({card.origin}: {card.source})")
    print(f"  role:        {card.role}")
    if card.description:
        print(f"  description: {card.description}")
    print(f"  model:       {card.model or '(llm.model setting)'}")
    print(f"  tools:       {', '.join(card.tools) or '-'}")
    print(f"  kinds:       {', '.join(card.kinds) or '-'}")
    print(f"  max_steps:   {card.max_steps}")
    if card.delegates:
        parallel = card.max_parallel or f"{sv.config.get('agents.max_parallel')} (setting)"
        print(f"  max_parallel: {parallel}")
    if card.budget_usd is not None:
        print(f"  budget_usd:  {card.budget_usd:.2f} per day")
    if card.first_tool:
        print(f"  first_tool:  {card.first_tool} (the local model's first call)")
    if card.keywords:
        print(f"  keywords:    {', '.join(card.keywords)}")
    print("  prompt:")
    for line in card.prompt.splitlines():
        print("    " + line)
    return 0


def _edit(sv: Any, name: str) -> int:
    from solodesk.agents.cards import founder_path, save_card
    from solodesk.core.cards import CardError

    card = _get(sv, name)
    text = Path(card.source).read_text(encoding="utf-8")
    path = founder_path(card, sv.paths.data_dir)
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="solodesk-card-") as tmp:
        draft = Path(tmp) / f"{name}.toml"
        draft.write_text(text, encoding="utf-8")
        try:
            done = subprocess.run([*shlex.split(editor), str(draft)], check=False)
        except OSError as exc:
            raise AgentsCliError(
                f"cannot start the editor {editor!r} ({exc}); set EDITOR"
            ) from None
        if done.returncode != 0:
            raise AgentsCliError(
                f"the editor exited with status {done.returncode}; the card is unchanged"
            )
        new = draft.read_text(encoding="utf-8")
    if new == text:
        print(f"{name}: no change")
        return 0
    try:
        card = save_card(path, new, name=name)
    except CardError as exc:
        rejected = path.with_name(path.name + ".rejected")
        rejected.parent.mkdir(parents=True, exist_ok=True)
        rejected.write_text(new, encoding="utf-8")
        raise AgentsCliError(
            f"{exc.reason if exc.field is None else f'field {exc.field!r}: {exc.reason}'}; "
            f"the card was not changed (your text is kept in {rejected})"
        ) from None
    print(f"{card.name}: saved to {path} ({card.origin})")
    return 0


async def _run(sv: Any, name: str, task: str) -> int:
    from solodesk.agents.loop import UnknownAgent, proposals_of, report_lines

    if not task.strip():
        raise AgentsCliError("the task is empty: say what the agent should do")
    try:
        report = await sv.agents.run_card(name, task)
    except UnknownAgent as exc:
        raise AgentsCliError(str(exc)) from None
    for line in report_lines(report):
        print(escape_controls(line, multiline=True))
    props = proposals_of(report)
    if props:
        print("proposals (waiting in the inbox: 'solodesk inbox show ID'):")
        for p in props:
            print(f"  #{p.id} {p.kind} {p.status} by {p.agent}: {escape_controls(p.summary)}")
    else:
        print("no proposals")
    print(f"run #{report.run_id} ('solodesk runs show {report.run_id}' for the run tree)")
    return 0 if report.status == "done" else 1


async def dispatch(sv: Any, args: argparse.Namespace) -> int:
    """Run an ``agents`` command with the process's services ``sv``; returns the exit status.

    Raises:
        AgentsCliError: an unknown agent, a broken edit, an empty task.
    """
    if args.action == "list":
        return _list(sv, args.json)
    if args.action == "show":
        return _show(sv, args.name, args.json)
    if args.action == "edit":
        return _edit(sv, args.name)
    return await _run(sv, args.name, args.task)
