"""What fires: pure functions from a rule and a run's (or a budget's) figures to an
:class:`Alert`. The rules and budgets themselves are parsed in :mod:`xprof.alert_rules`.

Each alert is identified by (rule key, subject): the subject is the run id for run rules and
``project/period/start/kind`` for budgets, so an alert fires once however often it is
evaluated (the store's ``alerts_sent`` table keeps the record; see :mod:`xprof.alert_sender`).
Bodies are plain text without links and end with what to do.

Standard library only: the agent evaluates run rules on its writer thread.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from xprof.alert_rules import (
    CURRENCY,
    OPS,
    Alert,
    AlertRule,
    Budget,
    plain_value,
)
from xprof.money import format_amount
from xprof.units import format_span

FORECAST_MIN_ELAPSED = dt.timedelta(days=1)  # no forecast from the first hours of a period


# -- runs -----------------------------------------------------------------------------------------
def _who(run: Mapping[str, Any]) -> str:
    return f"run {run.get('name') or run['id'][:8]} ({run['id'][:8]})"


def _where(run: Mapping[str, Any]) -> str:
    """`` of project vision on host gpu-3 (p3.2xlarge)``, as far as known."""
    text = f" of project {run['project']}" if run.get("project") else ""
    if run.get("host"):
        text += f" on host {run['host']}"
    if run.get("instance_type"):
        text += f" ({run['instance_type']})"
    return text


def _alert(rule: AlertRule, run: Mapping[str, Any], title: str, *lines: str,
           **data: Any) -> Alert:
    return Alert(rule, run["id"], title, "\n".join(lines), run_id=run["id"],
                 project=run.get("project"), data=data)


def failed_alert(rule: AlertRule, run: Mapping[str, Any], status: str,
                 exit_code: int | None = None, signal: int | None = None,
                 duration_s: float | None = None, last_seen: dt.datetime | None = None,
                 stopped_by: str | None = None) -> Alert | None:
    """run_failed: the run ended with one of the rule's statuses."""
    if rule.rule != "run_failed" or status not in rule.statuses or \
            not rule.matches_project(run.get("project")):
        return None
    who, short = _who(run), run["id"][:8]
    after = f" after {format_span(duration_s)}" if duration_s is not None else ""
    resume = (f"start it again with `xprof run --resume {short} -- <command>` so the attempts "
              "count as one experiment.")
    if status == "crashed":
        seen = f" at {last_seen:%Y-%m-%d %H:%M} UTC" if last_seen else ""
        return _alert(rule, run, f"xprof: {who} crashed",
                      f"{who.capitalize()}{_where(run)} stopped reporting{seen}{after}: "
                      "its agent or its machine died (out of memory, a spot interruption, a "
                      "reboot or kill -9).",
                      "What to do: check the machine (the kernel log for the OOM killer, the "
                      "provider's instance history for an interruption), then " + resume,
                      status=status)
    if status == "killed" and stopped_by == "budget":
        return _alert(rule, run, f"xprof: {who} was stopped at its budget",
                      f"{who.capitalize()}{_where(run)} reached its --budget{after} and xprof "
                      "stopped it (--on-budget stop).",
                      f"What to do: check what it achieved (`xprof show {short}`); if it needs "
                      "more, raise the budget and " + resume, status=status)
    if status == "killed":
        how = f"by signal {signal}" if signal else "by a signal"
        return _alert(rule, run, f"xprof: {who} was killed {how}",
                      f"{who.capitalize()}{_where(run)} was killed {how}{after}.",
                      "What to do: if nobody stopped it on purpose, look for the OOM killer "
                      "in the kernel log or a scheduler's time limit, then " + resume,
                      status=status, signal=signal)
    code = f" with exit code {exit_code}" if exit_code is not None else ""
    return _alert(rule, run, f"xprof: {who} failed{code}",
                  f"{who.capitalize()}{_where(run)} failed{code}{after}.",
                  f"What to do: read the end of its output with `xprof show {short}`, fix the "
                  "cause, then " + resume, status=status, exit_code=exit_code)


def cost_alert(rule: AlertRule, run: Mapping[str, Any], cost: Decimal | None, currency: str,
               running: bool, duration_s: float | None = None) -> Alert | None:
    """run_cost_above: the run's cost (so far, or in all) is above the rule's amount."""
    if rule.rule != "run_cost_above" or cost is None or rule.amount is None or \
            currency != rule.currency or cost <= rule.amount or \
            not rule.matches_project(run.get("project")):
        return None
    who, short = _who(run), run["id"][:8]
    spent, limit = format_amount(cost, currency), format_amount(rule.amount, currency)
    took = f" in {format_span(duration_s)}" if duration_s is not None else ""
    if running:
        lines = (f"{who.capitalize()}{_where(run)} has cost {spent} so far{took} "
                 f"(estimate from the price catalog), above the alert threshold of {limit}; "
                 "it is still running.",
                 f"What to do: check that it is still making progress (`xprof show {short}`) "
                 "and stop it if not. To cap later runs, start them with "
                 f"`xprof run --budget {plain_value(rule.amount)} --on-budget stop -- <command>`.")
    else:
        lines = (f"{who.capitalize()}{_where(run)} cost {spent}{took}, above the alert "
                 f"threshold of {limit}.",
                 f"What to do: compare what it bought with its cost (`xprof show {short}`), "
                 "see `xprof advise` for a cheaper machine, and cap later runs with "
                 f"`xprof run --budget {plain_value(rule.amount)} --on-budget stop -- <command>`.")
    return _alert(rule, run, f"xprof: {who} has cost {spent}, over {limit}", *lines,
                  cost=str(cost), currency=currency)


