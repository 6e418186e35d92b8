"""``solodesk costs --since YYYY-MM-DD [--json]``: spend on model calls per agent, model and day.

Every figure is a sum over the recorded calls (``llm_calls``); days are the founder's
(``schedule.timezone``, else the system's time zone). Amounts in USD from litellm's price list;
calls whose price is unknown count 0 and are shown as unpriced.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from typing import Any

from solodesk.store.costs import Spend, report, start_of_day

COMMANDS = ("costs",)


class CostsCliError(Exception):
    """A user-facing error of ``costs`` (one line, exit status 1)."""


def register(sub: Any) -> None:
    """Add the ``costs`` command to the top-level subcommands ``sub``."""
    p = sub.add_parser(
        "costs",
        help="model spend per agent, per model and per day (USD, from the recorded calls)",
    )
    p.add_argument("--since", required=True, metavar="YYYY-MM-DD",
                   help="first day to count (in your time zone), or 'today' or 'yesterday'")
    p.add_argument("--json", action="store_true", help="one JSON object")


def _line(name: str, s: Spend) -> str:
    unpriced = f", {s.unpriced} unpriced" if s.unpriced else ""
    calls = "1 call" if s.calls == 1 else f"{s.calls} calls"
    return (f"  {name:<24} ${s.cost_usd:>11.6f}  {calls}, {s.tokens_in} tokens in / "
            f"{s.tokens_out} out{unpriced}")


def dispatch(sv: Any, args: argparse.Namespace) -> int:
    """Print the costs report; returns the exit status.

    Raises:
        CostsCliError: ``--since`` is not a date, or the time zone setting is wrong.
    """
    from solodesk.core.schedule import ScheduleError
    from solodesk.scheduler import founder_timezone

    try:
        tz = founder_timezone(sv.config)
    except ScheduleError as exc:
        raise CostsCliError(str(exc)) from None
    word = args.since.strip().lower()
    if word in ("today", "yesterday"):  # the founder's today
        from datetime import UTC, datetime, timedelta

        since = datetime.now(UTC).astimezone(tz).date() - timedelta(days=word == "yesterday")
    else:
        try:
            since = date.fromisoformat(args.since)
        except ValueError:
            raise CostsCliError(f"--since must be a date YYYY-MM-DD, 'today' or 'yesterday', "
                                f"not {args.since!r}") from None
    rep = report(sv.store.costs.calls(start_of_day(since, tz)), tz)
    if args.json:
        print(json.dumps({"since": since.isoformat(), "timezone": str(tz), **rep.to_json()},
                         indent=2))
        return 0
    print(f"model spend since {since.isoformat()} ({tz}):")
    print(_line("total", rep.total))
    for title, table in (("per agent", rep.by_agent), ("per model", rep.by_model),
                         ("per day", rep.by_day)):
        if table:
            print(f"{title}:")
            for name, s in sorted(table.items()):
                print(_line(name, s))
    return 0
