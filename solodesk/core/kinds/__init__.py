"""The registry of action kinds: one declaration per kind of external effect.

A kind (``reply_email``, later ``write_document``, ``record_transaction``...) is declared once,
as a :class:`KindSpec`: its stored payload schema (a pydantic model with ``extra="forbid"``), the
one-line summary the inbox lists, its idempotency key, its semantic validation, its risk
assessor, the facts policy rules may test (with their declarations, for parsing rules), and the
sha256 of every byte string it carries (an attachment, a document), so that the approval of the
payload's sha256 covers exactly the bytes executed.

Executors register per kind in ``actions/executors``, editors per kind in ``ui/editors``; this
package is pure (stdlib + pydantic) and knows neither. Importing it registers the built-in kinds
(``core/kinds/mail.py``: ``send_email``, ``reply_email``).

The stored ``Action.kind`` is the kind's :attr:`KindSpec.name`; code outside a kind's own modules
never tests a kind's name (``tests/unit/test_kinds.py`` greps for it): it asks the registry.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from solodesk.core.actions import Provenance
from solodesk.core.phishing import SenderFacts
from solodesk.core.risk import Risk, RiskAssessment

#: The type of a policy fact: how a rule's value is parsed and compared.
FactType = Literal["str", "int", "bool", "risk", "list"]


@dataclass(frozen=True, slots=True)
class FactField:
    """A fact a policy rule may test (``FIELD OP VALUE``).

    Attributes:
        type: ``str``, ``int`` (whole number; minor units for money), ``bool``, ``risk``
            (low/medium/high, ordered) or ``list`` (of lower-cased strings: ``in`` means every
            element is in the rule's list, ``not-in`` none is).
        ops: The operators allowed, from ``== != < <= > >= in not-in``.
        help: One line for the founder (policy dialog, ``solodesk policy add --help``).
    """

    type: FactType
    ops: tuple[str, ...]
    help: str = ""


@dataclass(frozen=True, slots=True)
class RiskContext:
    """What a kind's risk assessor and policy facts may know beyond the payload.

    Attributes:
        own_domain: The founder's mail domain (from ``smtp.from``); recipients there are
            internal.
        source_participants: Lower-cased addr-specs in the From/Reply-To/To/Cc of the untrusted
            mail the proposal answers (empty for chat).
        known_addresses: Lower-cased addresses the founder has corresponded with (membership is
            what is used; the store answers it with indexed lookups).
        lookup_known: The known subset of many addresses in one query (None: ask
            ``known_addresses`` one by one).
        sender: Phishing-relevant facts about the sender of the mail it answers, if any.
        thread: What the proposal answers, as text (the source mail, or the founder's chat
            messages): a promise must be found here or in ``profile``. None: promises are not
            checked (no thread is known).
        profile: What the founder's business allows, as text.
    """

    own_domain: str = ""
    source_participants: Collection[str] = ()
    known_addresses: Collection[str] = ()
    lookup_known: Callable[[Iterable[str]], set[str]] | None = None
    sender: SenderFacts | None = None
    thread: str | None = None
    profile: str = ""


@dataclass(frozen=True, slots=True)
class ProposalContext:
    """What a kind may use to complete an agent's proposal (:attr:`KindSpec.complete`).

    Attributes:
        own_domain: The founder's mail domain (from ``smtp.from``; empty when not set).
        setting: A setting's value by key (``store.config``), None when there is no config.
        customer: A customer of the customer list by name (case-insensitive, or a unique
            prefix), as ``Customer`` fields (``name``, ``address``, ``vat_id``, ``email``);
            raises ``LookupError`` whose message says what to do when none or several match.
            None when there is no store.
        today: The current date (UTC), None: ``date.today()`` in UTC.
        mail: A stored mail by id, as ``subject``, ``reply_to`` (where a reply goes),
            ``in_reply_to`` and ``references`` (its thread, RFC 5322 3.6.4); None when there
            is no such mail or no store.
        document: The file at a path relative to the documents folder as it is now:
            ``(hex sha256, text)``, or None when there is no file there; raises ``ValueError``
            (the message says why) when it cannot be a document (a folder, not UTF-8, a
            symlink out of the folder). None: no documents folder is known.
    """

    own_domain: str = ""
    mail: Callable[[int], Mapping[str, Any] | None] | None = None
    setting: Callable[[str], str] | None = None
    customer: Callable[[str], Mapping[str, Any]] | None = None
    today: date | None = None
    document: Callable[[str], tuple[str, str] | None] | None = None


class CompletionError(ValueError):
    """An agent's arguments cannot be completed into a payload (an unknown customer, a price
    that is not an amount...); :attr:`errors` says what, one line each, naming the field, and
    goes back to the model.

    Args:
        errors: One line each.
    """

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def no_blobs(_payload: BaseModel) -> Mapping[str, str]:
    """The :attr:`KindSpec.blobs` of a kind that carries no bytes."""
    return {}


def no_validation(_payload: BaseModel) -> list[str]:
    """The :attr:`KindSpec.validate` of a kind whose schema says everything."""
    return []


def no_key(_payload: BaseModel) -> str | None:
    """The :attr:`KindSpec.idempotency_key` of a kind without one."""
    return None


def no_facts(_payload: BaseModel, _ctx: RiskContext) -> dict[str, Any]:
    """The :attr:`KindSpec.facts` of a kind with no kind-specific policy facts."""
    return {}


@functools.lru_cache(maxsize=512)
def _agent_schema(model: type[BaseModel], fields: tuple[str, ...] | None) -> dict[str, Any]:
    """:meth:`KindSpec.agent_schema` of ``model`` narrowed to ``fields`` (shared: never change
    what this returns)."""
    schema = model.model_json_schema()
    schema.pop("title", None)
    props: dict[str, Any] = schema.get("properties", {})
    if fields is not None:
        keep = set(fields)
        schema["properties"] = props = {k: v for k, v in props.items() if k in keep}
        schema["required"] = [r for r in schema.get("required", []) if r in keep]
        if "$defs" in schema and "$ref" not in repr(props):
            schema.pop("$defs")
    for prop in props.values():
        if isinstance(prop, dict):
            prop.pop("title", None)
    return schema


@dataclass(frozen=True, slots=True)
class KindSpec:
    """The declaration of one action kind.

    Attributes:
        name: The stored ``kind`` value, e.g. ``reply_email``.
        title: For people, e.g. ``Reply to an email``.
        label: Short label for the inbox's Kind column, e.g. ``Reply``.
        payload_model: The stored payload's schema (``extra="forbid"``).
        summary: One line for the inbox list, from a valid payload.
        idempotency_key: The key fixed at proposal time (the Message-ID for mail), or None.
        validate: Semantic checks beyond the schema: one-line errors naming the field.
        assess: The risk of a valid payload from ``provenance`` in context.
        facts: Kind-specific policy facts of a valid payload (declared in ``fact_fields``).
        fact_fields: Name -> declaration of every fact ``facts`` returns.
        blobs: Name -> hex sha256 of each byte string the payload carries (stored in the
            ``blobs`` table, re-hashed by the executor before use).
        undo_window: Whether approvals wait ``outbox.undo_seconds`` before executing.
        render_text: The stored payload (JSON, valid or not) as ``inbox show`` lines, indented
            two spaces (None: :func:`render_fields`, every field of the schema).
        edit_fields: The fields ``inbox edit`` may change (None: every top-level field).
        quality: Checks of agent-written text beyond validation (echoed prompts, JSON instead of
            prose...), given the texts that must not be echoed; empty when fine.
        agent_fields: The top-level fields an agent writes in its ``propose_<kind>`` tool
            (None: every field); :attr:`complete` fills the others.
        complete: Turns an agent's arguments into the stored payload (fills the fields the
            agent does not write: a Message-ID, a reply's threading...); None: as given. May
            raise :class:`CompletionError`.
        agent_model: The schema of what an agent writes when it is not a part of
            :attr:`payload_model` (an invoice's customer by name instead of the full party);
            its fields replace :attr:`agent_fields`. None: :attr:`payload_model`'s.
    """

    name: str
    title: str
    payload_model: type[BaseModel]
    summary: Callable[[Any], str]
    assess: Callable[[Any, Provenance, RiskContext], RiskAssessment]
    label: str = ""
    idempotency_key: Callable[[Any], str | None] = no_key
    validate: Callable[[Any], list[str]] = no_validation
    facts: Callable[[Any, RiskContext], dict[str, Any]] = no_facts
    fact_fields: Mapping[str, FactField] = field(default_factory=dict)
    blobs: Callable[[Any], Mapping[str, str]] = no_blobs
    undo_window: bool = True
    render_text: Callable[[Mapping[str, Any]], list[str]] | None = None
    edit_fields: tuple[str, ...] | None = None
    quality: Callable[[Any, Iterable[str]], list[str]] | None = None
    agent_fields: tuple[str, ...] | None = None
    complete: Callable[[dict[str, Any], ProposalContext], dict[str, Any]] | None = None
    agent_model: type[BaseModel] | None = None

    # -- derived helpers --------------------------------------------------------------------
    def parse(self, payload: Mapping[str, Any]) -> BaseModel:
        """The payload as :attr:`payload_model`.

        Raises:
            pydantic.ValidationError: it does not match the schema.
        """
        return self.payload_model.model_validate(dict(payload))

    def errors(self, payload: Mapping[str, Any]) -> list[str]:
        """Schema and semantic errors of a stored payload (``field: message``); empty if it may
        be approved and executed."""
        try:
            parsed = self.parse(payload)
        except ValidationError as exc:
            return schema_errors(exc)
        return self.validate(parsed)

    def fields(self) -> dict[str, Any]:
        """The payload's top-level fields as in its JSON schema (name -> property schema)."""
        schema = self.payload_model.model_json_schema()
        props: dict[str, Any] = schema.get("properties", {})
        return props

    def agent_schema(self) -> dict[str, Any]:
        """The JSON schema of what an agent writes: :attr:`payload_model`'s, narrowed to
        :attr:`agent_fields` (titles dropped), or :attr:`agent_model`'s.

        Returns:
            A new dict each call (the caller may change it); built once per model and fields
            (pydantic's schema generation takes about 1 ms per kind, and every agent turn lists
            its kinds' tools).
        """
        fields = self.agent_fields if self.agent_model is None else None
        return copy.deepcopy(_agent_schema(self.agent_model or self.payload_model, fields))

    def from_agent(self, arguments: Mapping[str, Any], ctx: ProposalContext) -> dict[str, Any]:
        """The stored payload for an agent's ``propose_<kind>`` arguments: fields outside
        :attr:`agent_fields` are dropped, then :attr:`complete` fills what the kind adds."""
        args = dict(arguments)
        if self.agent_model is not None:
            args = {k: v for k, v in args.items() if k in self.agent_model.model_fields}
        elif self.agent_fields is not None:
            args = {k: v for k, v in args.items() if k in self.agent_fields}
        return self.complete(args, ctx) if self.complete is not None else args

    def editable(self) -> tuple[str, ...]:
        """The fields ``inbox edit`` may change."""
        return self.edit_fields if self.edit_fields is not None else tuple(self.fields())

    def render(self, payload: Mapping[str, Any]) -> list[str]:
        """The payload as ``inbox show`` lines (:attr:`render_text`, else
        :func:`render_fields`)."""
        if self.render_text is not None:
            return self.render_text(payload)
        return render_fields(self.fields(), payload)

    def coerce(self, name: str, text: str) -> Any:
        """The value of field ``name`` typed as ``text`` on a command line, by the field's JSON
        schema type: strings as given, arrays comma-separated (arrays of objects: JSON), whole
        numbers, decimals (kept as text when the schema allows a string, as pydantic's
        ``Decimal`` does), ``true``/``false``, objects as JSON.

        Raises:
            ValueError: ``name`` is not an editable field, or ``text`` is not of its type; the
                message names the field.
        """
        editable = self.editable()
        if name not in editable:
            allowed = (
                f"{', '.join(editable[:-1])} or {editable[-1]}" if len(editable) > 1
                else ", ".join(editable)
            )
            raise ValueError(f"field must be {allowed}")
        return coerce_value(name, self.fields()[name], text)


#: A text field longer than this (or with a line break) is shown as a block.
BLOCK_AFTER = 72


def _types(schema: Mapping[str, Any]) -> set[str]:
    """The JSON schema types a property allows (``anyOf`` flattened)."""
    out: set[str] = set()
    if "type" in schema:
        t = schema["type"]
        out |= set(t) if isinstance(t, list) else {str(t)}
    for alt in schema.get("anyOf", []) or []:
        out |= _types(alt)
    if "$ref" in schema or "allOf" in schema:
        out.add("object")
    return out


def coerce_value(name: str, schema: Mapping[str, Any], text: str) -> Any:
    """``text`` as a value of the JSON schema ``schema`` (see :meth:`KindSpec.coerce`).

    Raises:
        ValueError: ``text`` is not of that type (the message names ``name``).
    """
    import json

    types = _types(schema)
    if "array" in types:
        item: Mapping[str, Any] = schema.get("items") or next(
            (a.get("items", {}) for a in schema.get("anyOf", []) if a.get("type") == "array"), {}
        )
        if _types(item) & {"object"} or text.lstrip().startswith("["):
            try:
                value = json.loads(text or "[]")
            except json.JSONDecodeError as exc:
                raise ValueError(f"{name}: not a JSON list ({exc.msg})") from None
            if not isinstance(value, list):
                raise ValueError(f"{name}: give a JSON list")
            return value
        parts = [v.strip() for v in text.split(",") if v.strip()]
        if _types(item) & {"integer"}:
            return [coerce_value(name, item, p) for p in parts]
        return parts
    if "boolean" in types and text.strip().lower() in ("true", "false", "yes", "no"):
        return text.strip().lower() in ("true", "yes")
    if "integer" in types:
        try:
            return int(text.strip())
        except ValueError:
            if "string" not in types:
                raise ValueError(f"{name}: needs a whole number, not {text!r}") from None
    if "number" in types:
        from decimal import Decimal, InvalidOperation

        try:
            number = Decimal(text.strip())
        except InvalidOperation:
            if "string" not in types:
                raise ValueError(f"{name}: needs a number, not {text!r}") from None
        else:
            return text.strip() if "string" in types else float(number)
    if "object" in types and "string" not in types:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name}: not a JSON object ({exc.msg})") from None
    if "null" in types and text == "":
        return None
    if "boolean" in types and "string" not in types:
        raise ValueError(f"{name}: is true or false, not {text!r}")
    return text


