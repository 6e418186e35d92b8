"""Earned autonomy on the Agents page: an agent's approval record per action kind, and the
policy rules it has earned (offers, with their evidence; the founder accepts one with the
page's "Accept earned rule…" or ``solodesk policy suggest --accept K``; nothing is created
here)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from solodesk.core.autonomy import Offer, Rate


def record_html(agent: str, rates: Sequence[Rate], offers: Sequence[Offer]) -> str:
    """The "Approval record" and "Earned rules" sections of ``agent``'s detail (escaped)."""
    mine = [r for r in rates if r.agent == agent]
    parts = ["<h3>Approval record</h3>"]
    if not mine:
        parts.append("<p>None of its proposals has been decided yet.</p>")
    else:
        rows = "".join(
            f"<tr><td>{html.escape(r.kind)}</td>"
            f"<td align='right'><b>{f'{r.rate:.0%}' if r.rate is not None else '—'}</b></td>"
            f"<td align='right'>{r.unedited}</td><td align='right'>{r.edited}</td>"
            f"<td align='right'>{r.rejected}</td><td align='right'>{r.by_rule}</td></tr>"
            for r in mine
        )
        parts.append(
            "<table cellspacing='6'><tr><th align='left'>Kind</th>"
            "<th>Approved as proposed</th><th>Unedited</th><th>Edited</th><th>Rejected</th>"
            "<th>By a rule</th></tr>" + rows + "</table>"
        )
    numbered = [(i, o) for i, o in enumerate(offers, start=1) if o.agent == agent]
    if numbered:
        parts.append("<h3>Earned rules (offered, not created)</h3><ul>")
        for i, o in numbered:
            ids = ", ".join(f"#{a}" for a in o.evidence)
            parts.append(
                f"<li>{html.escape(o.describe())}<br>"
                f"rule: <code>{html.escape(o.rule_text())}</code><br>"
                f"evidence: {html.escape(ids)}<br>"
                f"accept: <i>Accept earned rule…</i> above, or "
                f"<code>solodesk policy suggest --accept {i}</code></li>"
            )
        parts.append("</ul>")
    return "".join(parts)