def idle_alert(rule: AlertRule, run: Mapping[str, Any], idle_s: float | None) -> Alert | None:
    """gpu_idle: every GPU the run used has been idle (≤ 5 % busy) for the rule's minutes."""
    if rule.rule != "gpu_idle" or idle_s is None or rule.minutes is None or \
            idle_s < rule.minutes * 60 or not rule.matches_project(run.get("project")):
        return None
    who, short = _who(run), run["id"][:8]
    return _alert(rule, run, f"xprof: the GPUs of {who} have been idle for "
                  f"{format_span(idle_s)}",
                  f"Every GPU that {who}{_where(run)} uses has been at or below 5 % "
                  f"utilisation for {format_span(idle_s)}, while the run goes on and its "
                  "machine is paid for.",
                  "What to do: check whether it is stuck (a hang, a dead data loader, waiting "
                  "for input) or has finished its GPU work (evaluation or checkpointing on the "
                  f"CPU); stop it if so (`xprof show {short}` shows what it is doing).",
                  idle_s=idle_s)


def metric_alert(rule: AlertRule, run: Mapping[str, Any], metrics: Mapping[str, float]
                 ) -> Alert | None:
    """metric_threshold: the metric's last value satisfies ``metric op value``."""
    if rule.rule != "metric_threshold" or rule.metric not in metrics or \
            not rule.matches_project(run.get("project")):
        return None
    value = metrics[rule.metric]
    if isinstance(value, tuple | list):  # the runner's (value, step) pairs
        value = value[0] if value else None
    assert rule.op is not None and rule.value is not None
    try:
        value = float(value)  # type: ignore[arg-type]
        crossed = OPS[rule.op](value, rule.value)
    except (TypeError, ValueError):
        return None
    if not crossed:
        return None
    who, short = _who(run), run["id"][:8]
    test = f"{rule.metric} {rule.op} {plain_value(rule.value)}"
    return _alert(rule, run, f"xprof: {who}: {rule.metric} = {value:g} ({test})",
                  f"Metric {rule.metric} of {who}{_where(run)} is {value:g}, which meets "
                  f"the alert condition {test}.",
                  f"What to do: look at the run's metrics (`xprof show {short}`); if training "
                  "has gone wrong (diverged, stalled), stop it and restart from the last good "
                  "checkpoint with changed settings; if this is the result you wanted, the "
                  "run can end early.", metric=rule.metric, value=value)


def live_alerts(rules: Sequence[AlertRule], run: Mapping[str, Any], live: Mapping[str, Any],
                now: dt.datetime | None = None) -> list[Alert]:
    """Alerts of a running run from the agent's live figures: cost so far, GPU idle time,
    the metrics' last values."""
    alerts: list[Alert | None] = []
    started = run.get("started_at")
    now = now or dt.datetime.now(dt.UTC)
    duration = (now - started).total_seconds() if started else None
    for rule in rules:
        if rule.rule == "run_cost_above":
            alerts.append(cost_alert(rule, run, live.get("cost_so_far"),
                                     live.get("currency") or CURRENCY, True, duration))
        elif rule.rule == "gpu_idle":
            alerts.append(idle_alert(rule, run, live.get("gpu_idle_s")))
        elif rule.rule == "metric_threshold":
            alerts.append(metric_alert(rule, run, live.get("metrics") or {}))
    return [a for a in alerts if a is not None]


def end_alerts(rules: Sequence[AlertRule], run: Mapping[str, Any], final: Mapping[str, Any]
               ) -> list[Alert]:
    """Alerts of a run that has just ended: its status, final cost and final metrics."""
    alerts: list[Alert | None] = []
    duration = final.get("duration_s")
    for rule in rules:
        if rule.rule == "run_failed":
            alerts.append(failed_alert(rule, run, final.get("status") or "", final.get(
                "exit_code"), final.get("signal"), duration,
                stopped_by=final.get("stopped_by") or run.get("stopped_by")))
        elif rule.rule == "run_cost_above":
            alerts.append(cost_alert(rule, run, final.get("cost"),
                                     final.get("currency") or CURRENCY, False, duration))
        elif rule.rule == "metric_threshold" and final.get("metrics"):
            alerts.append(metric_alert(rule, run, final["metrics"]))
    return [a for a in alerts if a is not None]


