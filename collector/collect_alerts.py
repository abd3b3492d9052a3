"""What the alerts step of ``xprof collect`` checks: project budgets, and run alerts no agent
sent.

**Project budgets** (``[[budgets]]``): a budget's spend is the cost of the project's runs in
the current period (UTC week from Monday 00:00, or calendar month), each run counted as its
billed cost where billing has arrived, else its estimate, and a running run at its cost so
far (catalog price × time since it started). A run that straddles the period's start counts
in proportion to its time inside the period. Amounts in another currency than the budget's
are not added (and are counted as such). A ``project_budget`` rule alerts once per period
when the spend is above the budget, and once when it is forecast to be:

    forecast = spent × (period end − period start) / (now − period start)

i.e. the period's spend so far continued at the same average rate to the period's end; no
forecast is made during a period's first day.

**Run alerts**: ``run_failed`` and ``run_cost_above`` for runs that ended within
``alerts_lookback_hours`` (crashed runs by their last heartbeat) or are still running: the
agent normally sends these, but a crashed agent, or an agent on a machine without the rules,
cannot. Alerts already sent (by anyone) are not sent again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import sqlalchemy as sa

from xprof import schema
from xprof.alert_rules import Alert, Budget, budgets_of
from xprof.alert_sender import AlertSender
from xprof.alerts import BudgetStatus, budget_alert, cost_alert, failed_alert, period_bounds
from xprof.collector.estimate import compute_estimate, live_estimate
from xprof.settings import Settings
from xprof.store import Store, effective_status, utcnow

_NANO = Decimal("1e-9")
DELIVERY_TIMEOUT_S = 10.0


def _end_of(run: dict[str, Any], now: dt.datetime) -> dt.datetime:
    if run["status"] == "running":
        return now
    return run.get("ended_at") or run.get("heartbeat_at") or run["started_at"]


def _share(run: dict[str, Any], start: dt.datetime, now: dt.datetime) -> Decimal:
    """The part of the run's time that falls inside [start, now]."""
    begin, end = run["started_at"], _end_of(run, now)
    total = (end - begin).total_seconds()
    inside = (min(end, now) - max(begin, start)).total_seconds()
    if total <= 0:
        return Decimal(1) if start <= begin <= now else Decimal(0)
    return Decimal(repr(max(0.0, min(inside, total)) / total))


def _runs_between(store: Store, project: str | None, start: dt.datetime, now: dt.datetime
                  ) -> list[dict[str, Any]]:
    """Runs whose time overlaps [start, now], with their effective status."""
    r = schema.runs
    query = sa.select(r).where(r.c.started_at < now,
                               sa.func.coalesce(r.c.ended_at, r.c.heartbeat_at) >= start)
    if project is not None:
        query = query.where(r.c.project == project)
    with store.read() as conn:
        rows = [dict(m) for m in conn.execute(query).mappings()]
    for row in rows:
        row["status"] = effective_status(row["status"], row["heartbeat_at"],
                                         row["flush_interval_s"], now)
    return rows


def run_cost(store: Store, settings: Settings, run: dict[str, Any],
             stored: dict[str, dict[str, Any]], now: dt.datetime
             ) -> tuple[Decimal | None, str | None]:
    """(amount, currency) of a run: billed, else estimate; a running run's cost so far."""
    if run["status"] == "running":
        estimate = live_estimate(store, run, settings, now)
        return estimate.amount, estimate.currency
    cost = stored.get(run["id"])
    if cost is not None:
        return cost["amount"], cost["currency"]
    estimate = compute_estimate(store, run, settings)  # not stored: that is the estimate step's
    return estimate.amount, estimate.currency


def budget_status(store: Store, settings: Settings, budget: Budget, now: dt.datetime
                  ) -> BudgetStatus:
    """The budget's spend in the period that contains ``now`` (see the module's rules)."""
    start, end = period_bounds(budget.period, now)
    runs = _runs_between(store, None if budget.project == "*" else budget.project, start, now)
    stored = store.run_costs([r["id"] for r in runs])
    spent, unpriced, other, running = Decimal(0), 0, 0, 0
    for run in runs:
        amount, currency = run_cost(store, settings, run, stored, now)
        running += run["status"] == "running"
        if amount is None:
            unpriced += 1
        elif currency != budget.currency:
            other += 1
        else:
            spent += amount * _share(run, start, now)
    spent = spent.quantize(_NANO, rounding=ROUND_HALF_EVEN).normalize()
    return BudgetStatus(budget, start, end, now, spent, runs=len(runs), running=running,
                        unpriced=unpriced, other_currency=other)


