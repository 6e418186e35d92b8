"""The invoicing agent: ``create_invoice`` proposals and polite payment reminders.

:func:`propose_invoice` submits a validated :class:`~solodesk.core.invoice.InvoiceDraft` as a
``create_invoice`` proposal (it is numbered only when the founder approves it).

:func:`propose_reminders` proposes, for each overdue open invoice whose next reminder is due
(``core.matching.reminder_due``: one per invoice per interval, never for a paid or cancelled
invoice), a ``send_email`` to the customer. Its Message-ID, the mail's idempotency key, carries
the invoice number and the reminder's ordinal (``<invoice-2026-0001-reminder-1@domain>``), so
the same reminder is never proposed twice. A reminder mail that was sent is recorded as the
invoice's reminder (``store.invoices.record_reminder``) the next time reminders are looked at,
which moves the next one an interval later.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date
from typing import Any

from solodesk.agents.runs import RunContext, RunManager
from solodesk.core.actions import ActionStatus, Provenance
from solodesk.core.invoice import InvoiceDraft
from solodesk.core.kinds.invoice import CREATE_INVOICE
from solodesk.core.kinds.mail import SEND_EMAIL
from solodesk.core.mail import mail_domain
from solodesk.core.matching import ReminderDue, ReminderSchedule, reminders_due
from solodesk.core.money import format_money
from solodesk.core.references import format_creditor_reference
from solodesk.inbox.intake import Intake
from solodesk.store.config import Config
from solodesk.store.repos import Store

INVOICING = "invoicing"


class ReminderError(Exception):
    """Reminders cannot be proposed (e.g. no sender address); the message says what to do."""


def reminder_message_id(number: str, ordinal: int, domain: str) -> str:
    """``<invoice-2026-0001-reminder-1@domain>``."""
    return f"<invoice-{number}-reminder-{ordinal}@{domain}>"


def _ordinal_of(message_id: str) -> tuple[str, int] | None:
    """``(invoice number, ordinal)`` of a reminder Message-ID, or None."""
    local = message_id.strip("<>").rsplit("@", 1)[0]
    if not local.startswith("invoice-") or "-reminder-" not in local:
        return None
    number, _, ordinal = local[len("invoice-"):].rpartition("-reminder-")
    return (number, int(ordinal)) if ordinal.isdigit() else None


def reminder_body(r: ReminderDue, *, founder: str, company: str, iban: str) -> str:
    """The polite reminder text (first reminders assume the customer forgot)."""
    inv = r.invoice
    amount = format_money(inv.outstanding, inv.currency)
    ref = format_creditor_reference(inv.creditor_reference)
    first = r.ordinal == 1
    opening = (
        "I hope all is well. This is a friendly reminder that invoice "
        f"{inv.number} of {inv.issue_date.isoformat()} was due on {inv.due_date}, and I have "
        "not received the payment yet — it may simply have slipped through."
        if first else
        f"I am writing again about invoice {inv.number} of {inv.issue_date.isoformat()}, due on "
        f"{inv.due_date}; as far as I can see it is still unpaid."
    )
    pay = f"to IBAN {iban} " if iban else ""
    return (
        f"Hello,\n\n{opening}\n\n"
        f"Amount outstanding: {amount}\n"
        f"Please transfer it {pay}quoting the payment reference {ref}.\n\n"
        "If you have already paid, please ignore this message — thank you! If something about "
        "the invoice is not right, just reply and I will sort it out.\n\n"
        f"Kind regards,\n{founder or company}\n{company if founder else ''}".rstrip() + "\n"
    )


@dataclass(frozen=True, slots=True)
class ReminderOutcome:
    """What happened to one due reminder: ``proposed``, ``skipped`` (already proposed) or
    ``not proposed`` (no customer email...), with the action id when one was stored."""

    due: ReminderDue
    status: str
    detail: str
    action_id: int | None = None


class Invoicing:
    """Proposes invoices and reminders (agent ``invoicing``)."""

    def __init__(self, store: Store, intake: Intake, runs: RunManager, config: Config) -> None:
        self.store = store
        self.intake = intake
        self.runs = runs
        self.config = config

    async def propose_invoice(self, draft: InvoiceDraft, *, provenance: Provenance) -> Any:
        """Submit ``draft`` as a ``create_invoice`` proposal in a run of agent ``invoicing``.

        Returns:
            The stored action (``invalid`` if the draft cannot be issued).

        Raises:
            sqlite3.IntegrityError: the same draft was proposed before.
        """

        async def work(run: RunContext) -> Any:
            return self.intake.propose(
                CREATE_INVOICE, draft.model_dump(mode="json"), agent=INVOICING,
                provenance=provenance, run_id=run.id,
            )

        return await self.runs.run(work, agent=INVOICING,
                                   task=f"invoice {draft.customer.name}")

    def sync_sent_reminders(self) -> int:
        """Record every executed reminder mail not yet recorded as its invoice's reminder;
        returns how many were recorded."""
        recorded = 0
        by_number = {s.number: s for s in self.store.invoices.states()}
        for action in self.store.actions.list(statuses=[ActionStatus.EXECUTED]):
            key = action.idempotency_key or ""
            parsed = _ordinal_of(key)
            if parsed is None or parsed[0] not in by_number:
                continue
            state = by_number[parsed[0]]
            sent_on = date.fromisoformat((action.executed_at or action.updated_at)[:10])
            before = len(self.store.invoices.reminders(state.invoice_id))
            self.store.invoices.record_reminder(
                state.invoice_id, sent_on=sent_on, action_id=action.id, actor="invoicing"
            )
            recorded += len(self.store.invoices.reminders(state.invoice_id)) - before
        return recorded

    async def propose_reminders(
        self, today: date, schedule: ReminderSchedule
    ) -> list[ReminderOutcome]:
        """Propose the reminders due ``today`` (see the module docstring).

        Raises:
            ReminderError: ``smtp.from`` is not set (a reminder needs the founder's address).
        """
        domain = mail_domain(self.config.get("smtp.from"))
        if not domain:
            raise ReminderError(
                "set your sender address first: solodesk config set smtp.from you@example.com"
            )
        self.sync_sent_reminders()
        due = reminders_due(self.store.invoices.states(open_only=True), today, schedule)
        out: list[ReminderOutcome] = []
        if not due:
            return out

        async def work(run: RunContext) -> None:
            for r in due:
                out.append(self._propose_one(run, r, domain))

        await self.runs.run(work, agent=INVOICING, task=f"{len(due)} payment reminder(s)")
        return out

    def _set(self, key: str) -> str:
        """The setting ``key`` if the founder set it, else ``""`` (never a placeholder)."""
        return next((v for k, v, default in self.config.items() if k == key and not default), "")

    def _propose_one(self, run: RunContext, r: ReminderDue, domain: str) -> ReminderOutcome:
        inv = self.store.invoices.get(r.invoice.invoice_id)
        email = inv.draft.customer.email
        if not email:
            return ReminderOutcome(r, "not proposed", f"{inv.draft.customer.name} has no email "
                                   "address on the invoice")
        attachments = []
        if inv.pdf_sha256 and self.store.blobs.has(inv.pdf_sha256):
            blob = self.store.blobs.get(inv.pdf_sha256)
            attachments.append({
                "sha256": inv.pdf_sha256, "filename": f"Invoice-{inv.number}.pdf",
                "media_type": "application/pdf", "size": blob.size,
            })
        payload: dict[str, Any] = {
            "to": [email],
            "cc": [],
            "subject": (f"Reminder: invoice {inv.number}" if r.ordinal == 1
                        else f"Reminder {r.ordinal}: invoice {inv.number}"),
            "body": reminder_body(
                r, founder=self._set("founder.name"),
                company=self.config.get("company.name"), iban=self.config.get("company.iban"),
            ),
            "message_id": reminder_message_id(inv.number, r.ordinal, domain),
            "attachments": attachments,
        }
        try:
            action = self.intake.propose(
                SEND_EMAIL, payload, agent=INVOICING,
                provenance=Provenance("invoice", inv.id, untrusted=False), run_id=run.id,
            )
        except sqlite3.IntegrityError:
            return ReminderOutcome(r, "skipped", f"reminder #{r.ordinal} was proposed before")
        return ReminderOutcome(r, "proposed", f"reminder #{r.ordinal} ({action.status.value})",
                               action.id)


def invoicing_for(runner: Any) -> Invoicing:
    """The invoicing agent over a :class:`~solodesk.agents.runner.Runner`'s parts."""
    return Invoicing(runner.store, runner.intake, runner.runs, runner.config)
