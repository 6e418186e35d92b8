"""HTML entities copied by the local model from llama.cpp's escaped prompt are undone."""

from __future__ import annotations

import asyncio
from pathlib import Path

from solodesk.services import build_services
from solodesk.store.paths import home_paths
from solodesk.store.secrets import SecretStore


def test_entities_are_unescaped_only_for_the_local_model(tmp_path: Path) -> None:
    sv = build_services(home_paths(tmp_path), secrets=SecretStore())
    try:
        args = {"to": ["a@example.com"], "subject": "Priya&#39;s export", "body": "A &amp; B"}
        sv.config.set("llm.model", "local")
        fixed = sv.runner._local_fixups(args)
        assert (fixed["subject"], fixed["body"]) == ("Priya's export", "A & B")
        assert args["subject"] == "Priya&#39;s export"  # the model's output is not mutated
        sv.config.set("llm.model", "openai/gpt-4o-mini")
        assert sv.runner._local_fixups(args) == args
    finally:
        asyncio.run(sv.aclose())