def _recent_runs(store: Store, since: dt.datetime, now: dt.datetime) -> list[dict[str, Any]]:
    """Runs that ended since ``since``, and runs still running (or crashed since)."""
    r = schema.runs
    query = sa.select(r).where(sa.or_(r.c.ended_at >= since,
                                      sa.and_(r.c.ended_at.is_(None), r.c.heartbeat_at >= since)))
    with store.read() as conn:
        rows = [dict(m) for m in conn.execute(query.order_by(r.c.started_at)).mappings()]
    for row in rows:
        row["status"] = effective_status(row["status"], row["heartbeat_at"],
                                         row["flush_interval_s"], now)
    return rows


def run_alerts(store: Store, settings: Settings, now: dt.datetime) -> list[Alert]:
    """run_failed and run_cost_above alerts of recent runs (see the module's rules)."""
    rules = [r for r in settings["alerts"] if r.rule in ("run_failed", "run_cost_above")]
    if not rules:
        return []
    since = now - dt.timedelta(hours=float(settings["alerts_lookback_hours"]))
    runs = _recent_runs(store, since, now)
    stored = store.run_costs([r["id"] for r in runs]) if any(
        r.rule == "run_cost_above" for r in rules) else {}
    alerts: list[Alert | None] = []
    for run in runs:
        status = run["status"]
        duration = run.get("duration_s")
        if duration is None:
            duration = (_end_of(run, now) - run["started_at"]).total_seconds()
        cost: tuple[Decimal | None, str | None] | None = None
        for rule in rules:
            if rule.rule == "run_failed":
                alerts.append(failed_alert(rule, run, status, run.get("exit_code"),
                                           run.get("signal"), duration,
                                           last_seen=run.get("heartbeat_at"),
                                           stopped_by=run.get("stopped_by")))
            elif rule.matches_project(run.get("project")):
                if cost is None:
                    cost = run_cost(store, settings, run, stored, now)
                amount, currency = cost
                alerts.append(cost_alert(rule, run, amount, currency or "", status == "running",
                                         duration))
    return [a for a in alerts if a is not None]


@dataclass
class AlertCheck:
    """What one check sent (``counts``: sent, already, failed), the budgets it measured, and
    what went wrong; ``configured`` is False when there are no rules and no budgets."""

    configured: bool = True
    counts: dict[str, int] = field(
        default_factory=lambda: {"sent": 0, "already": 0, "failed": 0})
    statuses: list[BudgetStatus] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _watched(settings: Settings) -> dict[Budget, list[Any]]:
    """Each budget with the project_budget rules that watch it."""
    watched: dict[Budget, list[Any]] = {b: [] for b in settings["budgets"]}
    for rule in settings["alerts"]:
        if rule.rule == "project_budget":
            for budget in budgets_of(rule, settings["budgets"]):
                watched.setdefault(budget, []).append(rule)
    return watched


def _due_alerts(db: Store, settings: Settings, now: dt.datetime, check: AlertCheck
                ) -> list[Alert]:
    """Budget and run alerts that fire now; budget statuses and errors go into ``check``."""
    alerts: list[Alert] = []
    for budget, budget_rules in _watched(settings).items():
        try:
            status = budget_status(db, settings, budget, now)
        except Exception as exc:  # one budget must not stop the others
            check.errors.append(f"budget {budget}: {type(exc).__name__}: {exc}")
            continue
        check.statuses.append(status)
        alerts += [a for a in (budget_alert(r, status) for r in budget_rules) if a]
    try:
        alerts += run_alerts(db, settings, now)
    except Exception as exc:
        check.errors.append(f"run alerts: {type(exc).__name__}: {exc}")
    return alerts


def check_alerts(db: Store, settings: Settings, now: dt.datetime | None = None) -> AlertCheck:
    """Check project budgets and recent runs against the alert rules; send what fires once."""
    if not settings["alerts"] and not settings["budgets"]:
        return AlertCheck(configured=False)
    check = AlertCheck()
    alerts = _due_alerts(db, settings, now or utcnow(), check)
    sender = AlertSender(settings, db, timeout=DELIVERY_TIMEOUT_S)
    for alert in alerts:
        for outcome in sender.send(alert).values():
            if outcome.startswith("failed"):
                check.counts["failed"] += 1
                check.errors.append(f"{alert.title}: {outcome}")
            else:
                check.counts[outcome] += 1
    return check
