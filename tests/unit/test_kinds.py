"""The registry of action kinds: completeness, the mail kinds' declarations, and no kind checks
outside a kind's own modules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

import solodesk
from solodesk.actions import executors
from solodesk.core import kinds as K
from solodesk.core.actions import Provenance
from solodesk.core.kinds.mail import REPLY_EMAIL, SEND_EMAIL
from solodesk.core.policy import Outcome, RuleError, fields_for, parse_condition
from solodesk.ui import editors

ROOT = Path(solodesk.__file__).parent


@pytest.mark.parametrize("name", K.names())
def test_every_kind_has_schema_executor_risk_assessor_and_editor(name: str) -> None:
    spec = K.get(name)
    assert issubclass(spec.payload_model, BaseModel)
    assert spec.payload_model.model_config.get("extra") == "forbid", "extra fields allowed"
    assert spec.fields(), "the schema has no fields"
    assert callable(spec.assess), "no risk assessor"
    assert executors.has_executor(name), f"{name} has no executor (actions/executors)"
    assert editors.has_editor(name), f"{name} has no editor (ui/editors)"
    for fact in spec.fact_fields.values():
        assert fact.ops, "a fact without operators"


def test_builtin_kinds() -> None:
    assert {SEND_EMAIL, REPLY_EMAIL} <= set(K.names())
    assert K.label(REPLY_EMAIL) == "Reply" and K.label(SEND_EMAIL) == "Email"


# What checks a kind by name: comparisons with a kind constant or a kind name, membership in a
# tuple of kinds, and the removed ActionKind enum.
def _kind_check_patterns() -> list[re.Pattern[str]]:
    names = "|".join(re.escape(n) for n in K.names())
    return [
        re.compile(r"\bActionKind\b"),
        re.compile(r"\bMAIL_KINDS\b"),
        re.compile(r"(==|!=|\bis|\bin)\s*\(?\s*(SEND_EMAIL|REPLY_EMAIL)\b"),
        re.compile(r"\b(SEND_EMAIL|REPLY_EMAIL)\s*(==|!=)"),
        re.compile(rf"[\"']({names})[\"']"),
    ]


def _own_module(path: Path) -> bool:
    """A kind family's own modules: core/kinds/*, actions/executors/*, ui/editors/*."""
    rel = path.relative_to(ROOT).as_posix()
    return rel.startswith(("core/kinds/", "actions/executors/", "ui/editors/"))


def test_no_kind_checks_outside_the_kinds_own_modules() -> None:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if _own_module(path):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#", 1)[0]
            for pattern in _kind_check_patterns():
                if pattern.search(code):
                    found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "kind checks outside the kinds' own modules:\n" + "\n".join(found)


def test_the_grep_catches_a_kind_check() -> None:
    patterns = _kind_check_patterns()
    for line in (
        'if action.kind == "reply_email":',
        "if kind in (SEND_EMAIL, REPLY_EMAIL):",
        "if action.kind not in MAIL_KINDS:",
        "kind is ActionKind.SEND_EMAIL",
    ):
        assert any(p.search(line) for p in patterns), line


def test_unknown_kind_is_high_risk_and_invalid() -> None:
    risk = K.assess("wire_money", {"amount_cents": 500}, Provenance("chat"), K.RiskContext())
    assert risk.level.label == "high"
    assert risk.reasons == ["unreviewed action kind wire_money", "moves money (5.00)"]
    assert K.validate_payload("wire_money", {}) == ["unknown action kind 'wire_money'"]
    with pytest.raises(K.UnknownKind, match="kinds: "):
        K.get("wire_money")


def test_mail_blobs_and_idempotency_key() -> None:
    spec = K.get(SEND_EMAIL)
    payload = spec.parse({
        "to": ["a@acme.example"], "subject": "s", "body": "b", "message_id": "<m@x.example>",
        "attachments": [{"sha256": "a" * 64, "filename": "Offer.pdf",
                         "media_type": "application/pdf", "size": 3}],
    })
    assert spec.blobs(payload) == {"attachments[1] Offer.pdf": "a" * 64}
    assert spec.idempotency_key(payload) == "<m@x.example>"


