"""``solodesk profile`` and ``solodesk memory`` in a subprocess: set/show/edit with errors that
name the field and keep the old profile, facts added, searched and forgotten."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.helpers import run_cli

pytestmark = pytest.mark.integration


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout


def fails(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stderr.strip()


def test_profile_set_show_and_errors(home: Path) -> None:
    assert "profile is empty" in ok(run_cli(home, "profile", "show"))
    out = ok(run_cli(home, "profile", "set", "offering",
                     "Website audit: 900 EUR; Consulting: 120.00 EUR/hour"))
    assert out.splitlines() == ["offering:", "  Website audit: 900.00 EUR",
                                "  Consulting: 120.00 EUR/hour"]
    ok(run_cli(home, "profile", "set", "signature", "-", input="Ada\nInkwell Notes\n"))
    err = fails(run_cli(home, "profile", "set", "availability", "Mon-Fry 09:00-12:00"))
    assert err == ("solodesk: availability: group 1 ('Mon-Fry 09:00-12:00'): 'mon-fry' is not "
                   "a day or range of days (Mon, Tue, ..., Sun); the profile was not changed")
    err = fails(run_cli(home, "profile", "set", "offering", "Audit: 9.999 EUR"))
    assert err.startswith("solodesk: offering[1] ('Audit: 9.999 EUR'): ")
    doc = json.loads(ok(run_cli(home, "profile", "show", "--json")))
    assert doc["offering"] == [
        {"name": "Website audit", "price_minor": 90000, "currency": "EUR", "unit": ""},
        {"name": "Consulting", "price_minor": 12000, "currency": "EUR", "unit": "hour"},
    ]
    assert doc["signature"] == "Ada\nInkwell Notes" and doc["availability"] == ""
    shown = ok(run_cli(home, "profile", "show"))
    assert "signature:\n  Ada\n  Inkwell Notes" in shown


def _editor(tmp_path: Path, content: str) -> str:
    """An $EDITOR that replaces the file with ``content``."""
    script = tmp_path / "editor.py"
    src = tmp_path / "content.json"
    src.write_text(content, encoding="utf-8")
    script.write_text(
        "import shutil, sys\n"
        f"shutil.copyfile({str(src)!r}, sys.argv[1])\n", encoding="utf-8",
    )
    return f"{sys.executable} {script}"


def test_profile_edit_validates_on_save_and_keeps_the_old_one(home: Path, tmp_path: Path
                                                               ) -> None:
    ok(run_cli(home, "profile", "set", "tone", "Warm"))
    bad = '{"tone": "Dry", "offering": [{"name": "X", "price_minor": -5, "currency": "EUR"}]}'
    err = fails(run_cli(home, "profile", "edit", env={"EDITOR": _editor(tmp_path, bad),
                                                      "VISUAL": None}))
    assert err.startswith("solodesk: offering[1].price_minor: Input should be greater than or "
                          "equal to 0; the profile was not changed (your text is kept in ")
    rejected = Path(err.rsplit("kept in ", 1)[1].rstrip(")"))
    assert rejected.read_text(encoding="utf-8") == bad
    assert json.loads(ok(run_cli(home, "profile", "show", "--json")))["tone"] == "Warm"
    good = '{"tone": "Dry", "customers": ["Acme: pays late"]}'
    assert ok(run_cli(home, "profile", "edit", env={"EDITOR": _editor(tmp_path, good),
                                                    "VISUAL": None})) == "profile: saved\n"
    doc = json.loads(ok(run_cli(home, "profile", "show", "--json")))
    assert (doc["tone"], doc["customers"]) == ("Dry", ["Acme: pays late"])


def test_memory_add_search_forget(home: Path) -> None:
    assert ok(run_cli(home, "memory", "add", "Acme pays invoices in 30 days",
                      "--ref", "call with Marta")).startswith("remembered #1: ")
    ok(run_cli(home, "memory", "add", "-", input="Refunds within 14 days\n"))
    assert ok(run_cli(home, "memory", "search", "invoice")).splitlines() == [
        "#1 [founder, call with Marta] Acme pays invoices in 30 days"
    ]
    found = json.loads(ok(run_cli(home, "memory", "search", "refund", "--json")))
    assert [(f["id"], f["source"], f["untrusted"]) for f in found] == [(2, "founder", False)]
    assert "no facts match" in ok(run_cli(home, "memory", "search", "unicorns"))
    ok(run_cli(home, "memory", "forget", "1"))
    assert ok(run_cli(home, "memory", "list")).splitlines() == [
        "#2 [founder] Refunds within 14 days"
    ]
    listed = ok(run_cli(home, "memory", "list", "--all"))
    assert "#1 [founder, call with Marta] (forgotten " in listed
    assert fails(run_cli(home, "memory", "forget", "9")) == (
        "solodesk: no fact #9; 'solodesk memory list' shows the facts"
    )
    assert fails(run_cli(home, "memory", "add", " ")) == (
        "solodesk: a fact cannot be empty; nothing was stored"
    )
    trail = ok(run_cli(home, "audit", "export"))
    assert [json.loads(line)["event"] for line in trail.splitlines()] == [
        "fact_added", "fact_added", "fact_forgotten"
    ]
