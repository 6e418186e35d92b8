"""``solodesk policy suggest``: the policy rules the agents have earned (``core.autonomy``).

Prints each offer (numbered from 1) with its evidence and the rule, or the offers as JSON; with
``--accept K`` the founder creates the K-th offer's rule (nothing is ever created otherwise).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(pol_sub: Any) -> None:
    """Add ``suggest`` to ``solodesk policy``."""
    ps = pol_sub.add_parser(
        "suggest",
        help="rules your unedited approvals have earned (offered, never created unless you "
        "--accept one)",
        description="After autonomy.offer_after unedited approvals in a row of one agent's "
        "proposals of one kind and pattern (recipient domains, account), the rule that would "
        "have approved them, with the evidence. It always bounds risk, so it never "
        "auto-approves high-risk proposals.",
    )
    ps.add_argument("--json", action="store_true", help="the offers as JSON")
    ps.add_argument("--accept", type=int, metavar="K", default=None,
                    help="create the rule of offer K (as numbered in the list)")
    ps.add_argument("--after", type=int, default=None, metavar="N",
                    help="unedited approvals needed (default: setting autonomy.offer_after)")


def suggest(sv: Any, args: argparse.Namespace, error: type[Exception]) -> int:
    """Run ``solodesk policy suggest``; ``error`` is the CLI's error type (exit 1 with its
    message)."""
    from solodesk.core.policy import Outcome, auto_approve_warning

    after = args.after if args.after is not None else sv.config.get_int("autonomy.offer_after")
    if after < 1:
        raise error("--after must be at least 1")
    offers = sv.store.autonomy.offers(after=after, rules=sv.store.policy.rules())
    if args.accept is not None:
        if not 1 <= args.accept <= len(offers):
            raise error(
                f"there is no offer {args.accept}: "
                + (f"offers are 1 to {len(offers)}" if offers else "there are no offers now")
                + " ('solodesk policy suggest' lists them)"
            )
        offer = offers[args.accept - 1]
        rule = sv.store.policy.add(
            kind=offer.kind, conditions=list(offer.conditions), outcome=Outcome.AUTO_APPROVE,
            note=offer.note,
        )
        print(f"added {rule.describe()}")
        warning = auto_approve_warning(rule.outcome, rule.conditions)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
        return 0
    if args.json:
        print(json.dumps(
            [{"number": i, **o.to_json()} for i, o in enumerate(offers, start=1)],
            indent=2, ensure_ascii=False,
        ))
        return 0
    if not offers:
        print(f"no offers: no agent's proposals of one kind and pattern were approved unedited "
              f"{after} times in a row without a rule deciding them")
        return 0
    for i, o in enumerate(offers, start=1):
        ids = ", ".join(f"#{a}" for a in o.evidence)
        print(f"{i}. {o.describe()}")
        print(f"   evidence: {ids}")
        print(f"   rule: {o.rule_text()}")
        print(f"   accept: solodesk policy suggest --accept {i}   (or: {o.command()})")
    return 0
