"""Every run rule in order, evaluating a run, ordering advice, and abandoned spend."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal

from xprof.collector.rightsizing.evidence import (
    IdleSpend,
    Limits,
    Recommendation,
    RunEvidence,
)
from xprof.collector.rightsizing.gpu_rules import (
    gpu_memory_high,
    gpu_memory_low,
    gpu_underused,
    idle_gpus,
)
from xprof.collector.rightsizing.host_rules import (
    cpu_bottleneck,
    iowait_bottleneck,
    memory_overprovisioned,
    memory_underprovisioned,
)
from xprof.collector.rightsizing.lifecycle_rules import idle_tail, spot_candidate
from xprof.collector.rightsizing.savings import (
    nano,
)
from xprof.collector.rightsizing.thresholds import (
    ABANDONED_HIGH_PER_MONTH,
    ABANDONED_MIN_HOURS,
    ABANDONED_WARN_PER_MONTH,
    HOURS_PER_MONTH,
)
from xprof.money import format_money

RunRule = Callable[[RunEvidence, Limits], Recommendation | None]
RUN_RULES: tuple[RunRule, ...] = (
    idle_gpus, gpu_underused, gpu_memory_low, gpu_memory_high, cpu_bottleneck,
    iowait_bottleneck, memory_overprovisioned, memory_underprovisioned, spot_candidate, idle_tail,
)


def evaluate(ev: RunEvidence, limits: Limits) -> list[Recommendation]:
    """Every rule's advice for the run, highest saving first; none for a run shorter than
    ``limits.preliminary_s``, preliminary advice (confidence low) up to ``min_duration_s``."""
    if ev.duration_s < min(limits.preliminary_s, limits.min_duration_s):
        return []
    ev = replace(ev, preliminary=ev.duration_s < limits.min_duration_s)
    found = [rec for rule in RUN_RULES if (rec := rule(ev, limits)) is not None]
    return sort_recommendations(found)


_SEVERITY_RANK = {"high": 0, "warn": 1, "info": 2}


def sort_recommendations(recs: Sequence[Recommendation]) -> list[Recommendation]:
    """Highest saving per run first; then advice without a saving, most severe first; ties
    in the order of RUN_RULES (idle GPUs, the plainest finding, before underuse)."""
    order = {rule.__name__: i for i, rule in enumerate(RUN_RULES)}
    return sorted(recs, key=lambda r: (r.saving_per_run is None,
                                       -(r.saving_per_run or 0),
                                       _SEVERITY_RANK.get(r.severity, 3),
                                       order.get(r.rule, len(order)), r.rule))


def abandoned_spend(idle: IdleSpend) -> Recommendation | None:
    """Billed hours on a resource with no run at all: stop or delete it."""
    if idle.hours < ABANDONED_MIN_HOURS or idle.amount <= 0:
        return None
    span_h = max(idle.hours, (idle.last_end_ts - idle.first_start_ts) / 3600)
    monthly = nano(idle.amount * HOURS_PER_MONTH / Decimal(repr(span_h)))
    severity = ("high" if monthly >= ABANDONED_HIGH_PER_MONTH
                else "warn" if monthly >= ABANDONED_WARN_PER_MONTH else "info")
    title = (f"Abandoned spend: {format_money(idle.amount, idle.currency)} billed for "
             f"{idle.hours:.0f} h on {idle.resource_id}, which no run used: stop or delete it "
             f"(≈ {format_money(monthly, idle.currency)} a month)")
    evidence = {"idle_hours": round(idle.hours, 3), "idle_amount": str(idle.amount),
                "first_start_ts": idle.first_start_ts, "last_end_ts": idle.last_end_ts,
                "span_hours": round(span_h, 3), "min_hours": ABANDONED_MIN_HOURS}
    return Recommendation(rule="abandoned_spend", severity=severity, title=title,
                          evidence=evidence, current_instance=None, suggested_instance=None,
                          saving_per_run=None, saving_per_month=monthly, currency=idle.currency,
                          resource_id=idle.resource_id)
