"""USD budgets, checked before every model call.

:class:`BudgetGuard` is the gateway's ``before_call``: given a call's
:class:`~solodesk.core.llmtypes.CallEstimate` (prompt tokens + ``llm.max_tokens`` priced from
litellm's offline price map or the founder's ``llm.price_*_usd_per_mtok``; the local model costs
0; a model with no price at all is refused while any budget applies, since its spend could not
be bounded) it checks, against the spend recorded in
``llm_calls`` (``store.costs``):

- ``budget.daily_usd``: the whole company, since midnight today in the founder's time zone;
- ``budget.monthly_usd``: the whole company, since the first of this month, same zone;
- per agent (``agent_budgets``, from the agent cards): that agent's runs, per day;
- per job (``jobs.budget_usd``): the runs of the job run the call belongs to, per job run.

A call whose estimate would take spend past a budget is refused before it is made
(:class:`~solodesk.core.llmtypes.OverBudget`, a :class:`BudgetExceeded` event); the run pauses
with its state kept (the mail stays untriaged, the chat message is kept). At 80% of a budget a
:class:`BudgetWarning` is published once per budget scope and period, recorded in the store
(``store.budget_warnings``), so neither a restart nor a second process warns again. Raising the
budget (or a new period) and running again resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from solodesk.core.events import BudgetExceeded, BudgetWarning, EventBus
from solodesk.core.llmtypes import CallEstimate, OverBudget
from solodesk.core.schedule import timezone_named
from solodesk.store.config import Config
from solodesk.store.costs import start_of_day
from solodesk.store.repos import Store

#: Share of a budget at which the warning is given.
WARN_AT = 0.8


def founder_zone(config: Config) -> tzinfo:
    """``schedule.timezone``, else the system's time zone.

    Raises:
        ScheduleError: the setting is not an IANA time zone name.
    """
    name = config.get("schedule.timezone").strip()
    if name:
        return timezone_named(name)
    import tzlocal

    zone = tzlocal.get_localzone()
    return zone if isinstance(zone, ZoneInfo) else timezone_named(str(zone))


def usd(amount: float) -> str:
    """``$12.50``, or 4 significant digits below a dollar (``$0.0001``, ``$0.0006557``)."""
    return f"${amount:,.2f}" if abs(amount) >= 1 or amount == 0 else f"${amount:.4g}"


@dataclass(frozen=True, slots=True)
class _Limit:
    scope: str  # "daily", "monthly", "agent support", "job morning-mail"
    period: str  # what the 80% warning is once per: "2026-03-10", "2026-03", "job run 4"
    limit_usd: float
    spent_usd: float
    fix: str  # how to raise it


#: A budget with its scope, current period, limit and spend (USD), and how to raise it.
BudgetLimit = _Limit


class BudgetGuard:
    """Refuses a model call that could cross a budget.

    Args:
        store: Recorded calls (``store.costs``), runs and jobs.
        config: ``budget.daily_usd``, ``budget.monthly_usd``, ``schedule.timezone``.
        bus: Where :class:`BudgetExceeded` and :class:`BudgetWarning` go.
        agent_budgets: USD per day per agent name (the agent cards' ``budget_usd``).
        clock: Returns now, aware UTC (tests drive it).
    """

    def __init__(
        self,
        store: Store,
        config: Config,
        bus: EventBus,
        *,
        agent_budgets: Mapping[str, float] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.bus = bus
        self.agent_budgets = dict(agent_budgets or {})
        self.clock = clock or (lambda: datetime.now(UTC))
        self._warned: set[tuple[str, str]] = set()

    def _setting(self, key: str) -> float | None:
        text = self.config.get(key).strip()
        return float(text) if text else None

    def _run_info(self, run_id: int | None) -> tuple[str | None, int | None]:
        """The agent of the run and the job run of its tree (walking up to the root)."""
        if run_id is None:
            return None, None
        run = self.store.runs.get(run_id)
        agent, job_run_id, seen = run.agent, run.job_run_id, {run.id}
        while job_run_id is None and run.parent_id is not None and run.parent_id not in seen:
            run = self.store.runs.get(run.parent_id)
            seen.add(run.id)
            job_run_id = run.job_run_id
        return agent, job_run_id

    def limits(self, run_id: int | None) -> list[_Limit]:
        """The budgets that apply to a call for ``run_id``, with what each has spent."""
        now = self.clock()
        tz = founder_zone(self.config)
        local = now.astimezone(tz)
        day = local.date()
        day_start = start_of_day(day, tz)
        day_end = start_of_day(day + timedelta(days=1), tz)
        month_start = start_of_day(day.replace(day=1), tz)
        next_month = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        month_end = start_of_day(next_month, tz)
        costs = self.store.costs
        out: list[_Limit] = []
        daily = self._setting("budget.daily_usd")
        if daily is not None:
            out.append(_Limit("daily", local.date().isoformat(), daily,
                              costs.spent_usd(day_start, day_end),
                              "solodesk config set budget.daily_usd AMOUNT"))
        monthly = self._setting("budget.monthly_usd")
        if monthly is not None:
            out.append(_Limit("monthly", local.strftime("%Y-%m"), monthly,
                              costs.spent_usd(month_start, month_end),
                              "solodesk config set budget.monthly_usd AMOUNT"))
        agent, job_run_id = self._run_info(run_id)
        if agent is not None and agent in self.agent_budgets:
            out.append(_Limit(f"agent {agent}", local.date().isoformat(),
                              self.agent_budgets[agent],
                              costs.spent_usd(day_start, day_end, agent=agent),
                              f"raise budget_usd in the {agent} agent's card"))
        if job_run_id is not None:
            job = costs.job_of_run(job_run_id)
            if job is not None and job[1] is not None:
                out.append(_Limit(f"job {job[0]}", f"job run {job_run_id}", job[1],
                                  costs.job_run_spent_usd(job_run_id),
                                  f"solodesk jobs budget {job[0]} AMOUNT"))
        return out

    def usage(self) -> list[BudgetLimit]:
        """Every budget that is set, with what it has spent in its current period: the
        company's daily and monthly budgets, then each agent's (today), by agent name. Job
        budgets are per job run and are shown with each run, not here.

        Raises:
            ScheduleError: ``schedule.timezone`` is not an IANA time zone name.
        """
        out = self.limits(None)
        if not self.agent_budgets:
            return out
        tz = founder_zone(self.config)
        day = self.clock().astimezone(tz).date()
        day_start = start_of_day(day, tz)
        day_end = start_of_day(day + timedelta(days=1), tz)
        for agent, limit in sorted(self.agent_budgets.items()):
            out.append(_Limit(f"agent {agent}", day.isoformat(), limit,
                              self.store.costs.spent_usd(day_start, day_end, agent=agent),
                              f"raise budget_usd in the {agent} agent's card"))
        return out

    def applies(self, run_id: int | None) -> bool:
        """Whether any budget applies to a call for ``run_id`` (the gateway's
        ``budget_applies``): when none does, :meth:`check` accepts every call, so the call
        needs no estimate.

        Raises:
            ScheduleError: ``schedule.timezone`` is not an IANA time zone name.
        """
        founder_zone(self.config)  # a wrong time zone is reported as by :meth:`limits`
        if (self._setting("budget.daily_usd") is not None
                or self._setting("budget.monthly_usd") is not None):
            return True
        agent, job_run_id = self._run_info(run_id)
        if agent is not None and agent in self.agent_budgets:
            return True
        if job_run_id is not None:
            job = self.store.costs.job_of_run(job_run_id)
            return job is not None and job[1] is not None
        return False

    def check(self, call: CallEstimate) -> None:
        """The gateway's ``before_call``.

        Raises:
            OverBudget: the call could cross a budget; it must not be made.
        """
        limits = self.limits(call.run_id)
        if limits and not call.priced:
            lim = limits[0]
            clear = lim.fix.replace(" AMOUNT", " ''")
            message = (
                f"{call.model} has no price in litellm's price list, so this call cannot be "
                f"checked against the {lim.scope} budget of {usd(lim.limit_usd)}; the call was "
                "not made and the run is paused. Set the model's price in USD per million "
                "tokens (solodesk config set llm.price_in_usd_per_mtok PRICE and "
                "llm.price_out_usd_per_mtok PRICE; 0 for a model you host yourself) or clear "
                f"the budget ({clear}), and run again to resume"
            )
            self.bus.publish(BudgetExceeded(lim.scope, lim.limit_usd, lim.spent_usd,
                                            call.cost_usd, message, call.run_id))
            raise OverBudget(lim.scope, lim.limit_usd, lim.spent_usd, call.cost_usd, message)
        for lim in limits:
            after = lim.spent_usd + call.cost_usd
            if after > lim.limit_usd:
                message = (
                    f"the {lim.scope} budget of {usd(lim.limit_usd)} would be crossed: "
                    f"{usd(lim.spent_usd)} spent, this {call.model} call could cost up to "
                    f"{usd(call.cost_usd)} ({call.tokens_in} tokens in, up to "
                    f"{call.tokens_out} out); the call was not made and the run is paused. "
                    f"Raise it ({lim.fix}) and run again to resume"
                )
                self.bus.publish(BudgetExceeded(lim.scope, lim.limit_usd, lim.spent_usd,
                                                call.cost_usd, message, call.run_id))
                raise OverBudget(lim.scope, lim.limit_usd, lim.spent_usd, call.cost_usd, message)
            if after >= WARN_AT * lim.limit_usd and (lim.scope, lim.period) not in self._warned:
                self._warned.add((lim.scope, lim.period))
                message = (
                    f"{round(100 * after / lim.limit_usd) if lim.limit_usd else 100}% of the "
                    f"{lim.scope} budget of {usd(lim.limit_usd)} "
                    f"({usd(lim.spent_usd)} spent, up to {usd(call.cost_usd)} for this call)"
                )
                # Once per scope and period for the home, not per process: the store decides.
                if self.store.budget_warnings.record(
                    lim.scope, lim.period, limit_usd=lim.limit_usd, spent_usd=lim.spent_usd,
                    message=message, run_id=call.run_id,
                    job_run_id=self._run_info(call.run_id)[1],
                ):
                    self.bus.publish(BudgetWarning(lim.scope, lim.limit_usd, lim.spent_usd,
                                                   message, call.run_id))
