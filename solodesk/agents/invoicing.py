"""The invoicing agent: ``create_invoice`` proposals, the mail sending an invoice, and polite
payment reminders.

:meth:`Invoicing.propose_invoice` submits a validated
:class:`~solodesk.core.invoice.InvoiceDraft` as a ``create_invoice`` proposal
(it is numbered only when the founder approves it).

:meth:`Invoicing.propose_invoice_mail` proposes the ``send_email`` that sends an issued invoice
with its PDF attached (Message-ID ``<invoice-2026-0001@domain>``: one per invoice).

:meth:`Invoicing.propose_reminders` proposes, for each overdue open invoice whose next reminder
is due (``core.matching.reminder_due``: one per invoice per interval, never for a paid or cancelled
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
from solodesk.core.matching import (
    ReminderDue,
    ReminderSchedule,
    parse_reminder_message_id,
    reminder_message_id,
    reminders_due,
)
from solodesk.core.money import format_money
from solodesk.core.references import format_creditor_reference
from solodesk.inbox.intake import Intake
from solodesk.store.config import Config
from solodesk.store.repos import Store

INVOICING = "invoicing"


class ReminderError(Exception):
    """A mail cannot be proposed (e.g. no sender address); the message says what to do."""


def invoice_message_id(number: str, domain: str) -> str:
    """``<invoice-2026-0001@domain>``: the Message-ID (and so the idempotency key) of the mail
    that sends invoice ``number`` (one per invoice)."""
    return f"<invoice-{number}@{domain}>"


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

    def _domain(self) -> str:
        domain = mail_domain(self.config.get("smtp.from"))
        if not domain:
            raise ReminderError(
                "set your sender address first: solodesk config set smtp.from you@example.com"
            )
        return domain

    def _pdf_attachment(self, inv: Any) -> list[dict[str, Any]]:
        if not inv.pdf_sha256 or not self.store.blobs.has(inv.pdf_sha256):
            return []
        blob = self.store.blobs.get(inv.pdf_sha256)
        return [{
            "sha256": inv.pdf_sha256, "filename": f"Invoice-{inv.number}.pdf",
            "media_type": "application/pdf", "size": blob.size,
        }]

    async def propose_invoice_mail(self, number: str) -> Any:
        """Propose the ``send_email`` that sends invoice ``number`` to its customer with its
        PDF attached (the approval covers the PDF's sha256), in a run of agent ``invoicing``.

        Raises:
            NotFound: no such invoice.
            ReminderError: no sender address, no customer email, or the PDF is not rendered
                yet (the message says what to do).
            sqlite3.IntegrityError: the invoice's mail was proposed before.
        """
        from solodesk.core.references import format_creditor_reference

        domain = self._domain()
        inv = self.store.invoices.by_number(number)
        d = inv.draft
        if not d.customer.email:
            raise ReminderError(f"{d.customer.name} has no email address on invoice {number}")
        attachments = self._pdf_attachment(inv)
        if not attachments:
            raise ReminderError(f"invoice {number} has no PDF yet: render it with "
                                f"'solodesk invoices pdf {number} -o FILE' first")
        total = format_money(inv.totals.grand_total, d.currency)
        iban = self._set("company.iban")
        pay = f"to IBAN {iban} " if iban else ""
        founder, company = self._set("founder.name"), self._set("company.name")
        what = "credit note" if d.is_credit_note else "invoice"
        body = (
            f"Hello,\n\nplease find attached {what} {inv.number} of "
            f"{d.issue_date.isoformat()} for {total}."
            + (f" It is due on {d.due_date.isoformat()}." if d.due_date else "")
            + ("" if d.is_credit_note else
               f"\n\nPlease transfer the amount {pay}quoting the payment reference "
               f"{format_creditor_reference(inv.creditor_reference)}.")
            + "\n\nThe PDF carries the EN 16931 e-invoice (Factur-X) for your accounting "
            "system.\n\nThank you for your business.\n\n"
            + f"Kind regards,\n{founder or company}\n{company if founder else ''}".rstrip()
            + "\n"
        )
        payload: dict[str, Any] = {
            "to": [d.customer.email], "cc": [],
            "subject": f"{what.capitalize()} {inv.number} from {d.seller.name}",
            "body": body, "message_id": invoice_message_id(inv.number, domain),
            "attachments": attachments,
        }

        async def work(run: RunContext) -> Any:
            return self.intake.propose(
                SEND_EMAIL, payload, agent=INVOICING,
                provenance=Provenance("invoice", inv.id, untrusted=False), run_id=run.id,
            )

        return await self.runs.run(work, agent=INVOICING, task=f"send invoice {inv.number}")

    def sync_sent_reminders(self) -> int:
        """Record every executed reminder mail not yet recorded as its invoice's reminder;
        returns how many were recorded."""
        recorded = 0
        by_number = {s.number: s for s in self.store.invoices.states()}
        for action in self.store.actions.list(statuses=[ActionStatus.EXECUTED]):
            key = action.idempotency_key or ""
            parsed = parse_reminder_message_id(key)
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
        domain = self._domain()
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
        attachments = self._pdf_attachment(inv)
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
