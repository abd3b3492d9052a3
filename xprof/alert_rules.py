"""Alert rules and project budgets as configured: the ``[[alerts]]`` and ``[[budgets]]``
tables of ``$XPROF_HOME/config.toml``, validated, and :class:`Alert`, one alert to send::

    [[alerts]]
    rule = "run_failed"            # run_failed | run_cost_above | gpu_idle |
    webhook = "https://hooks.slack.com/services/..."   #   metric_threshold | project_budget
    mail = "ml-team@example.com"   # a webhook, a mail address, or both (each may be a list)

    [[budgets]]
    project = "vision"
    period = "month"               # week (Monday 00:00 UTC) | month (the 1st, 00:00 UTC)
    amount = 500

What fires is decided in :mod:`xprof.alerts`. Standard library only: the settings read this
on the agent's start path.
"""

from __future__ import annotations

import hashlib
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from xprof.money import format_amount

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
        text = " ".join([self.rule] + [f"{k}={plain_value(v)}" for k, v in sorted(params.items())
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
            "gpu_idle": f"a run's GPUs idle for {plain_value(self.minutes)} min",
            "metric_threshold": f"metric {self.metric} {self.op} {plain_value(self.value)}",
            "project_budget": "a project budget is exceeded or forecast to be",
        }[self.rule]
        scope = f" in project {self.project}" if self.project not in (None, "*") else ""
        return f"#{self.index} {self.rule}: {what}{scope}"

    def __repr__(self) -> str:
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


def plain_value(value: Any) -> str:
    """A number as written in config: ``5`` not ``5.0``, ``12.5`` not ``1.25E+1``."""
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


def _destinations(f: _Fields) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The rule's webhooks and mail addresses, checked; at least one of them."""
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
    return webhooks, mails


def _parameters(kind: str, f: _Fields) -> dict[str, Any]:
    """The fields particular to one kind of rule, checked."""
    if kind == "run_failed":
        statuses = f.texts("statuses") or DEFAULT_FAILED
        bad = [s for s in statuses if s not in FAILED_STATUSES]
        if bad:
            raise f.fail(f"statuses: {bad[0]!r} is not one of {', '.join(FAILED_STATUSES)}")
        return {"statuses": tuple(statuses)}
    if kind == "run_cost_above":
        return {"amount": f.amount("amount", True), "currency": f.currency()}
    if kind == "gpu_idle":
        return {"minutes": f.number("minutes", True, positive=True)}
    if kind == "metric_threshold":
        return {"metric": f.text("metric", True), "op": f.choice("op", tuple(OPS), True),
                "value": f.number("value", True)}
    return {"period": f.choice("period", PERIODS), "amount": f.amount("amount"),  # budget
            "currency": f.currency()}


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
        webhooks, mails = _destinations(f)
        values: dict[str, Any] = {
            "index": index, "rule": kind, "webhooks": webhooks, "mails": mails,
            "name": f.text("name"), "project": f.text("project"), **_parameters(kind, f)}
        if kind == "project_budget" and values["amount"] is not None and \
                (not values["project"] or not values["period"]):
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