def render_fields(fields: Mapping[str, Any], payload: Mapping[str, Any]) -> list[str]:
    """Every schema field of ``payload`` as terminal lines, indented two spaces: ``name: value``,
    lists comma-separated, long or multi-line text as an indented block, then any field the
    schema does not know. Control characters are escaped."""
    import json

    from solodesk.core.bounds import escape_controls

    lines: list[str] = []
    names = list(fields) + [k for k in payload if k not in fields]
    for name in names:
        if name not in payload:
            continue
        value = payload[name]
        if isinstance(value, str) and ("\n" in value or len(value) > BLOCK_AFTER):
            lines.append(f"  {name}:")
            text = escape_controls(value, multiline=True)
            lines += ["    " + line for line in text.splitlines()]
            continue
        if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
            shown = ", ".join(str(v) for v in value)
        elif isinstance(value, dict | list):
            shown = json.dumps(value, ensure_ascii=False)
        elif isinstance(value, bool):
            shown = str(value).lower()
        else:
            shown = "" if value is None else str(value)
        lines.append(f"  {name}: {escape_controls(shown)}")
    return lines


def schema_errors(exc: ValidationError) -> list[str]:
    """One line per pydantic error: ``field.path: message``."""
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "payload"
        out.append(f"{loc}: {err['msg']}")
    return out


