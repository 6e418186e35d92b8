"""The job kinds that run agents: ``mail_triage``, ``bookkeeping``, ``invoice_reminders`` and
``agent``.

Each runs through :attr:`~solodesk.scheduler.JobContext.runner` (the process's
:class:`~solodesk.agents.runner.Runner`), exactly as the matching command does, inside the job run
(``agents.runs.for_job_run``, set by the scheduler): every model call is checked against the
job's budget (scope ``job NAME``), the agent's and the company's, and is counted in the job run's
tokens and cost. A job never approves: what it proposes goes through the intake's gates and the
founder's policy rules like any other proposal, and waits in the inbox unless a rule decides.

The agents are imported when a job of these kinds runs, never when the command line starts.
"""

from __future__ import annotations

from solodesk.scheduler import JobContext, JobResult, founder_timezone, register_job_kind

#: What a kind says when the scheduler was built without the agents.
NO_RUNNER = "this job runs an agent, and this SoloDesk process was started without the agents"


@register_job_kind(
    "mail_triage",
    "fetch new mail from the IMAP folders, then triage the untriaged mail into proposals "
    "(at most jobs.triage_limit per run)",
)
async def mail_triage(ctx: JobContext) -> JobResult:
    """Sync the IMAP folders (like ``solodesk mail sync``), then triage the mail that has no
    proposal yet through the support agent (like ``solodesk mail triage``), at most
    ``jobs.triage_limit`` mails per run. Mail imported earlier (a failed sync, ``mail import``)
    is triaged too. ``ok`` is False when the sync or a mail failed; the detail says both."""
    if ctx.runner is None:
        return JobResult(ok=False, detail=NO_RUNNER)
    parts: list[str] = []
    ok = True
    if ctx.config.get("imap.host").strip():
        from solodesk.connectors.imap import ImapConnector

        report = await ImapConnector(
            config=ctx.config, secrets=ctx.secrets, store=ctx.store, bus=ctx.bus
        ).sync()
        lines = [f.line() for f in report.folders]
        if report.error:
            ok = False
            parts.append(f"sync failed: {report.error}")
        parts += lines
    else:
        parts.append("IMAP is not configured (solodesk config set imap.host HOST): "
                     "only mail already imported is triaged")
    limit = ctx.config.get_int("jobs.triage_limit")
    triage = await ctx.runner.triage(limit=limit)
    left = len(ctx.store.mail.untriaged())
    failed = triage.count("failed")
    ok = ok and not failed
    proposed = triage.count("proposed")
    parts.append(
        f"triaged {len(triage.outcomes)}: {proposed} proposed, "
        f"{triage.count('no_reply')} no reply needed, {triage.count('invalid')} invalid, "
        f"{failed} failed" + (f"; {left} left for the next run" if left else "")
    )
    if failed:
        notes = [o.note for o in triage.outcomes if o.status == "failed" and o.note]
        if notes:
            parts.append(f"first failure: {notes[0]}")
    return JobResult(ok=ok, detail="; ".join(parts), proposals=proposed)


@register_job_kind(
    "bookkeeping",
    "the bookkeeper proposes a posting (record_transaction) for each bank line not yet proposed",
)
async def bookkeeping(ctx: JobContext) -> JobResult:
    """Like ``solodesk books propose``: one run of the bookkeeper over the bank lines not yet
    booked nor proposed."""
    if ctx.runner is None:
        return JobResult(ok=False, detail=NO_RUNNER)
    from solodesk.agents.bookkeeper import bookkeeper_for

    report = await bookkeeper_for(ctx.runner).propose_postings()
    proposed, refused = report.count("proposed"), report.count("refused")
    failed, skipped = report.count("failed"), report.count("skipped")
    detail = (f"{proposed} posting(s) proposed, {refused} refused, {failed} failed, "
              f"{skipped} already proposed")
    if not report.outcomes:
        detail = "no bank line to book"
    elif failed:
        first = next(o.reason for o in report.outcomes if o.status == "failed")
        detail += f"; first failure: {first}"
    return JobResult(ok=not failed, detail=detail, proposals=proposed, run_id=report.run_id)


@register_job_kind(
    "invoice_reminders",
    "the invoicing agent proposes the payment reminders due for overdue invoices",
)
async def invoice_reminders(ctx: JobContext) -> JobResult:
    """Like ``solodesk invoices reminders --propose`` for today (the founder's time zone): a
    reminder is due once per ``invoices.reminder_every_days`` interval, and each one has its
    own idempotency key, so running daily never proposes one twice."""
    if ctx.runner is None:
        return JobResult(ok=False, detail=NO_RUNNER)
    from solodesk.agents.invoicing import ReminderError, invoicing_for
    from solodesk.core.matching import ReminderSchedule

    today = ctx.clock().astimezone(founder_timezone(ctx.config)).date()
    schedule = ReminderSchedule(
        first_after_days=ctx.config.get_int("invoices.reminder_first_days"),
        every_days=ctx.config.get_int("invoices.reminder_every_days"),
        max_reminders=ctx.config.get_int("invoices.reminder_max"),
    )
    try:
        outcomes = await invoicing_for(ctx.runner).propose_reminders(today, schedule)
    except ReminderError as exc:
        return JobResult(ok=False, detail=str(exc))
    if not outcomes:
        return JobResult(detail=f"no payment reminder due on {today}")
    proposed = sum(1 for o in outcomes if o.status == "proposed")
    other = [f"{o.due.invoice.number}: {o.status} ({o.detail})" for o in outcomes
             if o.status != "proposed"]
    detail = f"{proposed} reminder(s) proposed" + (f"; {'; '.join(other)}" if other else "")
    return JobResult(detail=detail, proposals=proposed)


@register_job_kind("agent", "run the job's agent card on the job's task (--agent, --task)")
async def agent(ctx: JobContext) -> JobResult:
    """Run the agent card ``job.agent`` on ``job.task`` (``agents.loop.AgentLoop.run_card``);
    its proposals (its delegates' included) go to the inbox."""
    if ctx.runner is None:
        return JobResult(ok=False, detail=NO_RUNNER)
    if not ctx.job.agent or not ctx.job.task:
        return JobResult(ok=False, detail=f"job {ctx.job.name} names no agent or no task: add "
                         "it again with --agent NAME --task TEXT")
    from solodesk.agents.loop import UnknownAgent, proposals_of

    try:
        report = await ctx.runner.agents.run_card(ctx.job.agent, ctx.job.task)
    except UnknownAgent as exc:
        return JobResult(ok=False, detail=str(exc))
    made = proposals_of(report)
    text = " ".join(report.text.split())
    detail = f"{report.agent} {report.status}: {text[:300]}"
    return JobResult(ok=report.status == "done", detail=detail, proposals=len(made),
                     run_id=report.run_id)
