"""``solodesk runs``: agent runs with their parent, status, model usage and proposals.

``runs list`` shows the newest runs (a triage command and each mail's run under it, chat turns);
``runs show ID`` one run with its own and its tree's usage, its children, its model calls and the
proposals it made. ``--json`` prints the same as JSON (each run with its ``parent``).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from solodesk.core.runs import Run, Usage

COMMANDS = ("runs",)


class RunsCliError(Exception):
    """A user-facing error of a ``runs`` command (one line, exit status 1)."""


def register(sub: Any) -> None:
    """Add the ``runs`` command to the top-level subcommands ``sub``."""
    runs = sub.add_parser(
        "runs",
        help="agent runs: who did what, with tokens, cost and proposals",
        description="Every piece of agent work is a run: a triage command (with a child run "
        "per mail), a chat turn. Each run records its model calls and its proposals.",
    ).add_subparsers(dest="action", required=True)
    ls = runs.add_parser("list", help="the newest runs, with parent, status and usage")
    ls.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    ls.add_argument("--json", action="store_true", help="one JSON array")
    show = runs.add_parser("show", help="one run: usage, children, model calls, proposals")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true", help="one JSON object")


def _usage_text(u: Usage) -> str:
    cost = "cost unknown" if u.cost_usd is None else f"${u.cost_usd:.6f}"
    calls = "1 call" if u.model_calls == 1 else f"{u.model_calls} calls"
    return f"{calls}, {u.tokens_in} tokens in / {u.tokens_out} out, {cost}"


def _line(run: Run) -> str:
    parent = f" (parent #{run.parent_id})" if run.parent_id is not None else ""
    return (
        f"#{run.id} {run.status.value:<9} {run.agent:<10} {run.elapsed_s():7.1f} s  "
        f"{_usage_text(run.usage)}{parent}\n    {run.task}"
        + (f"\n    error: {run.error}" if run.error else "")
    )


def _print_tree(repo: Any, runs: list[Run], indent: str, depth: int = 0) -> None:
    """Each run and, indented under it, its own children (a delegation's delegations)."""
    for run in runs:
        print(indent + _line(run).replace("\n", "\n" + indent))
        for p in repo.proposals(run.id):
            print(f"{indent}    proposal #{p.action_id} {p.status} {p.kind}: {p.summary}")
        if depth < 8:
            _print_tree(repo, repo.children(run.id), indent + "    ", depth + 1)


def dispatch(sv: Any, args: argparse.Namespace) -> int:
    """Run a ``runs`` command with the process's services ``sv``; returns the exit status.

    Raises:
        RunsCliError: an unknown run id, or a limit below 1.
    """
    from solodesk.store.runs import RunNotFound

    repo = sv.store.runs
    if args.action == "list":
        if args.limit < 1:
            raise RunsCliError(f"--limit must be at least 1, not {args.limit}")
        listed = repo.list(limit=args.limit)
        if args.json:
            print(json.dumps(
                [{**r.to_json(), "proposals": [p.action_id for p in repo.proposals(r.id)]}
                 for r in listed],
                indent=2,
            ))
            return 0
        if not listed:
            print("no runs yet: triage mail or chat with the manager to start one")
            return 0
        for run in listed:
            proposals = repo.proposals(run.id)
            print(_line(run))
            if proposals:
                print("    proposals: " + ", ".join(f"#{p.action_id}" for p in proposals))
        return 0
    try:
        run = repo.get(args.id)
    except RunNotFound:
        raise RunsCliError(
            f"no run with id {args.id}; 'solodesk runs list' shows the runs"
        ) from None
    children = repo.children(run.id)
    proposals = repo.proposals(run.id)
    calls = repo.calls(run.id)
    tree = repo.tree_usage(run.id)
    if args.json:
        print(json.dumps(
            {
                **run.to_json(),
                "tree_usage": tree.to_json(),
                "children": [c.id for c in children],
                "proposals": [
                    {"id": p.action_id, "kind": p.kind, "status": p.status, "summary": p.summary}
                    for p in proposals
                ],
                "calls": [
                    {k: c[k] for k in ("id", "ts", "model", "purpose", "tokens_in",
                                       "tokens_out", "cost_usd", "latency_ms", "error")}
                    for c in calls
                ],
            },
            indent=2,
        ))
        return 0
    print(_line(run))
    print(f"  started {run.started_at}" + (f", ended {run.ended_at}" if run.ended_at else ""))
    if run.conversation_id is not None:
        print(f"  conversation: #{run.conversation_id}")
    if children:
        print(f"  with its {len(children)} child run(s): {_usage_text(tree)}")
        _print_tree(repo, children, "  ")
    if calls:
        print("  model calls:")
        for c in calls:
            print(f"    {c['ts']} {c['purpose']:<9} {c['model']} "
                  f"{c['tokens_in'] or 0} in / {c['tokens_out'] or 0} out, {c['latency_ms']} ms"
                  + (f" — {c['error']}" if c["error"] else ""))
    if proposals:
        print("  proposals:")
        for p in proposals:
            print(f"    #{p.action_id} {p.status:<9} {p.kind:<11} {p.summary}")
    return 0
