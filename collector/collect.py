"""``xprof collect``'s pipeline: the ordered collect steps and what each one reports.

Steps run in :data:`COLLECT_STEPS` order: bills first (advice measures savings against billed
cost), then estimates for runs with no bill yet, advice, and alerts last (budgets and cost
alerts read the costs above). Each step returns a :class:`StepResult`; a run or source that
fails is named in its ``errors`` and the others go on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from xprof.collector.advise import ADVICE_WINDOW, advise_runs, runs_to_advise
from xprof.collector.collect_alerts import check_alerts
from xprof.collector.collect_billing import collect_billing
from xprof.collector.estimate import estimate_run, runs_needing_estimate
from xprof.collector.writes import repair_rollups
from xprof.money import format_money
from xprof.settings import Settings
from xprof.store import Store


@dataclass
class StepResult:
    """What one ``collect`` step did: a one-line summary and the runs it could not handle."""

    name: str
    summary: str
    errors: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def _money(total: dict[str, Decimal]) -> str:
    return " + ".join(format_money(v, c) for c, v in sorted(total.items())) or "$0.00"


def collect_estimates(db: Store, settings: Settings, options: dict[str, Any]) -> StepResult:
    """(Re)compute the estimate of every ended run that lacks one (all runs with --all)."""
    priced, unknown, bounds = 0, 0, 0
    total: dict[str, Decimal] = {}
    reasons: dict[str, int] = {}
    errors = []
    for run_id in runs_needing_estimate(db, everything=options.get("all", False)):
        try:
            estimate = estimate_run(db, run_id, settings)
        except Exception as exc:  # one bad run must not stop the others
            errors.append(f"run {run_id[:8]}: {type(exc).__name__}: {exc}")
            continue
        if estimate.amount is None:
            unknown += 1
            reasons[estimate.reason or "?"] = reasons.get(estimate.reason or "?", 0) + 1
            continue
        priced += 1
        bounds += estimate.upper_bound
        total[estimate.currency] = total.get(estimate.currency, Decimal(0)) + estimate.amount
    summary = f"estimates: {priced} run(s) priced ({_money(total)} in all"
    summary += f", {bounds} upper bound(s))" if bounds else ")"
    if unknown:
        top = max(reasons, key=lambda r: reasons[r])
        summary += f", {unknown} unknown (e.g. {top})"
    if errors:
        summary += f", {len(errors)} failed"
    return StepResult("estimates", summary, errors,
                      {"priced": priced, "unknown": unknown, "upper_bounds": bounds,
                       "failed": len(errors),
                       "total": {c: str(v) for c, v in total.items()}})


def collect_billing_step(db: Store, settings: Settings, options: dict[str, Any]) -> StepResult:
    """Import the configured billing sources and allocate them.

    Reads these ``options`` when present (the command's flags): ``all`` (re-read every export
    and reallocate everything), ``billing_sources`` (only these kinds), ``focus_paths``,
    ``cur_paths``, ``aws_ce``, ``azure_scope``, ``gcp_table``, ``azure_export_paths``,
    ``azure_cost_type``, ``gcp_export_paths``. Bad billing data raises
    :class:`~xprof.collector.billing.BillingInputError` (the command makes it exit 2).
    """
    everything = bool(options.get("all"))
    summary = collect_billing(
        db, settings, sources=options.get("billing_sources") or None,
        focus_paths=options.get("focus_paths") or None,
        cur_paths=options.get("cur_paths") or None, aws_ce=options.get("aws_ce"),
        azure_scope=options.get("azure_scope"), gcp_table=options.get("gcp_table"),
        azure_export_paths=options.get("azure_export_paths") or None,
        azure_cost_type=options.get("azure_cost_type"),
        gcp_export_paths=options.get("gcp_export_paths") or None,
        force=everything, reallocate=everything)
    return StepResult("billing", summary["summary"], summary["errors"], summary)


def collect_advice(db: Store, settings: Settings, options: dict[str, Any]) -> StepResult:
    """Advise the runs of the last 30 days and abandoned spend."""
    since = dt.datetime.now(dt.UTC) - ADVICE_WINDOW
    result = advise_runs(db, runs_to_advise(db, since=since), settings)
    counts: dict[str, int] = {}
    for rec in result.recommendations:
        counts[rec.rule] = counts.get(rec.rule, 0) + 1
    return StepResult("advice", result.summary_line(), result.errors, {
        "runs": len(result.advised), "recommendations": counts,
        "saving_per_month": {c: str(v) for c, v in result.saving_per_month().items()}})


def collect_alerts(db: Store, settings: Settings, options: dict[str, Any]) -> StepResult:
    """Check project budgets and recent runs against the alert rules; send what fires once
    (``options["now"]`` stands in for the clock)."""
    check = check_alerts(db, settings, options.get("now"))
    if not check.configured:
        return StepResult("alerts", "alerts: no [[alerts]] or [[budgets]] configured",
                          data={**check.counts, "budgets": []})
    counts = check.counts
    summary = (f"alerts: {counts['sent']} sent, {counts['already']} already sent"
               + (f", {counts['failed']} not delivered" if counts["failed"] else ""))
    if check.statuses:
        summary += "; budgets: " + "; ".join(s.line() for s in check.statuses)
    data = {**counts, "budgets": [
        {"project": s.budget.project, "period": s.budget.period,
         "amount": str(s.budget.amount), "currency": s.budget.currency,
         "period_start": s.start.isoformat(), "spent": str(s.spent),
         "forecast": None if s.forecast is None else str(s.forecast),
         "exceeded": s.exceeded, "forecast_exceeds": s.forecast_exceeds,
         "runs": s.runs, "unpriced": s.unpriced} for s in check.statuses]}
    return StepResult("alerts", summary, check.errors, data)


Step = Callable[[Store, Settings, dict[str, Any]], StepResult]

def collect_rollups(db: Store, settings: Settings, options: dict[str, Any]) -> StepResult:
    """Recompute the run rollups that may be behind (cost writes keep the others current)."""
    count = repair_rollups(db)
    return StepResult("rollups", f"rollups: {count} run(s) recomputed", [], {"runs": count})


COLLECT_STEPS: list[tuple[str, Step]] = [
    ("billing", collect_billing_step),
    ("estimates", collect_estimates),
    ("rollups", collect_rollups),
    ("advice", collect_advice),
    ("alerts", collect_alerts),  # last: budgets and cost alerts read the costs above
]


def run_collect(db: Store, settings: Settings, options: dict[str, Any]) -> list[StepResult]:
    """Run every collect step in order; return what each did."""
    return [step(db, settings, options) for _name, step in COLLECT_STEPS]
