"""Rules on how the run used its machine over time: spot candidates and idle tails."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from xprof.collector.rightsizing.evidence import (
    Limits,
    Recommendation,
    RunEvidence,
)
from xprof.collector.rightsizing.savings import (
    cost_for,
    nano,
    recommend,
    saving_text,
    usable_gpus,
)
from xprof.collector.rightsizing.thresholds import (
    GPU_IDLE_PCT,
    SPOT_MAX_DURATION_S,
)
from xprof.money import format_rate
from xprof.units import duration_text as format_duration


def spot_candidate(ev: RunEvidence, limits: Limits) -> Recommendation | None:
    """On-demand runs shorter than 4 h: the same instance on spot, at the catalog's spot price."""
    base, current = ev.baseline, ev.current
    if base is None or current is None or base.lifecycle != "on-demand" or ev.instance_type is None:
        return None
    if ev.duration_s >= SPOT_MAX_DURATION_S or current.spot is None or current.on_demand is None:
        return None
    if current.spot >= current.on_demand or current.currency != base.currency:
        return None
    spot_cost = cost_for(current.spot, ev.duration_s) * Decimal(repr(base.share))
    per_run = nano(base.amount - spot_cost)
    if per_run <= 0:
        return None
    title = (f"Spot candidate: a {format_duration(ev.duration_s)} on-demand run; "
             f"{current.instance_type} on spot is {format_rate(current.spot, current.currency)} "
             f"vs {format_rate(current.on_demand, current.currency)}"
             f"{saving_text(ev, per_run)} (checkpoint to survive interruptions)")
    evidence = {"lifecycle": "spot", "max_duration_s": SPOT_MAX_DURATION_S,
                "on_demand_per_hour": str(current.on_demand), "spot_per_hour": str(current.spot)}
    rec = recommend(ev, "spot_candidate", title, evidence, None, per_run)
    return replace(rec, suggested_instance=current.instance_type)


def idle_tail(ev: RunEvidence, limits: Limits) -> Recommendation | None:
    """The run's GPUs idle (<= 5 %) for its last ``advise.idle_tail_s`` or more: stop earlier."""
    counts = ev.counts
    if not usable_gpus(ev, limits) or counts.gpu_ticks < limits.min_samples:
        return None
    if counts.last_active_ts is None:
        return None  # never busy: the underuse and idle-GPU rules speak to that
    if counts.tail_first_ts is None:
        return None
    tail = max(ev.end_ts, counts.last_tick_ts or ev.end_ts) - counts.tail_first_ts
    if tail < limits.idle_tail_s:
        return None
    per_run = None
    if ev.baseline is not None and ev.duration_s > 0:
        per_run = nano(ev.baseline.amount * Decimal(repr(min(tail, ev.duration_s)))
                        / Decimal(repr(ev.duration_s)))
        per_run = per_run if per_run > 0 else None
    title = (f"Idle tail: the GPUs were idle for the last {format_duration(tail)} of the run: "
             f"stop (or hand off) when training ends{saving_text(ev, per_run)}")
    evidence = {"idle_tail_s": round(tail, 3), "threshold_s": limits.idle_tail_s,
                "idle_at_or_below_pct": GPU_IDLE_PCT, "last_busy_ts": counts.last_active_ts,
                "samples_in_tail": counts.tail_ticks}
    return recommend(ev, "idle_tail", title, evidence, None, per_run)
