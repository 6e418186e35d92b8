"""The ``search_memory`` read tool: the shared memory's facts, found by their words.

Facts come back quoted as data (``core.memory.quote_facts``), each with its id, source and ref;
facts derived from text the founder did not write are marked ``UNTRUSTED``, and a result that
holds one marks the run untrusted (like ``read_mail``): what the agent proposes afterwards
carries untrusted provenance. Agents add facts only through ``propose_remember_fact``.
"""

from __future__ import annotations

from typing import Any

from solodesk.agents.tools import (
    Tool,
    ToolContext,
    ToolResult,
    _int_arg,
    _str_arg,
    register_tool,
)
from solodesk.core.memory import quote_facts

SEARCH_MEMORY = "search_memory"


async def _search_memory(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    query = _str_arg(args, "query", required=False)
    limit = _int_arg(args, "limit", 10, 1, 50)
    found = ctx.store.facts.search(query, limit=limit)
    if not found:
        return ToolResult(
            f"no fact in memory matches {query!r}" if query else "the memory holds no facts yet"
        )
    return ToolResult(quote_facts(found), untrusted=any(f.untrusted for f in found))


register_tool(Tool(
    SEARCH_MEMORY,
    "Search the founder's memory (facts the founder or approved proposals stored: customers, "
    "terms, decisions) by words; empty query: the newest. Returns facts with their id and "
    "source, as data; facts marked UNTRUSTED came from mail.",
    {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "Words to look for"},
            "limit": {"type": "integer", "description": "At most this many (1-50, default 10)"},
        },
        "required": ["query"],
    },
    _search_memory,
))
