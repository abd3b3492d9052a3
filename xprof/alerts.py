"""Alert rules and project budgets: their config, and pure functions that decide what fires.

Rules come from ``[[alerts]]`` tables of ``$XPROF_HOME/config.toml``, budgets from
``[[budgets]]`` tables::

    [[alerts]]
    rule = "run_failed"            # run_failed | run_cost_above | gpu_idle |
    webhook = "https://hooks.slack.com/services/..."   #   metric_threshold | project_budget
    mail = "ml-team@example.com"   # a webhook, a mail address, or both (each may be a list)

    [[budgets]]
    project = "vision"
    period = "month"               # week (Monday 00:00 UTC) | month (the 1st, 00:00 UTC)
    amount = 500

Each alert is identified by (rule key, subject): the subject is the run id for run rules and
``project/period/start/kind`` for budgets, so an alert fires once however often it is
evaluated (the store's ``alerts_sent`` table keeps the record; see :mod:`xprof.alert_sender`).
Bodies are plain text without links and end with what to do.

Standard library only: the agent evaluates run rules on its writer thread.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

RUN_RULES = ("run_failed", "run_cost_above", "gpu_idle", "metric_threshold")
RULES = (*RUN_RULES, "project_budget")
PERIODS = ("week", "month")
FAILED_STATUSES = ("failed", "crashed", "killed")
DEFAULT_FAILED = ("failed", "crashed")
CURRENCY = "USD"  # the catalog's currency (xprof.collector.catalog.CURRENCY)
OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq}
COMMON_FIELDS = ("rule", "name", "project", "webhook", "mail")
RULE_FIELDS: dict[str, tuple[str, ...]] = {
    "run_failed": ("statuses",),
    "run_cost_above": ("amount", "currency"),
    "gpu_idle": ("minutes",),
    "metric_threshold": ("metric", "op", "value"),
    "project_budget": ("period", "amount", "currency"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "run_cost_above": ("amount",), "gpu_idle": ("minutes",),
    "metric_threshold": ("metric", "op", "value")}
BUDGET_FIELDS = ("project", "period", "amount", "currency")
FORECAST_MIN_ELAPSED = dt.timedelta(days=1)  # no forecast from the first hours of a period


# -- config -------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class AlertRule:
    """One ``[[alerts]]`` table, validated."""

    index: int  # 1-based position among the [[alerts]] tables
    rule: str
    webhooks: tuple[str, ...] = ()
    mails: tuple[str, ...] = ()
    name: str | None = None
    project: str | None = None
    amount: Decimal | None = None
    currency: str = CURRENCY
    minutes: float | None = None
    metric: str | None = None
    op: str | None = None
    value: float | None = None
    period: str | None = None
    statuses: tuple[str, ...] = DEFAULT_FAILED

    @property
    def key(self) -> str:
        """A stable id of the rule: its name, else its kind and parameters (not where it is
        sent, nor its place in the file), so editing the config does not re-send alerts."""
        if self.name:
            return self.name[:200]
        params = {"project": self.project, "amount": self.amount, "minutes": self.minutes,
                  "metric": self.metric, "op": self.op, "value": self.value,
                  "period": self.period}
        if self.rule == "run_failed":
            params["statuses"] = ",".join(self.statuses)
        if self.amount is not None:
            params["currency"] = self.currency
        text = " ".join([self.rule] + [f"{k}={_plain(v)}" for k, v in sorted(params.items())
                                       if v is not None])
        if len(text) > 200:
            text = text[:180] + " #" + hashlib.sha256(text.encode()).hexdigest()[:12]
        return text

    def matches_project(self, project: str | None) -> bool:
        return self.project in (None, "*") or self.project == project

    def describe(self) -> str:
        """The rule in words, without its destinations' secrets."""
        what = {
            "run_failed": f"a run ends {' or '.join(self.statuses)}",
            "run_cost_above": f"a run costs more than {format_amount(self.amount, self.currency)}",
            "gpu_idle": f"a run's GPUs idle for {_plain(self.minutes)} min",
            "metric_threshold": f"metric {self.metric} {self.op} {_plain(self.value)}",
            "project_budget": "a project budget is exceeded or forecast to be",
        }[self.rule]
        scope = f" in project {self.project}" if self.project not in (None, "*") else ""
        return f"#{self.index} {self.rule}: {what}{scope}"

    def __repr__(self) -> str:
        from urllib.parse import urlsplit

        targets = [f"webhook {urlsplit(u).scheme}://{urlsplit(u).netloc.rpartition('@')[2]}"
                   for u in self.webhooks] + [f"mail {m}" for m in self.mails]
        return f"<{self.describe()} -> {', '.join(targets)}>"

    __str__ = __repr__