class UnknownKind(LookupError):
    """An action kind nobody registered; the message lists the known ones."""


_REGISTRY: dict[str, KindSpec] = {}


def register(spec: KindSpec) -> KindSpec:
    """Register (or, in tests, replace) a kind; returns it.

    Raises:
        ValueError: the name is empty or not ``lower_snake_case``, or the model allows extra
            fields.
    """
    if not spec.name or not spec.name.replace("_", "").isalnum() or spec.name != spec.name.lower():
        raise ValueError(f"action kind names are lower_snake_case, not {spec.name!r}")
    if spec.payload_model.model_config.get("extra") != "forbid":
        raise ValueError(f"{spec.name}: its payload model must forbid extra fields")
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a kind (tests that register their own)."""
    _REGISTRY.pop(name, None)


def get(name: str) -> KindSpec:
    """The spec of ``name``.

    Raises:
        UnknownKind: no such kind.
    """
    try:
        return _REGISTRY[str(name)]
    except KeyError:
        raise UnknownKind(
            f"unknown action kind {name!r}; kinds: {', '.join(sorted(_REGISTRY))}"
        ) from None


def find(name: str) -> KindSpec | None:
    """The spec of ``name``, or None."""
    return _REGISTRY.get(str(name))


def names() -> list[str]:
    """Every registered kind, in registration order."""
    return list(_REGISTRY)


def specs() -> list[KindSpec]:
    """Every registered spec, in registration order."""
    return list(_REGISTRY.values())


def is_kind(name: str) -> bool:
    """Whether ``name`` is a registered kind."""
    return str(name) in _REGISTRY


def label(name: str) -> str:
    """The inbox label of ``name`` (its name when unknown)."""
    spec = _REGISTRY.get(str(name))
    return (spec.label or spec.title) if spec is not None else str(name)


def validate_payload(kind: str, payload: Mapping[str, Any]) -> list[str]:
    """Schema and semantic errors of ``payload`` as a ``kind`` payload; an unknown kind is an
    error."""
    spec = find(kind)
    if spec is None:
        return [f"unknown action kind {kind!r}"]
    return spec.errors(payload)


def summary(kind: str, payload: Mapping[str, Any]) -> str:
    """The inbox line of a valid payload.

    Raises:
        UnknownKind, pydantic.ValidationError: not a valid ``kind`` payload.
    """
    spec = get(kind)
    return spec.summary(spec.parse(payload))


def blobs_of(kind: str, payload: Mapping[str, Any]) -> Mapping[str, str]:
    """Name -> sha256 of the bytes a valid payload carries (empty for an invalid one)."""
    spec = find(kind)
    if spec is None:
        return {}
    try:
        return spec.blobs(spec.parse(payload))
    except ValidationError:
        return {}


def assess(
    kind: str, payload: Mapping[str, Any], provenance: Provenance, ctx: RiskContext
) -> RiskAssessment:
    """The kind's risk assessment; an unknown kind or a payload that does not match its schema
    is high risk."""
    spec = find(kind)
    if spec is None:
        reasons = [f"unreviewed action kind {kind}"]
        amount = payload.get("amount_cents")
        if isinstance(amount, int) and amount > 0:
            reasons.append(f"moves money ({amount / 100:.2f})")
        return RiskAssessment(Risk.HIGH, reasons)
    try:
        parsed = spec.parse(payload)
    except ValidationError as exc:
        return RiskAssessment(
            Risk.HIGH, [f"payload does not match the {kind} schema: {schema_errors(exc)[0]}"]
        )
    result = spec.assess(parsed, provenance, ctx)
    amount = payload.get("amount_cents")
    if isinstance(amount, int) and amount > 0:  # money moved: high, whatever the kind says
        return RiskAssessment(
            Risk.HIGH, [*result.reasons, f"moves money ({amount / 100:.2f})"]
        )
    return result


def facts(kind: str, payload: Mapping[str, Any], ctx: RiskContext) -> dict[str, Any]:
    """The kind-specific policy facts of a payload (empty when unknown or invalid)."""
    spec = find(kind)
    if spec is None:
        return {}
    try:
        parsed = spec.parse(payload)
    except ValidationError:
        return {}
    return spec.facts(parsed, ctx)


# The built-in kinds register themselves on import (at the end: they use the names above).
from solodesk.core.kinds import mail as _mail  # noqa: E402,F401,I001

# The money and calendar kinds (issue 10) after the mail kinds.
from solodesk.core.kinds import calendar as _calendar  # noqa: E402,F401
from solodesk.core.kinds import invoice as _invoice  # noqa: E402,F401
from solodesk.core.kinds import ledger as _ledger  # noqa: E402,F401

# Documents (issue 8).
from solodesk.core.kinds import document as _document  # noqa: E402,F401
# Shared memory (issue 8).
from solodesk.core.kinds import memory as _memory  # noqa: E402,F401
