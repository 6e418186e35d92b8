"""The async agent runner: the support agent's mail triage and the manager agent's chat.

The runner never performs an external effect. Agents propose actions through the inbox's one
intake (``inbox.intake``); the founder decides on them through the decisions service
(``inbox.decisions``), which hands approved ones to the outbox. The runner's ``approve``,
``edit``, ``reject``... are thin delegations to that service, kept for callers of the runner.
Progress, proposals and streamed text are published on the :class:`~solodesk.core.events.EventBus`.
"""

from __future__ import annotations

import asyncio
import contextvars
import html
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from solodesk.agents import proposals as P
from solodesk.agents import tools as T
from solodesk.agents.budget import BudgetGuard
from solodesk.agents.cards import CardSet, load_cards
from solodesk.agents.critique import DevilsAdvocate
from solodesk.agents.loop import (
    AgentLoop,
    AgentReport,
    ProposalRef,
    assistant_message,
    result_messages,
)
from solodesk.agents.meetings import (
    PROPOSE_MEETING,
    asks_for_meeting,
    meeting_offer,
    meeting_payload,
)
from solodesk.agents.runs import RunCancelled, RunContext, RunManager
from solodesk.core import kinds as K
from solodesk.core.actions import (
    Action,
    ActionStatus,
    JSONObject,
    Provenance,
)
from solodesk.core.bounds import limit
from solodesk.core.cards import DELEGATE_TOOL, AgentCard
from solodesk.core.drafts import draft_problems
from solodesk.core.events import (
    ChatDelta,
    ChatFinished,
    EventBus,
    ModelCrashed,
    Progress,
    RunFailed,
)
from solodesk.core.kinds import validate_payload
from solodesk.core.kinds.calendar import SEND_INVITATION
from solodesk.core.kinds.mail import REPLY_EMAIL, SEND_EMAIL
from solodesk.core.llmtypes import (
    Completion,
    LLMError,
    Message,
    OverBudget,
    ToolCall,
    ToolSpec,
)
from solodesk.core.mail import (
    first_mailbox,
    is_placeholder_message_id,
    new_message_id,
    parse_mailboxes,
    reply_subject,
    validate_draft,
)
from solodesk.core.resources import prompt, resources_dir
from solodesk.inbox.decisions import Decisions, ExecuteFn, PreflightFailed, PreflightFn
from solodesk.inbox.gates import Gates
from solodesk.inbox.intake import Intake
from solodesk.llm.gateway import Gateway, ModelTarget
from solodesk.llm.local import LOCAL_MODEL_NAME, LOCAL_SCHEMA_STRING_LIMIT, LocalModelServer
from solodesk.store.config import Config
from solodesk.store.owner import Owner
from solodesk.store.repos import MailRecord, Store, TriageClaimLost
from solodesk.store.secrets import SecretError, SecretStore

log = logging.getLogger(__name__)

#: The agent cards as read when the current chat turn started: a turn (its manager's steps and the
#: runs it delegates to) reads the card files once. Read for every use, they were read ~4 times
#: per step on the GUI thread, each file read giving the GIL up to the streaming model thread
#: (a turn's set-up 0.4 ms idle, ~4 ms while 8 chats stream; issue 9).
_TURN_CARDS: contextvars.ContextVar[CardSet | None] = contextvars.ContextVar(
    "solodesk_turn_cards", default=None
)

#: Messages of a conversation sent to the manager agent with each turn (the latest ones).
CHAT_CONTEXT_MESSAGES = 20
#: Conversations whose latest messages the runner keeps in memory.
CHAT_CONTEXTS_KEPT = 8


#: Kept names: the decisions service (``inbox.decisions``) defines them.
ApprovalRefused = PreflightFailed


LocalServerFactory = Callable[[Path | None, Path], LocalModelServer]
"""Builds the local model launcher from ``(model_path or None, log_path)``."""

#: How often a run restarts a local model process that died, before it stops.
LOCAL_RESTARTS_PER_RUN = 1

#: Seconds to wait, after a failed call, for a dying local model process to end.
CRASH_WAIT_S = 3.0

SUPPORT_AGENT = "support"
MANAGER_AGENT = "manager"


@dataclass(slots=True)
class TriageOutcome:
    """What triage did with one mail."""

    mail_id: int
    status: str  # proposed | no_reply | invalid | failed | cancelled
    action_id: int | None = None
    note: str = ""


@dataclass(slots=True)
class TriageReport:
    """All outcomes of one triage run.

    Attributes:
        outcomes: One per mail this run triaged.
        skipped: Mail another run (the window, another command) was triaging meanwhile.
    """

    outcomes: list[TriageOutcome] = field(default_factory=list)
    skipped: int = 0

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