@dataclass(frozen=True, repr=False)
class Budget:
    """One ``[[budgets]]`` table (or the inline amount of a project_budget rule)."""

    project: str  # "*": every project together
    period: str
    amount: Decimal
    currency: str = CURRENCY
    index: int = 0

    def __str__(self) -> str:
        who = "all projects" if self.project == "*" else f"project {self.project}"
        return f"{who}: {format_amount(self.amount, self.currency)} a {self.period}"

    __repr__ = __str__


def _plain(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return str(value)


class _Fields:
    """Reads one TOML table, naming its place in every error."""

    def __init__(self, where: str, table: Mapping[str, Any], allowed: Sequence[str]) -> None:
        self.where = where
        self.table = table
        unknown = sorted(set(table) - set(allowed))
        if unknown:
            raise ValueError(f"{where}: unknown field {unknown[0]!r} (expected "
                             f"{', '.join(allowed)})")

    def fail(self, message: str) -> ValueError:
        return ValueError(f"{self.where}: {message}")

    def text(self, key: str, required: bool = False) -> str | None:
        value = self.table.get(key)
        if value is None:
            if required:
                raise self.fail(f"{key!r} is required")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{key} must be a non-empty string, got {value!r}")
        return value.strip()

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.table.get(key)
        if value is None:
            return ()
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) and v.strip()
                                                  for v in items):
            raise self.fail(f"{key} must be a string or a list of strings, got {value!r}")
        return tuple(v.strip() for v in items)

    def number(self, key: str, required: bool = False, positive: bool = False) -> float | None:
        value = self.table.get(key)
        if value is None:
            if required:
                raise self.fail(f"{key!r} is required (a number)")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise self.fail(f"{key} must be a number, got {value!r}")
        if positive and not value > 0:
            raise self.fail(f"{key} must be above 0, got {value!r}")
        return float(value)

    def amount(self, key: str, required: bool = False) -> Decimal | None:
        value = self.table.get(key)
        if value is None:
            if required:
                raise self.fail(f"{key!r} is required (an amount such as 25 or 12.50)")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.fail(f"{key} must be an amount such as 25 or 12.50, got {value!r}")
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            raise self.fail(f"{key} must be an amount such as 25 or 12.50, got {value!r}"
                            ) from None
        if not amount.is_finite() or amount <= 0:
            raise self.fail(f"{key} must be above 0, got {value!r}")
        return amount

    def choice(self, key: str, allowed: Sequence[str], required: bool = False) -> str | None:
        value = self.text(key, required)
        if value is not None and value not in allowed:
            raise self.fail(f"{key} {value!r} is not one of {', '.join(allowed)}")
        return value

    def currency(self) -> str:
        value = self.text("currency") or CURRENCY
        if len(value) != 3 or not value.isalpha():
            raise self.fail(f"currency must be a 3-letter code such as USD, got {value!r}")
        return value.upper()


def _tables(raw: Any, name: str) -> list[Mapping[str, Any]]:
    if raw is None:
        return []
    if isinstance(raw, tuple) and all(isinstance(r, AlertRule | Budget) for r in raw):
        return list(raw)  # already parsed
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise ValueError(f"{name} must be written as [[{name}]] tables, one per entry")
    return raw


def parse_alerts(raw: Any) -> tuple[AlertRule, ...]:
    """The ``[[alerts]]`` tables as rules; ValueError naming the table (``[[alerts]] #2``)."""
    tables = _tables(raw, "alerts")
    if tables and isinstance(tables[0], AlertRule):
        return tuple(tables)  # type: ignore[arg-type]
    rules = []
    for index, table in enumerate(tables, 1):
        kind = table.get("rule")
        where = f"[[alerts]] #{index}" + (f" ({kind})" if isinstance(kind, str) else "")
        if kind is None:
            raise ValueError(f"{where}: 'rule' is required (one of {', '.join(RULES)})")
        if kind not in RULES:
            raise ValueError(f"{where}: rule {kind!r} is not one of {', '.join(RULES)}")
        f = _Fields(where, table, COMMON_FIELDS + RULE_FIELDS[kind])
        for key in REQUIRED.get(kind, ()):
            if table.get(key) is None:
                raise f.fail(f"{key!r} is required")
        webhooks, mails = f.texts("webhook"), f.texts("mail")
        for url in webhooks:
            if not url.startswith(("http://", "https://")):
                raise f.fail("webhook must be an http:// or https:// URL")
        for address in mails:
            if "@" not in address or " " in address:
                raise f.fail(f"mail {address!r} is not an e-mail address")
        if not webhooks and not mails:
            raise f.fail("give a webhook = \"https://...\" or a mail = \"you@example.com\" "
                         "to send it to")
        values: dict[str, Any] = {
            "index": index, "rule": kind, "webhooks": webhooks, "mails": mails,
            "name": f.text("name"), "project": f.text("project")}
        if kind == "run_failed":
            statuses = f.texts("statuses") or DEFAULT_FAILED
            bad = [s for s in statuses if s not in FAILED_STATUSES]
            if bad:
                raise f.fail(f"statuses: {bad[0]!r} is not one of "
                             f"{', '.join(FAILED_STATUSES)}")
            values["statuses"] = tuple(statuses)
        elif kind == "run_cost_above":
            values.update(amount=f.amount("amount", True), currency=f.currency())
        elif kind == "gpu_idle":
            values["minutes"] = f.number("minutes", True, positive=True)
        elif kind == "metric_threshold":
            values.update(metric=f.text("metric", True),
                          op=f.choice("op", tuple(OPS), True), value=f.number("value", True))
        else:  # project_budget
            values.update(period=f.choice("period", PERIODS), amount=f.amount("amount"),
                          currency=f.currency())
            if values["amount"] is not None and (not values["project"] or not values["period"]):
                raise f.fail("an amount needs a project and a period "
                             "(or declare the budget in a [[budgets]] table)")
        rules.append(AlertRule(**values))
    return tuple(rules)


