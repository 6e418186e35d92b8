"""The local model's tool schemas keep no string limit its grammar cannot hold."""

from __future__ import annotations

from solodesk.core.llmtypes import ToolSpec
from solodesk.llm.gateway import Gateway, ModelTarget

TOOL = ToolSpec("propose_write_document", "d", {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 200},
        "content": {"type": "string", "maxLength": 200_000},
        "lines": {"type": "array", "items": {"type": "string", "maxLength": 5000}},
    },
})


def test_long_string_limits_are_dropped_for_the_local_model_only() -> None:
    local = Gateway(ModelTarget(model="openai/local", free=True, schema_string_limit=1000))
    (tool,) = local._tools([TOOL])
    props = tool["function"]["parameters"]["properties"]
    assert props["title"]["maxLength"] == 200
    assert "maxLength" not in props["content"] and "maxLength" not in props["lines"]["items"]
    assert TOOL.parameters["properties"]["content"]["maxLength"] == 200_000  # not mutated
    hosted = Gateway(ModelTarget(model="openai/gpt-4o-mini"))
    (tool,) = hosted._tools([TOOL])
    assert tool["function"]["parameters"]["properties"]["content"]["maxLength"] == 200_000