class Runner:
    """Runs agents against the configured model.

    Args:
        store: The database.
        config: Settings (``llm.*``, ``company.name``, ``founder.name``, ``smtp.from``).
        secrets: Keyring access (``llm.api_key``).
        bus: Where events are published.
        execute: The outbox's execute function for approved actions.
        log_dir: Where the local model server writes its log.
        gateway_factory: Builds the gateway for a target (tests may pass their own).
        preflight: Says why an approved action could not be executed now (checked before
            every approval by the founder); None checks nothing.
        local_server_factory: Builds the local model launcher (tests may pass one that starts
            a stand-in server).
        runs: The run manager (one is made on ``store`` and ``bus`` if None): every triage
            command, mail and chat turn is a run, and usage is counted per run.
        agent_budgets: USD per day per agent name (the agent cards' ``budget_usd``), checked
            with the company's budgets before every model call (:class:`BudgetGuard`).
        decisions: The founder's decisions service (one is made on ``execute`` and
            ``preflight`` if None).
        cards: The agent cards (``agents.cards``; None: the shipped ones): triage takes the
            support card's prompt, model and step limit.
    """

    def __init__(
        self,
        *,
        store: Store,
        config: Config,
        secrets: SecretStore,
        bus: EventBus,
        execute: ExecuteFn,
        log_dir: Path,
        gateway_factory: Callable[[ModelTarget], Gateway] | None = None,
        preflight: PreflightFn | None = None,
        local_server_factory: LocalServerFactory | None = None,
        runs: RunManager | None = None,
        agent_budgets: Mapping[str, float] | None = None,
        decisions: Decisions | None = None,
        cards: Callable[[], CardSet] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.secrets = secrets
        self.bus = bus
        self.log_dir = log_dir
        self._gateway_factory = gateway_factory
        self._local_factory: LocalServerFactory = local_server_factory or (
            lambda path, log_path: LocalModelServer(
                path, log_path=log_path, n_threads=self.config.get_int("llm.local_threads")
            )
        )
        self._local: LocalModelServer | None = None
        self._restarts_left = LOCAL_RESTARTS_PER_RUN
        self._model_lock = asyncio.Lock()
        self._gateway: Gateway | None = None
        self._gateway_key: tuple[str, ...] | None = None
        self._card_gateways: dict[str, Gateway] = {}
        self._cards = cards
        self.gates = decisions.gates if decisions is not None else Gates(store, config)
        self.decisions = decisions or Decisions(
            store, config, bus, execute=execute, preflight=preflight, gates=self.gates
        )
        # The devil's advocate critiques high-risk proposals of agent runs (Intake.submit).
        self.intake = Intake(store, self.gates, bus, critic=DevilsAdvocate(lambda: self.agents))
        self.runs = runs or RunManager(store, bus)
        self.budget = BudgetGuard(store, config, bus, agent_budgets=agent_budgets)
        # The latest messages of recent conversations (see _chat_context).
        self._chat_contexts: OrderedDict[int, deque[Message]] = OrderedDict()
        self._agents: AgentLoop | None = None

    # -- model ---------------------------------------------------------------------------------
    def model_label(self) -> str:
        """What the status bar shows: the configured model."""
        model = self.config.get("llm.model")
        return "local (llama.cpp)" if model == LOCAL_MODEL_NAME else model

    @property
    def preflight(self) -> PreflightFn | None:
        """The check run before every approval (the decisions service's)."""
        return self.decisions.preflight

    @preflight.setter
    def preflight(self, check: PreflightFn | None) -> None:
        self.decisions.preflight = check

    async def gateway(self) -> Gateway:
        """The gateway for the configured model, starting the local model server if needed.

        Raises:
            LLMError: the local model cannot be started, or settings are invalid.
        """
        async with self._model_lock:
            model = self.config.get("llm.model")
            api_base = self.config.get("llm.api_base")
            path = self.config.get("llm.local_model_path")
            # Everything the target is built from, so a changed setting or key applies at once.
            try:
                api_key = None if model == LOCAL_MODEL_NAME else self.secrets.get("llm.api_key")
            except SecretError as exc:
                raise LLMError(str(exc)) from None
            key = (
                model, api_base, path, self.config.get("llm.timeout"),
                self.config.get("llm.local_timeout"),
                self.config.get("llm.max_tokens"), api_key or "",
                self.config.get("llm.price_in_usd_per_mtok"),
                self.config.get("llm.price_out_usd_per_mtok"),
            )
            if self._gateway is not None and self._gateway_key == key and (
                model != LOCAL_MODEL_NAME or (self._local is not None and self._local.running)
            ):
                return self._gateway
            timeout = float(self.config.get_int("llm.timeout"))
            max_tokens = self.config.get_int("llm.max_tokens")
            if model == LOCAL_MODEL_NAME:
                if self._local is None or not self._local.running:
                    if self._local is not None:
                        # It died while idle (between runs): say so, then start a new one.
                        gone = self._local.crash_message()
                        self._local.stop()
                        if gone:
                            log.warning("%s", gone)
                            self.bus.publish(ModelCrashed(f"{gone}; restarting it", True))
                    self._local = self._local_factory(
                        Path(path).expanduser() if path else None,
                        self.log_dir / "local-model.log",
                    )
                    self.bus.publish(Progress("model", 0, 0, "starting the local model…"))
                    try:
                        await self._local.start()
                    finally:
                        self.bus.publish(Progress("model", 1, 1, "local model ready"))
                target = ModelTarget(
                    model=f"openai/{LOCAL_MODEL_NAME}",
                    api_base=self._local.api_base,
                    timeout=float(self.config.get_int("llm.local_timeout")),
                    max_tokens=max_tokens,
                    free=True,
                    schema_string_limit=LOCAL_SCHEMA_STRING_LIMIT,
                )
            else:
                target = ModelTarget(
                    model=model,
                    api_base=api_base or None,
                    api_key=api_key,
                    timeout=timeout,
                    max_tokens=max_tokens,
                    price_usd_per_mtok=self._founder_price(),
                )
            factory = self._gateway_factory or (
                lambda t: Gateway(t, on_call=self.runs.record_call, before_call=self.budget.check,
                              budget_applies=self.budget.applies)
            )
            self._gateway = factory(target)
            self._gateway_key = key
            return self._gateway

    def _founder_price(self) -> tuple[float, float] | None:
        """``llm.price_in_usd_per_mtok`` and ``llm.price_out_usd_per_mtok``, when both are set."""
        price_in = self.config.get("llm.price_in_usd_per_mtok").strip()
        price_out = self.config.get("llm.price_out_usd_per_mtok").strip()
        if not price_in or not price_out:
            return None
        return float(price_in), float(price_out)

    async def gateway_for(self, model: str | None) -> Gateway:
        """The gateway for an agent card's model: the configured one (:meth:`gateway`) when
        ``model`` is None or ``llm.model``, else a gateway for ``model`` with the same
        ``llm.api_base``, API key, timeout and answer size (one per model, kept).

        Raises:
            LLMError: the local model is asked for while ``llm.model`` is not ``local``, or
                the API key cannot be read.
        """
        configured = self.config.get("llm.model")
        if not model or model == configured:
            return await self.gateway()
        if model == LOCAL_MODEL_NAME:
            raise LLMError(
                "an agent card asks for the local model, which runs only when llm.model is "
                "'local': set it with 'solodesk config set llm.model local' or change the card"
            )
        try:
            api_key = self.secrets.get("llm.api_key")
        except SecretError as exc:
            raise LLMError(str(exc)) from None
        api_base = self.config.get("llm.api_base")
        target = ModelTarget(
            model=model,
            api_base=api_base or None,
            api_key=api_key,
            timeout=float(self.config.get_int("llm.timeout")),
            max_tokens=self.config.get_int("llm.max_tokens"),
        )
        cached = self._card_gateways.get(model)
        if cached is not None and cached.target == target:
            return cached
        factory = self._gateway_factory or (
            lambda t: Gateway(t, on_call=self.runs.record_call, before_call=self.budget.check,
                              budget_applies=self.budget.applies)
        )
        gateway = self._card_gateways[model] = factory(target)
        return gateway

    def card_set(self) -> CardSet:
        """The agent cards: within a chat turn, as read when it started; otherwise read
        afresh (either way an edited card applies to the next turn or run)."""
        snapshot = _TURN_CARDS.get()
        if snapshot is not None:
            return snapshot
        return self._read_cards()

    def _read_cards(self) -> CardSet:
        return self._cards() if self._cards is not None else load_cards(resources_dir(), None)

    def card(self, name: str) -> AgentCard | None:
        """The agent card ``name`` (the founder's override if valid, else the shipped one), or
        None if there is none."""
        return self.card_set().get(name)

    @property
    def agents(self) -> AgentLoop:
        """The generic agent loop (``agents.loop``) on this runner's intake, runs and models:
        the chat's delegations run through it."""
        if self._agents is None:
            self._agents = AgentLoop(
                store=self.store, config=self.config, intake=self.intake, runs=self.runs,
                gateway_for=self.gateway_for, cards=self.card_set,
                own_domain=self.gates.own_domain,
            )
        return self._agents

    async def close(self) -> None:
        """Stop the local model server, if one was started."""
        if self._local is not None:
            local, self._local = self._local, None
            await asyncio.get_running_loop().run_in_executor(None, local.stop)

    async def _local_crash(self, exc: LLMError) -> str | None:
        """If ``exc`` came from a local model process that died, why it died; else None.

        A crash during a request looks like a connection error to the client, so for those
        the process is given :data:`CRASH_WAIT_S` seconds to finish dying.
        """
        local = self._local
        if local is None or exc.server_refused:
            return None
        if local.running:
            await asyncio.get_running_loop().run_in_executor(None, local.wait_exit, CRASH_WAIT_S)
        return local.crash_message()

    async def _after_crash(self, crash: str) -> None:
        """Report a dead local model process once; forget it so the next
        :meth:`gateway` starts a new one, or stop the run if it already died once in it.

        Raises:
            LLMError: ``crash``, when the run has no restart left.
        """
        local, self._local = self._local, None
        if local is not None:
            local.stop()  # the process is gone; this closes its log
        self._gateway = None
        log.warning("%s", crash)
        if self._restarts_left <= 0:
            self.bus.publish(ModelCrashed(crash, False))
            raise LLMError(f"{crash} (again, after a restart); the run stopped")
        self._restarts_left -= 1
        self.bus.publish(ModelCrashed(f"{crash}; restarting it", True))

    async def _complete(
        self, gateway: Gateway, messages: list[Message], **kwargs: Any
    ) -> tuple[Completion, Gateway]:
        """``gateway.complete``, restarting a local model process that died during the call
        (once per run; see :meth:`_after_crash`) and asking again.

        Returns:
            The completion and the gateway that produced it (a new one after a restart:
            use it for the next call).

        Raises:
            LLMError: the call failed, or the local model died again.
        """
        while True:
            try:
                return await gateway.complete(messages, **kwargs), gateway
            except LLMError as exc:
                crash = await self._local_crash(exc)
                if crash is None:
                    raise
                await self._after_crash(crash)
                gateway = await self.gateway()

    def _local_fixups(self, args: dict[str, Any]) -> dict[str, Any]:
        """Undo an artefact of llama-cpp-python's chatml-function-calling template, which
        HTML-escapes the prompt (its Jinja environment autoescapes strings): the local model
        sees ``&#39;`` for ``'`` and copies such entities into its drafts. Only for
        ``llm.model = local``; other models see the text as written."""
        if self.config.get("llm.model") != LOCAL_MODEL_NAME:
            return args
        fixed = dict(args)
        for key in ("subject", "body"):
            if isinstance(fixed.get(key), str):
                fixed[key] = html.unescape(fixed[key])
        return fixed

    def _prompt_values(self) -> dict[str, str]:
        return {
            "company": self.config.get("company.name"),
            "founder": self.config.get("founder.name"),
        }

    def _message_id_domain(self) -> str:
        """The right-hand side of new Message-IDs: the founder's own domain (``smtp.from``)
        only; empty gives a placeholder on ``solodesk.invalid`` that is never sent (approval
        asks for ``smtp.from`` first and then re-issues it)."""
        return self.gates.own_domain()

    def _retries(self) -> int:
        return self.config.get_int("llm.validation_retries")  # 0..5, checked by the settings

    # -- triage --------------------------------------------------------------------------------
    async def triage(self, *, limit: int | None = None) -> TriageReport:
        """Run the support agent over mail not yet triaged.

        For each mail it proposes a ``reply_email`` (threaded with In-Reply-To/References), or
        records why no reply is needed, or records an ``invalid`` proposal after the bounded
        retries. A provider error marks that mail ``failed`` (it stays retryable) and stops.

        The command is one run of the support agent, and each mail a child run of it
        (``core.runs``): cancelling the command's run (:meth:`RunManager.cancel`) returns the
        outcomes so far; cancelling one mail's run puts that mail back and goes on.

        Raises:
            LLMError: the model cannot be reached at all.
        """
        self.store.mail.release_stale_triage()
        mails = self.store.mail.untriaged(limit=limit)
        report = TriageReport()
        if not mails:
            return report
        try:
            await self.runs.run(
                lambda run: self._triage_run(run, mails, report),
                agent=SUPPORT_AGENT,
                task=f"triage {len(mails)} mail",
            )
        except RunCancelled:
            pass  # the founder cancelled it: the outcomes so far stand
        return report

    async def _triage_run(
        self, run: RunContext, mails: list[MailRecord], report: TriageReport
    ) -> None:
        """The body of a triage command's run: each mail in a child run, outcomes into
        ``report``."""
        self._restarts_left = LOCAL_RESTARTS_PER_RUN
        card = self.card(SUPPORT_AGENT)
        model = card.model if card is not None else None
        await self.gateway_for(model)
        total = len(mails)
        for i, mail in enumerate(mails):
            # Claimed before any model call: a mail another run (the window, a second command)
            # is triaging is skipped, so it is never drafted twice.
            claim = self.store.mail.claim_for_triage(mail.id)
            if claim is None:
                report.skipped += 1
                continue
            self.bus.publish(Progress("triage", i, total, f"triaging: {mail.subject[:60]}"))
            try:
                with self.store.mail.lease(mail.id, claim):
                    # Per mail: a local model restarted after a crash has a new address.
                    outcome = await self.triage_one(
                        await self.gateway_for(model), mail, claim=claim, parent_run=run.id,
                        card=card,
                    )
            except LLMError as exc:
                # The mail goes back to untriaged ("new"), so the next run tries it again.
                self.store.mail.release_triage(mail.id, claim)
                if not isinstance(exc, OverBudget):  # BudgetExceeded already said why
                    self.bus.publish(RunFailed("triage", f"{mail.subject[:60]}: {exc}"))
                report.outcomes.append(TriageOutcome(mail.id, "failed", note=str(exc)))
                if not exc.server_refused:
                    run.error = str(exc)
                    break  # timeout or unreachable: the other mails would fail the same way
                continue
            except RunCancelled as exc:
                # This mail's run was cancelled: it goes back to untriaged; the others go on.
                self.store.mail.release_triage(mail.id, claim)
                report.outcomes.append(TriageOutcome(mail.id, "cancelled", note=str(exc)))
                continue
            except TriageClaimLost as exc:
                report.outcomes.append(TriageOutcome(mail.id, "failed", note=str(exc)))
                continue
            except BaseException:
                self.store.mail.release_triage(mail.id, claim)
                raise
            report.outcomes.append(outcome)
        done = len(report.outcomes)
        self.bus.publish(Progress("triage", done, done, f"triage finished ({done} of {total})"))

    async def triage_one(
        self,
        gateway: Gateway,
        mail: MailRecord,
        *,
        claim: Owner | None = None,
        parent_run: int | None = None,
        card: AgentCard | None = None,
    ) -> TriageOutcome:
        """Triage one mail (see :meth:`triage`) in a run of its own.

        Args:
            card: The support card: its prompt, and its step limit caps the attempts (None:
                the ``prompts/support.md`` prompt, ``llm.validation_retries`` + 1 attempts).
            claim: This run's triage claim on the mail (:meth:`MailRepo.claim_for_triage`); the
                outcome and any proposal are stored only while it still holds.
            parent_run: The triage command's run, if any.

        Raises:
            TriageClaimLost: the claim was lost meanwhile; nothing was stored.
            RunCancelled: the mail's run was cancelled; nothing was stored.
        """
        return await self.runs.run(
            lambda run: self._triage_mail(run, gateway, mail, claim, card),
            agent=SUPPORT_AGENT,
            task=f"triage mail #{mail.id}: {mail.subject}",
            parent_id=parent_run,
        )

    async def _triage_mail(
        self,
        run: RunContext,
        gateway: Gateway,
        mail: MailRecord,
        claim: Owner | None,
        card: AgentCard | None = None,
    ) -> TriageOutcome:
        if mail.automated:
            self.store.mail.set_triage(mail.id, "no_reply", mail.automated, claim=claim)
            return TriageOutcome(mail.id, "no_reply", note=mail.automated)
        sender = self._reply_recipients(mail)
        # A small local model cannot reliably decide whether a human's mail needs an answer
        # (SmolLM2 dismisses nearly everything), so with it every human mail gets a draft the
        # founder can edit or reject. Stronger models choose between the two tools.
        local = self.config.get("llm.model") == LOCAL_MODEL_NAME
        tools = [P.PROPOSE_REPLY] if local else [P.PROPOSE_REPLY, P.NO_REPLY_NEEDED]
        tool_choice: str | dict[str, Any] = (
            {"type": "function", "function": {"name": P.PROPOSE_REPLY.name}} if local else "auto"
        )
        system = (
            card.filled_prompt(self._prompt_values()) if card is not None
            else prompt("support", **self._prompt_values())
        )
        tries = self._retries() + 1
        if card is not None:
            tries = min(tries, card.max_steps)
        # Our own texts the model saw: a draft that copies them is not a mail.
        echoes = [system, *P.machine_texts(tools)]
        messages: list[Message] = [
            {"role": "system", "content": system},
            {
                "role": "user",
                "content": P.quote_untrusted_email(
                    {
                        "From": first_mailbox(mail.from_addr).describe() or mail.from_email,
                        "Reply-To": ", ".join(
                            b.describe() for b in parse_mailboxes(mail.reply_to) if b.addr
                        ),
                        "To": mail.to_addrs,
                        "Cc": mail.cc_addrs,
                        "Date": mail.date or "unknown (missing or unreadable Date header)",
                        "Subject": mail.subject,
                        "Body": mail.body_text,
                    }
                ),
            },
        ]
        # A mail asking for a meeting may get an invitation at one of the founder's free times
        # instead of a reply (agents.meetings); the small local model only drafts replies.
        offer = None
        if not local and asks_for_meeting(mail.subject, mail.body_text):
            offer = meeting_offer(self.store, self.config)
        if offer is not None:
            tools = [*tools, offer.tool()]
            system = (f"{system}\n\n## Meetings\n{offer.text()}\nIf the email asks for a "
                      f"meeting or a call, call {PROPOSE_MEETING} with one of these times "
                      "instead of replying.")
            messages[0] = {"role": "system", "content": system}
            echoes = [system, *P.machine_texts(tools)]
        # The business profile last, and never among the echoes: a reply may use its
        # signature or its prices.
        from solodesk.agents.memory_tools import profile_prompt

        section = profile_prompt(self.store, self.config, local=local)
        if section:
            messages[0] = {"role": "system", "content": f"{messages[0]['content']}\n\n{section}"}
        provenance = Provenance(source="mail", ref=mail.id, untrusted=True)
        attempts: list[str] = []
        last_call: ToolCall | None = None
        last_text = ""
        for _attempt in range(tries):
            completion, gateway = await self._complete(
                gateway, messages, tools=tools, tool_choice=tool_choice, purpose="triage",
                run_id=run.id,
            )
            call = completion.tool_calls[0] if completion.tool_calls else None
            last_call, last_text = call, completion.text
            errors: list[str]
            if call is None:
                errors = ["no tool was called: call propose_reply or no_reply_needed"]
            elif call.name == P.NO_REPLY_NEEDED.name:
                args, err = P.parse_arguments(call)
                reason = str(args.get("reason", "")).strip() if args else ""
                if args is not None and reason:
                    self.store.mail.set_triage(mail.id, "no_reply", reason[:500], claim=claim)
                    return TriageOutcome(mail.id, "no_reply", note=reason[:500])
                errors = [err or "reason: must not be empty"]
            elif call.name == P.PROPOSE_REPLY.name:
                args, err = P.parse_arguments(call)
                if args is None:
                    errors = [err or "invalid arguments"]
                else:
                    if not args.get("to"):
                        args["to"] = sender
                    # The subject of a reply is the mail's (RFC 5322 3.6.5), never the
                    # model's: the tool does not offer it, and one sent anyway is replaced.
                    args["subject"] = reply_subject(mail.subject)
                    draft, errors = validate_draft(self._local_fixups(args))
                    if draft is not None:
                        errors = draft_problems(draft.subject, draft.body, echoes=echoes)
                    if draft is not None and not errors:
                        payload = self._reply_payload(mail, draft.model_dump())
                        errors = validate_payload(REPLY_EMAIL, payload)
                        if not errors:
                            action = await self.intake.submit(
                                REPLY_EMAIL, payload, agent=SUPPORT_AGENT,
                                provenance=provenance, attempts=attempts,
                                mail_claim=(mail.id, claim),
                                draft_attempts=_attempt + 1, run_id=run.id,
                            )
                            return TriageOutcome(mail.id, "proposed", action.id)
            elif call.name == PROPOSE_MEETING and offer is not None:
                args, err = P.parse_arguments(call)
                invitation, errors = (
                    meeting_payload(args, offer, [*sender], domain=self._message_id_domain())
                    if args is not None else (None, [err or "invalid arguments"])
                )
                if invitation is not None:
                    errors = [e.replace("subject", "summary", 1) for e in draft_problems(
                        str(invitation["summary"]), str(invitation["body"]), echoes=echoes)]
                if invitation is not None and not errors:
                    errors = validate_payload(SEND_INVITATION, invitation)
                    if not errors:
                        action = await self.intake.submit(
                            SEND_INVITATION, invitation, agent=SUPPORT_AGENT,
                            provenance=provenance, attempts=attempts,
                            mail_claim=(mail.id, claim), draft_attempts=_attempt + 1,
                            run_id=run.id,
                        )
                        return TriageOutcome(mail.id, "proposed", action.id)
            else:
                errors = [f"unknown tool {call.name!r}: use "
                          + ", ".join(t.name for t in tools)]
            attempts.extend(f"attempt {_attempt + 1}: {e}" for e in errors)
            messages = messages + P.feedback_messages(call, completion.text, errors)
        action = self.intake.record_invalid(
            REPLY_EMAIL,
            P.raw_attempt(last_call, last_text),
            agent=SUPPORT_AGENT,
            provenance=provenance,
            run_id=run.id,
            errors=attempts,
            summary=f"Invalid reply proposal for: {mail.subject}",
            draft_attempts=tries,
            mail_claim=(mail.id, claim),
        )
        return TriageOutcome(mail.id, "invalid", action.id, "; ".join(attempts))

    @staticmethod
    def _reply_recipients(mail: MailRecord) -> list[str]:
        """Where a reply goes by default: every Reply-To mailbox, else the From mailbox (RFC 5322
        3.6.2), by addr-spec; a display name is kept only when it does not look like an
        address."""
        boxes = [b for b in parse_mailboxes(mail.reply_to) if b.addr]
        if not boxes:
            boxes = [first_mailbox(mail.from_addr)]
        # An untrusted, overlong display name is left out (core.bounds caps the From field).
        return [
            b.for_reply() if len(b.name) <= limit("from") else b.addr for b in boxes if b.addr
        ] or [mail.from_email]

    def _reply_payload(self, mail: MailRecord, draft: JSONObject) -> JSONObject:
        """The ``reply_email`` payload for a draft, threaded on ``mail`` (RFC 5322 3.6.4).

        A Message-ID the importer invented for a mail without one is not real: the reply then
        has no In-Reply-To, and References holds only the real ids of the thread. The parent is
        the message's own Message-ID, also when it is stored under another key (a conflict).
        """
        parent = mail.reply_message_id
        refs = [r for r in (mail.refs.split() if mail.refs else [])
                if not is_placeholder_message_id(r)]
        real_parent = not is_placeholder_message_id(parent)
        if real_parent and parent not in refs:
            refs.append(parent)
        return {
            "to": draft["to"],
            "cc": draft.get("cc", []),
            "subject": draft["subject"],
            "body": draft["body"],
            "message_id": new_message_id(self._message_id_domain()),
            "in_reply_to": parent if real_parent else "",
            "references": refs,
            "source_mail_id": mail.id,
        }

    # -- chat ----------------------------------------------------------------------------------
    async def chat(
        self,
        text: str,
        *,
        conversation_id: int | None = None,
        stop: asyncio.Event | None = None,
    ) -> tuple[int, Completion, list[Action]]:
        """One chat turn with the manager agent; the reply streams as :class:`ChatDelta` events.

        The turn is one run of the manager agent (``core.runs``), linked to the conversation.

        Returns:
            ``(conversation_id, completion, proposed_actions)``: the completion of the turn's
            last model call, its text the model's text of every step (the reply without the
            notes about proposals); the proposals of the manager and of its delegates.

        Raises:
            LLMError: the model cannot be reached (the founder's message is kept).
            RunCancelled: the turn's run was cancelled (:meth:`RunManager.cancel`).
        """
        if conversation_id is None:
            conversation_id = self.store.chat.new_conversation(text[:60] or "Chat")
        cid = conversation_id
        cards = _TURN_CARDS.set(self._read_cards())
        try:
            return await self.runs.run(
                lambda run: self._chat_turn(run, text, cid, stop),
                agent=MANAGER_AGENT,
                task=f"chat: {text}",
                conversation_id=cid,
            )
        finally:
            _TURN_CARDS.reset(cards)

    async def _chat_turn(
        self, run: RunContext, text: str, conversation_id: int, stop: asyncio.Event | None
    ) -> tuple[int, Completion, list[Action]]:
        chat = self.store.chat
        context = self._chat_context(conversation_id)
        history = list(context)
        chat.add_message(conversation_id, "user", text)
        context.append({"role": "user", "content": text})
        card = self.card(MANAGER_AGENT)
        if card is None:  # the shipped card always loads; only a broken install lacks it
            raise LLMError(
                "there is no manager agent card: reinstall SoloDesk or add "
                "agents/manager.toml to the data folder"
            )
        turn = _ChatTurn(self, card, run, conversation_id)
        messages: list[Message] = [{"role": "system", "content": turn.system}]
        messages += history
        messages.append({"role": "user", "content": text})
        self._restarts_left = LOCAL_RESTARTS_PER_RUN
        gateway = await self.gateway_for(card.model)
        as_text = (card.model or self.config.get("llm.model")) == LOCAL_MODEL_NAME
        cid = conversation_id
        streamed = False
        parts: list[str] = []
        separate = False  # a later step's text starts a new paragraph

        def on_delta(piece: str) -> None:
            nonlocal streamed, separate
            if separate and piece:
                separate = False
                self.bus.publish(ChatDelta(cid, "\n\n"))
            streamed = True
            self.bus.publish(ChatDelta(cid, piece))

        completion: Completion | None = None
        step_limit = True
        try:
            forced = T.first_tool_choice(card, local=as_text)
            routed = self.agents.routed(card, text) if as_text else []
            for step in range(card.max_steps):
                separate = bool(parts)
                while True:
                    try:
                        if step == 0 and routed:
                            # The local model cannot route: the request goes to the agents
                            # whose card keywords it names, as delegations it did not choose.
                            completion = T.routed_delegations(routed, text)
                            on_delta(completion.text)
                        elif step == 0 and forced is not None:
                            # A model that cannot choose tools itself (the local model) must
                            # start with the card's first tool (constrained decoding).
                            completion = await gateway.complete(
                                messages, tools=turn.specs, tool_choice=forced,
                                purpose="chat", run_id=run.id,
                            )
                        else:
                            completion = await self._chat_completion(
                                gateway, messages, on_delta, stop, run.id, turn.specs
                            )
                        break
                    except LLMError as exc:
                        crash = await self._local_crash(exc)
                        if crash is None:
                            raise
                        await self._after_crash(crash)
                        if streamed:  # part of the reply is on screen: do not write it twice
                            raise LLMError(
                                f"{crash}; the reply was cut off: ask again"
                            ) from None
                        gateway = await self.gateway_for(card.model)
                if completion.text:
                    parts.append(completion.text)
                if not completion.tool_calls or completion.finish_reason == "stopped":
                    step_limit = False
                    break
                results, goes_on = await turn.call_tools(gateway, messages, completion)
                if not goes_on:  # only proposals: the turn ends with them, as it always did
                    step_limit = False
                    break
                messages.append(assistant_message(completion.text, completion.tool_calls))
                messages += result_messages(completion.tool_calls, results, as_text=as_text)
        except LLMError as exc:
            turn.record_rejected()
            self.bus.publish(RunFailed("chat", str(exc)))
            raise
        turn.record_rejected()
        assert completion is not None  # max_steps >= 1 (checked when the card is loaded)
        if len(parts) > 1:  # the model's text of every step, as the founder saw it
            completion = replace(completion, text="\n\n".join(parts))
        separate = bool(parts)
        notes = turn.notes()
        if step_limit:
            run.error = (
                f"stopped at its step limit ({card.max_steps} model calls) before a final answer"
            )
            notes.append(f"(I stopped at my step limit of {card.max_steps} model calls before "
                         "a final answer: ask me to go on.)")
        if notes:
            extra = "\n".join(notes)
            on_delta(extra)
            parts.append(extra)
        reply = "\n\n".join(parts)
        stopped = completion.finish_reason == "stopped"
        stored = reply + (" …(stopped)" if stopped else "")
        chat.add_message(cid, "assistant", stored)
        context.append({"role": "assistant", "content": stored})
        self.bus.publish(ChatFinished(cid, reply, stopped=stopped))
        return cid, completion, turn.proposed()

    def _chat_context(self, conversation_id: int) -> deque[Message]:
        """The latest :data:`CHAT_CONTEXT_MESSAGES` messages of a conversation, kept in memory
        and appended to with each turn (read from the store once per conversation, not every
        turn); at most :data:`CHAT_CONTEXTS_KEPT` conversations are kept."""
        contexts = self._chat_contexts
        context = contexts.get(conversation_id)
        if context is None:
            rows = self.store.chat.messages(conversation_id)[-CHAT_CONTEXT_MESSAGES:]
            context = deque(
                ({"role": str(m["role"]), "content": str(m["content"])} for m in rows),
                maxlen=CHAT_CONTEXT_MESSAGES,
            )
            contexts[conversation_id] = context
            while len(contexts) > CHAT_CONTEXTS_KEPT:
                contexts.popitem(last=False)
        else:
            contexts.move_to_end(conversation_id)
        return context

    async def _chat_completion(
        self,
        gateway: Gateway,
        messages: list[Message],
        on_delta: Callable[[str], None],
        stop: asyncio.Event | None,
        run_id: int,
        tools: list[ToolSpec],
    ) -> Completion:
        """The manager's reply, streamed; without streaming if the server refuses to stream
        a tool call."""
        try:
            return await gateway.stream(
                messages, on_delta=on_delta, tools=tools, stop=stop, run_id=run_id,
            )
        except LLMError as exc:
            if not exc.server_refused:
                raise
            # Some servers (llama.cpp's chatml-function-calling) cannot stream a tool call
            # chosen automatically: ask again without streaming.
            log.info("streaming refused (%s); retrying without streaming", exc)
            completion = await gateway.complete(
                messages, tools=tools, tool_choice="auto" if tools else None,
                purpose="chat", run_id=run_id,
            )
            if completion.text:
                on_delta(completion.text)
            return completion

    async def _chat_proposal(
        self,
        gateway: Gateway,
        messages: list[Message],
        completion: Completion,
        call: ToolCall,
        conversation_id: int,
        run_id: int,
        *,
        tool: ToolSpec = P.PROPOSE_SEND_EMAIL,
        untrusted: bool = False,
    ) -> Action:
        """A ``send_email`` proposal from the manager's ``propose_send_email`` call in a chat
        turn, asking the model again (up to ``llm.validation_retries`` times) with the errors
        of an invalid one; recorded as ``invalid`` if it never gets valid. ``untrusted``: the
        turn read text the founder did not write (mail), so the proposal is untrusted."""
        provenance = Provenance(source="chat", ref=conversation_id, untrusted=untrusted)
        attempts: list[str] = []
        current_call: ToolCall | None = call
        text = completion.text
        convo = list(messages)
        echoes = [str(messages[0].get("content") or ""), *P.machine_texts([tool])]
        tries = 0
        for attempt in range(self._retries() + 1):
            tries = attempt + 1
            if current_call is not None and current_call.name == tool.name:
                args, err = P.parse_arguments(current_call)
                draft, errors = (
                    validate_draft(self._local_fixups(args)) if args is not None
                    else (None, [err or "invalid arguments"])
                )
                if draft is not None:
                    errors = draft_problems(draft.subject, draft.body, echoes=echoes)
            elif current_call is None:
                draft, errors = None, [f"no tool was called: call {tool.name}"]
            else:
                draft, errors = None, [f"unknown tool {current_call.name!r}"]
            if draft is not None and not errors:
                payload: JSONObject = {
                    **draft.model_dump(),
                    "message_id": new_message_id(self._message_id_domain()),
                }
                return await self.intake.submit(
                    SEND_EMAIL, payload, agent=MANAGER_AGENT, provenance=provenance,
                    attempts=attempts, draft_attempts=attempt + 1, run_id=run_id,
                )
            attempts.extend(f"attempt {attempt + 1}: {e}" for e in errors)
            if attempt == self._retries():
                break
            convo = convo + P.feedback_messages(current_call, text, errors)
            retry, gateway = await self._complete(
                gateway, convo, tools=[tool], tool_choice="auto",
                purpose="proposal", run_id=run_id,
            )
            current_call = retry.tool_calls[0] if retry.tool_calls else None
            text = retry.text
        return self.intake.record_invalid(
            SEND_EMAIL,
            P.raw_attempt(current_call, text),
            agent=MANAGER_AGENT,
            provenance=provenance,
            run_id=run_id,
            errors=attempts,
            summary="Invalid email proposal from chat",
            draft_attempts=tries,
        )

    # -- founder's decisions: delegated to the decisions service (inbox.decisions) --------------
    async def approve(
        self,
        action_id: int,
        *,
        expected_sha256: str | None = None,
        delay_s: float = 0.0,
    ) -> Action:
        """:meth:`Decisions.approve <solodesk.inbox.decisions.Decisions.approve>` by the
        founder (``delay_s`` 0: executed now)."""
        return await self.decisions.approve(
            action_id, expected_sha256=expected_sha256, delay_s=delay_s
        )

    async def execute_approved(self, action_id: int) -> Action:
        """:meth:`Decisions.execute_approved
        <solodesk.inbox.decisions.Decisions.execute_approved>`."""
        return await self.decisions.execute_approved(action_id)

    async def run_due(self) -> list[Action]:
        """:meth:`Decisions.run_due <solodesk.inbox.decisions.Decisions.run_due>`."""
        return await self.decisions.run_due()

    async def cancel(self, action_id: int) -> Action:
        """:meth:`Decisions.cancel <solodesk.inbox.decisions.Decisions.cancel>`."""
        return self.decisions.cancel(action_id)

    async def confirm_delivered(self, action_id: int) -> Action:
        """:meth:`Decisions.resolve <solodesk.inbox.decisions.Decisions.resolve>` delivered."""
        return self.decisions.resolve(action_id, delivered=True)

    async def confirm_not_delivered(self, action_id: int) -> Action:
        """:meth:`Decisions.resolve <solodesk.inbox.decisions.Decisions.resolve>` not
        delivered."""
        return self.decisions.resolve(action_id, delivered=False)

    async def reject(self, action_id: int, *, reason: str = "") -> Action:
        """:meth:`Decisions.reject <solodesk.inbox.decisions.Decisions.reject>`."""
        return self.decisions.reject(action_id, reason=reason)

    async def edit(self, action_id: int, payload: JSONObject) -> Action:
        """:meth:`Decisions.edit <solodesk.inbox.decisions.Decisions.edit>` of the payload as
        stored now."""
        return self.decisions.edit(action_id, payload, expected_sha256=None)


class _ChatTurn:
    """One chat turn's tools: the manager card's (``delegate``, read tools, ``propose_<kind>``),
    what they proposed, and the notes the reply gets about it.

    ``propose_send_email`` keeps the chat's own handling (:meth:`Runner._chat_proposal`:
    retries with the errors, chat provenance); a turn whose answer holds only such proposals
    ends with them. Every other tool call is run (delegations concurrently, at most the card's
    ``max_parallel``, else ``agents.max_parallel``), and its result goes back to the model.
    A delegation is a child run of the turn's run (:meth:`AgentLoop.delegate`).
    """

    def __init__(self, runner: Runner, card: AgentCard, run: RunContext, cid: int) -> None:
        self.runner = runner
        self.card = card
        self.run = run
        self.cid = cid
        loop = runner.agents
        tools = T.tools_for(card)
        self.system = loop.system_prompt(card, None)
        self.specs = T.specs_for(card, loop.team_names(card))
        self.by_name = {t.name: t for t in tools}
        self.send_tool = T.propose_tool_name(SEND_EMAIL)
        self.ctx = T.ToolContext(
            store=runner.store, intake=runner.intake, card=card, run_id=run.id,
            own_domain=runner.gates.own_domain(),
            echoes=[loop.system_prompt(card, None, profile=False),
                    *(t.description for t in tools)], setting=runner.config.get,
        )
        if card.delegates:
            self.ctx.delegate = self._delegate
        self.own: list[Action] = []
        self.delegated: list[ProposalRef] = []
        self.tool_actions: list[Action] = []
        self.rejected: dict[str, tuple[JSONObject, list[str]]] = {}
        self.attempts: dict[str, list[str]] = {}

    async def _delegate(self, agent: str, task: str) -> T.ToolResult:
        bus = self.runner.bus
        bus.publish(Progress("chat", 0, 0, f"{agent} is working on: {task[:60]}"))
        try:
            report = await self.runner.agents.delegate(
                self.card, agent, task, parent_run_id=self.run.id, ancestors=(self.card.name,),
                untrusted=self.ctx.untrusted,
            )
        finally:
            bus.publish(Progress("chat", 1, 1, f"{agent} finished"))
        return T.ToolResult(report.brief(), untrusted=report.untrusted, report=report)

    async def call_tools(
        self, gateway: Gateway, messages: list[Message], completion: Completion
    ) -> tuple[list[str], bool]:
        """Run one answer's tool calls.

        Returns:
            The results in the calls' order, and whether the turn goes on (a call other than
            ``propose_send_email`` was made: its result is for the model).
        """
        calls = completion.tool_calls
        results = [""] * len(calls)
        goes_on = False
        limit = self.card.max_parallel or self.runner.config.get_int("agents.max_parallel")
        gate = asyncio.Semaphore(max(1, limit))

        async def bounded(i: int, call: ToolCall) -> None:
            async with gate:
                results[i] = await self._call(call)

        delegations = []
        for i, call in enumerate(calls):
            if call.name == self.send_tool and call.name in self.by_name:
                action = await self.runner._chat_proposal(
                    gateway, messages, completion, call, self.cid, self.run.id,
                    tool=self.by_name[call.name].spec(), untrusted=self.ctx.untrusted,
                )
                self.own.append(action)
                results[i] = (
                    f"proposal #{action.id} ({action.summary}) is {action.status.value}; it "
                    "is not carried out until the founder approves it."
                )
                continue
            goes_on = True
            if call.name == DELEGATE_TOOL and call.name in self.by_name:
                delegations.append(bounded(i, call))
            else:
                results[i] = await self._call(call)
        if delegations:
            await asyncio.gather(*delegations)
        return results, goes_on

    async def _call(self, call: ToolCall) -> str:
        tool = self.by_name.get(call.name)
        if tool is None:
            return f"error: unknown tool {call.name!r}; tools: {', '.join(self.by_name)}"
        try:
            result = await tool.fn(self.ctx, T.decode_arguments(call.arguments))
        except T.ToolArgumentError as exc:
            return f"error: {call.name}: {exc}"
        except (asyncio.CancelledError, RunCancelled, OverBudget):
            raise
        except Exception as exc:  # a tool's own failure goes back to the model, not up
            log.warning("tool %s failed in chat", call.name, exc_info=True)
            return f"error: {call.name} failed: {exc}"
        if result.untrusted:
            self.ctx.untrusted = True
        if result.rejected is not None:
            kind, payload, errors = result.rejected
            self.rejected[kind] = (payload, errors)
            n = len(self.attempts.get(kind, [])) + 1
            self.attempts.setdefault(kind, []).extend(f"attempt {n}: {e}" for e in errors)
        if result.action is not None:
            self.rejected.pop(result.action.kind, None)
            self.tool_actions.append(result.action)
        if isinstance(result.report, AgentReport):
            self.delegated += result.report.proposals
        return result.text

    def record_rejected(self) -> None:
        """Record, as ``invalid`` proposals, the kinds whose last ``propose_<kind>`` attempt in
        this turn was refused (nothing the manager tried is lost)."""
        for kind, (payload, _errors) in list(self.rejected.items()):
            self.tool_actions.append(self.runner.intake.record_invalid(
                kind, payload, agent=self.card.name,
                provenance=Provenance("chat", self.cid, untrusted=self.ctx.untrusted),
                run_id=self.run.id, errors=self.attempts.get(kind, []),
                summary=f"Invalid {kind} proposal from chat",
                draft_attempts=max(1, len(self.attempts.get(kind, []))),
            ))
        self.rejected.clear()

    def notes(self) -> list[str]:
        """One line per proposal of the turn (the manager's and its delegates'), so the
        founder sees every one even when the model's answer leaves one out."""
        out = []
        for a in self.own:
            if a.status is ActionStatus.PENDING:
                out.append(f"Proposed email #{a.id} ({a.summary}) is waiting in your inbox.")
            else:
                out.append(f"A proposed email was invalid and is recorded as #{a.id}.")
        others = [ProposalRef.of(a) for a in self.tool_actions] + self.delegated
        seen: set[int] = set()
        for p in others:
            if p.id in seen:
                continue
            seen.add(p.id)
            title = K.get(p.kind).title if p.kind in K.names() else p.kind
            if p.status == ActionStatus.INVALID.value:
                out.append(f"An invalid proposal ({title}) by {p.agent} is recorded as #{p.id}.")
            else:
                out.append(f"Proposal #{p.id} ({title}: {p.summary}) by {p.agent} is "
                           f"{p.status} in your inbox.")
        return out

    def proposed(self) -> list[Action]:
        """The turn's proposals as stored now: the manager's, then its delegates'."""
        out = list(self.own) + list(self.tool_actions)
        ids = {a.id for a in out}
        for p in self.delegated:
            if p.id not in ids:
                ids.add(p.id)
                out.append(self.runner.store.actions.get(p.id))
        return out