# -- project budgets ----------------------------------------------------------------------------
def period_bounds(period: str, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The UTC week (Monday 00:00 to the next) or calendar month that contains ``now``."""
    now = now.astimezone(dt.UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        start = day - dt.timedelta(days=day.weekday())
        return start, start + dt.timedelta(days=7)
    start = day.replace(day=1)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else \
        start.replace(month=start.month + 1)
    return start, end


def forecast(spent: Decimal, start: dt.datetime, end: dt.datetime, now: dt.datetime
             ) -> Decimal | None:
    """Spend by the period's end at the rate so far: ``spent × (end − start) / (now − start)``.

    None during the period's first day (one run would be extrapolated over the whole period).
    """
    elapsed = now - start
    if elapsed < FORECAST_MIN_ELAPSED:
        return None
    if now >= end:
        return spent
    ratio = Decimal(repr((end - start).total_seconds())) / Decimal(
        repr(elapsed.total_seconds()))
    return (spent * ratio).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class BudgetStatus:
    """Where a budget stands: spend in the current period so far and its forecast."""

    budget: Budget
    start: dt.datetime
    end: dt.datetime
    now: dt.datetime
    spent: Decimal
    runs: int = 0
    running: int = 0
    unpriced: int = 0  # runs whose cost is unknown (not counted)
    other_currency: int = 0  # runs priced in another currency (not counted)

    @property
    def forecast(self) -> Decimal | None:
        return forecast(self.spent, self.start, self.end, self.now)

    @property
    def exceeded(self) -> bool:
        return self.spent > self.budget.amount

    @property
    def forecast_exceeds(self) -> bool:
        projected = self.forecast
        return not self.exceeded and projected is not None and projected > self.budget.amount

    def line(self) -> str:
        """``vision month: $312.40 of $500.00 (62 %), forecast $480.00``."""
        b = self.budget
        who = "all projects" if b.project == "*" else b.project
        text = (f"{who} {b.period}: {format_amount(self.spent, b.currency)} of "
                f"{format_amount(b.amount, b.currency)} ({self.spent / b.amount:.0%})")
        projected = self.forecast
        if projected is not None and self.now < self.end:
            text += f", forecast {format_amount(projected, b.currency)}"
        if self.unpriced:
            text += f", {self.unpriced} run(s) unpriced"
        return text


def budget_alert(rule: AlertRule, status: BudgetStatus) -> Alert | None:
    """project_budget: the period's spend is above the budget, or forecast to be."""
    if rule.rule != "project_budget" or not (status.exceeded or status.forecast_exceeds):
        return None
    b = status.budget
    kind = "exceeded" if status.exceeded else "forecast"
    who = "all projects together" if b.project == "*" else f"project {b.project}"
    period_text = f"this {b.period} (since {status.start:%Y-%m-%d} 00:00 UTC)"
    spent, limit = format_amount(status.spent, b.currency), format_amount(b.amount, b.currency)
    counted = f"{status.runs} run(s) count toward it"
    if status.running:
        counted += f", {status.running} still running"
    if status.unpriced:
        counted += f"; {status.unpriced} run(s) have no price yet and are not counted"
    scope = "" if b.project == "*" else f" --project {b.project}"
    todo = (f"What to do: review the runs (`xprof ls{scope} --since {status.start:%Y-%m-%d}`) "
            "and stop those that are not needed; if the spend is planned, raise the budget in "
            "config.toml ([[budgets]]).")
    subject = f"{b.project}/{b.period}/{status.start:%Y-%m-%d}/{kind}"
    if kind == "exceeded":
        title = f"xprof: {who} is over its {b.period}ly budget: {spent} of {limit}"
        lines = (f"{who.capitalize()} has spent {spent} {period_text}, over its budget of "
                 f"{limit} ({status.spent / b.amount:.0%}). {counted}.", todo)
    else:
        projected = status.forecast
        assert projected is not None
        days = (status.now - status.start).total_seconds() / 86400
        title = (f"xprof: {who} is on course to exceed its {b.period}ly budget: forecast "
                 f"{format_amount(projected, b.currency)} of {limit}")
        lines = (f"{who.capitalize()} has spent {spent} in the first {days:.1f} days of "
                 f"{period_text}; at that rate it will spend "
                 f"{format_amount(projected, b.currency)} by {status.end:%Y-%m-%d} 00:00 UTC, "
                 f"over its budget of {limit}. {counted}.",
                 "(Forecast = spent so far × length of the period / time elapsed.)", todo)
    return Alert(rule, subject, title, "\n".join(lines),
                 project=None if b.project == "*" else b.project,
                 data={"kind": kind, "spent": str(status.spent), "budget": str(b.amount)})