def test_policy_fields_come_from_the_registry() -> None:
    assert {"agent", "kind", "risk", "untrusted", "amount_cents"} <= set(fields_for("*"))
    assert "recipients_known" in fields_for(REPLY_EMAIL)
    assert parse_condition("recipients_known == true", kind=REPLY_EMAIL).value is True
    with pytest.raises(RuleError, match="kind must be"):
        parse_condition("risk == low", kind="no_such_kind")


def test_schema_coercion_for_inbox_edit() -> None:
    spec = K.get(SEND_EMAIL)
    assert spec.coerce("to", "a@x.example, b@y.example") == ["a@x.example", "b@y.example"]
    assert spec.coerce("body", "Hello\nthere") == "Hello\nthere"
    with pytest.raises(ValueError, match="field must be to, cc, subject or body"):
        spec.coerce("message_id", "<x@y.z>")
    assert K.coerce_value("n", {"type": "integer"}, "12") == 12
    with pytest.raises(ValueError, match="n: needs a whole number"):
        K.coerce_value("n", {"type": "integer"}, "12.5")
    assert K.coerce_value("ok", {"type": "boolean"}, "true") is True


def test_a_kind_without_undo_window_is_not_delayed(tmp_path: Path) -> None:
    from solodesk.core.risk import Risk, RiskAssessment
    from solodesk.inbox.gates import Gates
    from solodesk.store.config import Config
    from solodesk.store.db import connect
    from solodesk.store.repos import Store

    class Tick(BaseModel):
        model_config = ConfigDict(extra="forbid")
        n: int

    K.register(K.KindSpec(
        name="test_tick", title="Tick", payload_model=Tick, summary=lambda p: str(p.n),
        assess=lambda p, prov, ctx: RiskAssessment(Risk.LOW), undo_window=False,
    ))
    try:
        config = Config(tmp_path / "settings.json")
        config.set("outbox.undo_seconds", "10")
        gates = Gates(Store(connect(tmp_path / "db.sqlite")), config)
        assert gates.undo_seconds("test_tick") == 0.0
        assert gates.undo_seconds(REPLY_EMAIL) == 10.0
        assert gates.undo_seconds() == 10.0
    finally:
        K.unregister("test_tick")


def test_policy_rules_are_checked_against_the_registry(tmp_path: Path) -> None:
    from solodesk.store.db import connect
    from solodesk.store.repos import Store

    store = Store(connect(tmp_path / "db.sqlite"))
    known = parse_condition("recipients_known == true", kind=REPLY_EMAIL)
    rule = store.policy.add(kind=REPLY_EMAIL, conditions=[known], outcome=Outcome.ASK)
    assert rule.kind == REPLY_EMAIL
    with pytest.raises(RuleError, match="kind must be \\* or one of send_email, reply_email"):
        store.policy.add(kind="wire_money", conditions=[], outcome=Outcome.ASK)

    class Tick(BaseModel):
        model_config = ConfigDict(extra="forbid")
        n: int

    from solodesk.core.risk import Risk, RiskAssessment

    K.register(K.KindSpec(
        name="test_tick", title="Tick", payload_model=Tick, summary=lambda p: str(p.n),
        assess=lambda p, prov, ctx: RiskAssessment(Risk.LOW),
    ))
    try:
        # A rule for a kind without recipients cannot test them ...
        with pytest.raises(RuleError, match="unknown field 'recipients_known' for test_tick"):
            parse_condition("recipients_known == true", kind="test_tick")
        with pytest.raises(RuleError, match="test_tick actions have no fact 'recipients_known'"):
            store.policy.add(kind="test_tick", conditions=[known], outcome=Outcome.ASK)
        # ... a * rule may (a missing fact makes that condition false).
        assert parse_condition("recipients_known == true").field == "recipients_known"
        assert parse_condition("kind == test_tick", kind="test_tick").value == "test_tick"
    finally:
        K.unregister("test_tick")


@pytest.mark.parametrize("name", K.names())
def test_agent_schema_is_a_fresh_copy_each_call(name: str) -> None:
    """The schema is built once per kind (every agent turn lists its kinds' tools) but each
    caller gets its own dict: changing one changes no other."""
    spec = K.get(name)
    first = spec.agent_schema()
    first["properties"]["mutated"] = {"type": "string"}
    first.setdefault("required", []).append("mutated")
    second = spec.agent_schema()
    assert "mutated" not in second["properties"]
    assert "mutated" not in second.get("required", [])
    assert second == spec.agent_schema() and second is not spec.agent_schema()
