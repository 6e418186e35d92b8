"""Composition of the headless parts: paths, settings, store, keyring, bus, outbox, runner.

``app.py`` (GUI) and ``cli.py`` both build a :class:`Services` here; nothing in this module
imports Qt or litellm.
"""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from solodesk.actions import executors
from solodesk.actions.executors.calendar import SMTP_MESSAGE
from solodesk.actions.executors.document import DOCUMENTS
from solodesk.actions.executors.invoice import INVOICES
from solodesk.actions.executors.mail import IMAP_FILING
from solodesk.actions.outbox import Outbox
from solodesk.actions.smtp import SmtpSettings
from solodesk.agents.cards import CardSet, load_cards
from solodesk.agents.loop import AgentLoop
from solodesk.agents.runner import Runner
from solodesk.connectors.mailimport import rederive_legacy
from solodesk.core.actions import Action
from solodesk.core.events import EventBus
from solodesk.core.resources import resources_dir
from solodesk.imap_filing import imap_filing
from solodesk.inbox.decisions import Decisions
from solodesk.store.config import Config
from solodesk.store.db import connect
from solodesk.store.documents import resolve_folder
from solodesk.store.paths import Paths, default_paths
from solodesk.store.repos import Store
from solodesk.store.reserve import DiskReserve
from solodesk.store.secrets import SecretStore
from solodesk.store.trust import Trust


@dataclass(slots=True)
class Services:
    """Everything a front end needs, built once per process."""

    paths: Paths
    config: Config
    store: Store
    secrets: SecretStore
    bus: EventBus
    outbox: Outbox
    runner: Runner

    def cards(self) -> CardSet:
        """The agent cards: shipped, then the founder's in ``DATA/agents`` (read afresh)."""
        return load_cards(resources_dir(), self.paths.data_dir)

    @property
    def agents(self) -> AgentLoop:
        """The generic agent loop (``agents.loop``) on the runner's intake, runs and model;
        it reads the cards afresh for each run, so an edited card applies at once."""
        runner = self.runner
        return AgentLoop(
            store=self.store, config=self.config, intake=runner.intake, runs=runner.runs,
            gateway_for=runner.gateway_for, cards=self.cards, own_domain=runner.gates.own_domain,
        )

    @property
    def decisions(self) -> Decisions:
        """The founder's decisions service (``inbox.decisions``): the only way the GUI and the
        command line approve, edit, reject, cancel or resolve a proposal."""
        return self.runner.decisions

    async def aclose(self) -> None:
        """Stop the local model server (if any) and close the database."""
        await self.runner.close()
        self.store.close()


class _QuietFileHandler(logging.handlers.RotatingFileHandler):
    """A log file that never prints to the console when it cannot write (a full disk): the
    standard handler would print a "--- Logging error ---" traceback to stderr instead."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging API
        pass


def setup_logging(log_dir: Path, *, level: int = logging.INFO) -> None:
    """Log to ``log_dir/solodesk.log`` (rotated at 2 MB, 3 files kept)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    if any(getattr(h, "_solodesk", False) for h in root.handlers):
        return
    handler = _QuietFileHandler(
        log_dir / "solodesk.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8",
        delay=True,
    )
    handler._solodesk = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("LiteLLM", "litellm", "httpx", "httpcore", "openai", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def preflight_check(
    config: Config, secrets: SecretStore, data_dir: Path | None = None
) -> Callable[[Action], list[str]]:
    """The check run before every approval: what would stop the action from being executed
    (each kind's preflight, registered with its executor: ``actions.executors``)."""
    ctx = executors.PreflightContext(config, secrets, data_dir)

    def check(action: Action) -> list[str]:
        return executors.preflight(action, ctx)

    return check


#: The name the mail-only check had (the mail kinds' preflight is now one of the kinds').
mail_preflight = preflight_check


def build_services(paths: Paths | None = None, *, secrets: SecretStore | None = None) -> Services:
    """Open the database (migrating it) and wire the parts together.

    In a home not yet keyed, a secure keyring keys it now (``Store.key_home``); the disk reserve
    is put in place when there is room (``store.reserve``).

    Raises:
        ConfigError: the settings file is unreadable.
        sqlite3.DatabaseError: the database is not a SQLite file.
        StoreBusy, DiskFull: the database could not be opened for writing.
    """
    paths = (paths or default_paths()).ensure()
    setup_logging(paths.log_dir)
    config = Config(paths.config_file)
    secrets = secrets or SecretStore()
    trust = Trust.for_home(paths.config_dir, paths.data_dir, secrets)
    store = Store(connect(paths.database), trust=trust)
    try:
        store.key_home()  # first run with a secure keyring: key approvals and the audit trail
    except BaseException:
        store.close()
        raise
    rederive_legacy(store.mail)  # once after the upgrade that keeps HTML; then a no-op query
    store.runs.reconcile()  # runs left 'running' by a process that is gone end as failed
    reserve = DiskReserve(paths.data_dir)
    reserve.ensure()
    bus = EventBus()
    outbox = Outbox(
        store,
        Outbox.smtp_sender(
            settings=lambda: SmtpSettings.from_config(config),
            password=lambda: secrets.get("smtp.password"),
            blobs=store.blobs,
        ),
        reserve=reserve,
        transports={
            INVOICES: lambda: config.get("invoices.font_dir") or None,
            DOCUMENTS: lambda: resolve_folder(config.get("documents.folder"), paths.data_dir),
            SMTP_MESSAGE: Outbox.smtp_message_sender(
                settings=lambda: SmtpSettings.from_config(config),
                password=lambda: secrets.get("smtp.password"),
            ),
            # A sent mail is filed in the IMAP Sent folder, its original flagged \Answered.
            IMAP_FILING: imap_filing(config, secrets, store, bus),
        },
    )
    decisions = Decisions(
        store, config, bus, execute=outbox.execute,
        preflight=preflight_check(config, secrets, paths.data_dir),
    )
    runner = Runner(
        store=store,
        config=config,
        secrets=secrets,
        bus=bus,
        execute=outbox.execute,
        log_dir=paths.log_dir,
        preflight=decisions.preflight,
        decisions=decisions,
        cards=lambda: load_cards(resources_dir(), paths.data_dir),
    )
    cards = load_cards(resources_dir(), paths.data_dir)
    # Each card's daily budget (its budget_usd) is checked before every call of its runs.
    runner.budget.agent_budgets.update(
        {c.name: c.budget_usd for c in cards if c.budget_usd is not None}
    )
    return Services(paths, config, store, secrets, bus, outbox, runner)