def parse_budgets(raw: Any) -> tuple[Budget, ...]:
    """The ``[[budgets]]`` tables; ValueError naming the table (``[[budgets]] #1``)."""
    tables = _tables(raw, "budgets")
    if tables and isinstance(tables[0], Budget):
        return tuple(tables)  # type: ignore[arg-type]
    budgets: list[Budget] = []
    seen: set[tuple[str, str]] = set()
    for index, table in enumerate(tables, 1):
        f = _Fields(f"[[budgets]] #{index}", table, BUDGET_FIELDS)
        project = f.text("project", True)
        period = f.choice("period", PERIODS, True)
        assert project is not None and period is not None
        if (project, period) in seen:
            raise f.fail(f"project {project!r} already has a {period} budget")
        seen.add((project, period))
        budgets.append(Budget(project, period, f.amount("amount", True) or Decimal(0),
                              f.currency(), index))
    return tuple(budgets)


def check_references(rules: Sequence[AlertRule], budgets: Sequence[Budget]) -> None:
    """A project_budget rule without an amount must select at least one [[budgets]] entry."""
    for rule in rules:
        if rule.rule == "project_budget" and rule.amount is None and not budgets_of(rule,
                                                                                  budgets):
            scope = " ".join(x for x in (
                f"project {rule.project!r}" if rule.project else "",
                f"period {rule.period!r}" if rule.period else "") if x)
            raise ValueError(f"[[alerts]] #{rule.index} (project_budget): no [[budgets]] "
                             f"entry{' for ' + scope if scope else ''} (add one, or give "
                             "the rule an amount, a project and a period)")


def budgets_of(rule: AlertRule, budgets: Sequence[Budget]) -> list[Budget]:
    """The budgets a project_budget rule watches: its inline one, else the matching ones."""
    if rule.amount is not None and rule.project and rule.period:
        return [Budget(rule.project, rule.period, rule.amount, rule.currency)]
    return [b for b in budgets if (rule.project in (None, "*") or b.project == rule.project)
            and (rule.period is None or b.period == rule.period)]


# -- formatting ---------------------------------------------------------------------------------
def format_amount(value: Decimal | None, currency: str = CURRENCY) -> str:
    """``$4.12`` (cents; sub-cent amounts keep two significant digits), ``4.12 EUR``."""
    if value is None:
        return "unknown"
    if value == 0 or abs(value) >= Decimal("0.01"):
        text = f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"
    else:
        text = f"{value.quantize(Decimal(1).scaleb(value.adjusted() - 1), ROUND_HALF_UP):f}"
    return f"${text}" if currency == "USD" else f"{text} {currency}"


def format_span(seconds: float) -> str:
    """``45s``, ``7m``, ``1h21m``, ``2d3h``."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total}s"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"


# -- alerts -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Alert:
    """One alert to send: the rule, what it is about (subject), and the message."""

    rule: AlertRule
    subject: str  # run id, or project/period/start/kind
    title: str  # one line: the mail subject, the first line of a webhook post
    body: str  # plain text, no links, ends with what to do
    run_id: str | None = None
    project: str | None = None
    data: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def text(self) -> str:
        return f"{self.title}\n\n{self.body}"


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
                 f"`xprof run --budget {_plain(rule.amount)} --on-budget stop -- <command>`.")
    else:
        lines = (f"{who.capitalize()}{_where(run)} cost {spent}{took}, above the alert "
                 f"threshold of {limit}.",
                 f"What to do: compare what it bought with its cost (`xprof show {short}`), "
                 "see `xprof advise` for a cheaper machine, and cap later runs with "
                 f"`xprof run --budget {_plain(rule.amount)} --on-budget stop -- <command>`.")
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
    test = f"{rule.metric} {rule.op} {_plain(rule.value)}"
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
