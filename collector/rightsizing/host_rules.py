"""Rules on the run's host: CPU and I/O bottlenecks, memory over or under provisioned."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from xprof.collector.catalog import Price
from xprof.collector.rightsizing.choose import (
    Choice,
    choice_text,
    choose,
    predicted_extra,
    recommend_choice,
)
from xprof.collector.rightsizing.evidence import (
    Limits,
    Recommendation,
    RunEvidence,
)
from xprof.collector.rightsizing.savings import (
    cheapest,
    enough_host,
    label,
    note_extra_cost,
    observed_need,
    pct,
    percentile_of_counts,
    recommend,
    saving_text,
    usable_gpus,
)
from xprof.collector.rightsizing.thresholds import (
    CPU_BOUND_GPU_PCT,
    CPU_BOUND_MIN_SHARE,
    CPU_BOUND_SHARE_OF_VCPUS,
    GIB,
    IOWAIT_GPU_IDLE_PCT,
    IOWAIT_HIGH_PCT,
    IOWAIT_MIN_SHARE,
    MEMORY_LOW_AVAILABLE_SHARE,
    MEMORY_OVER_SHARE,
    MEMORY_UNDER_SHARE,
)
from xprof.sample_counts import CORES_STEP, IOWAIT_STEP, add_count, edge


def cpu_bottleneck(ev: RunEvidence, limits: Limits) -> Recommendation | None:
    """Tree CPU > 90 % of vCPUs while GPU < 10 % for over half the run: feed the GPU faster."""
    if not usable_gpus(ev, limits) or not ev.vcpus or not enough_host(ev, limits):
        return None
    pairs = {(cores, util): n for (cores, util), n in ev.counts.cores_util.items()
             if cores is not None and util is not None}
    total = sum(pairs.values())
    if total < limits.min_samples:
        return None
    limit = round(CPU_BOUND_SHARE_OF_VCPUS * ev.vcpus / CORES_STEP)  # in cores buckets
    bound = {key: n for key, n in pairs.items()
             if key[0] > limit and key[1] < CPU_BOUND_GPU_PCT}
    share = sum(bound.values()) / total
    if share <= CPU_BOUND_MIN_SHARE:
        return None
    vcpus = ev.vcpus
    need = observed_need(ev)
    need = replace(need, vcpus=max(need.vcpus or 0, vcpus + 1))
    choice = choose(ev, need, limits)
    bigger = None if choice else cheapest(ev, need)
    title = (f"CPU bottleneck: the run used over {pct(CPU_BOUND_SHARE_OF_VCPUS * 100)} of "
             f"{vcpus} vCPUs while its GPUs were below {pct(CPU_BOUND_GPU_PCT)} in "
             f"{pct(share * 100)} of samples: add data-loader workers or vCPUs")
    evidence = {"bottleneck_share": round(share, 4), "threshold_share": CPU_BOUND_MIN_SHARE,
                "vcpus": vcpus, "cpu_cores_p50_when_bound": _p50(bound, 0, CORES_STEP),
                "gpu_util_p50_when_bound_pct": _p50(bound, 1, 1.0), "samples": total}
    title += _more_vcpus_text(ev, limits, choice, bigger, evidence)
    return recommend_choice(ev, "cpu_bottleneck", title, evidence, choice, "warn")


def _more_vcpus_text(ev: RunEvidence, limits: Limits, choice: Choice | None,
                     bigger: Price | None, evidence: dict[str, Any]) -> str:
    """The machine with more vCPUs: suggested when cheaper per run, else named (in the text
    and ``evidence["more_vcpus"]``) with what it would cost more."""
    if choice:
        return f"; {choice_text(ev, choice)}{saving_text(ev, choice.saving)}"
    if bigger and (extra := predicted_extra(ev, bigger, limits)):
        evidence["more_vcpus"] = extra
        return f" ({label(bigger)}: {extra['tradeoff']}, costs more per run)"
    return ""


def iowait_bottleneck(ev: RunEvidence, limits: Limits) -> Recommendation | None:
    """Host iowait > 10 % while the GPUs idle (< 10 %) in over a quarter of the samples."""
    counts = ev.counts.iowait_util
    if sum(counts.values()) < limits.min_samples:
        return None
    series = usable_gpus(ev, limits)
    high = round(IOWAIT_HIGH_PCT / IOWAIT_STEP)  # in iowait buckets
    judged = 0
    waiting: dict[tuple[int, int | None], int] = {}
    for (iowait, util), n in counts.items():
        util = util if series else 0  # a run without a GPU series: any time counts
        if util is None:
            continue
        judged += n
        if iowait > high and util < IOWAIT_GPU_IDLE_PCT:
            waiting[(iowait, util)] = n
    if judged < limits.min_samples:
        return None
    share = sum(waiting.values()) / judged
    if share <= IOWAIT_MIN_SHARE:
        return None
    while_what = f"while the GPUs were below {pct(IOWAIT_GPU_IDLE_PCT)} " if series else ""
    title = (f"I/O wait bottleneck: host iowait above {pct(IOWAIT_HIGH_PCT)} {while_what}"
             f"in {pct(share * 100)} of samples: stage data on local disk or in memory, "
             "prefetch, or use faster storage")
    evidence = {"iowait_share": round(share, 4), "threshold_share": IOWAIT_MIN_SHARE,
                "iowait_p50_pct_when_waiting": _p50(waiting, 0, IOWAIT_STEP),
                "iowait_threshold_pct": IOWAIT_HIGH_PCT, "samples": judged}
    return recommend(ev, "iowait_bottleneck", title, evidence, None, None, "warn")


def _p50(counts: dict[tuple[int, int | None], int], part: int, step: float) -> float | None:
    """The median of one part of the counted keys (buckets read as their upper edges)."""
    values: dict[float, int] = {}
    for key, n in counts.items():
        add_count(values, edge(key[part], step), n)
    return percentile_of_counts(values, 50)


def _rss_peak(ev: RunEvidence) -> int | None:
    return ev.counts.rss_max


def memory_overprovisioned(ev: RunEvidence, limits: Limits) -> Recommendation | None:
    """Peak RSS < 30 % of the instance's memory, and a cheaper instance with less memory
    (same GPUs) covers the run."""
    peak = _rss_peak(ev)
    if not enough_host(ev, limits) or not peak or not ev.memory_gib:
        return None
    share = peak / (ev.memory_gib * GIB)
    if share >= MEMORY_OVER_SHARE:
        return None
    memory = ev.memory_gib
    need = replace(observed_need(ev), gpu_count=ev.machine_gpus)
    choice = choose(ev, need, limits, accept=lambda p: p.memory_gib < memory)
    if choice is None:
        return None
    title = (f"Memory over-provisioned: peak RSS {peak / GIB:.1f} GiB is {pct(share * 100)} of "
             f"{memory:g} GiB: run on {choice_text(ev, choice)}{saving_text(ev, choice.saving)}")
    evidence = {"rss_peak_bytes": peak, "memory_gib": memory, "rss_peak_share": round(share, 4),
                "threshold_share": MEMORY_OVER_SHARE, "samples": ev.counts.host_samples}
    return recommend_choice(ev, "memory_overprovisioned", title, evidence, choice)


def memory_underprovisioned(ev: RunEvidence, limits: Limits) -> Recommendation | None:
    """Peak RSS > 90 % of the instance's memory (and little left on the host): more memory."""
    peak = _rss_peak(ev)
    if not enough_host(ev, limits) or not peak or not ev.memory_gib:
        return None
    share = peak / (ev.memory_gib * GIB)
    if share <= MEMORY_UNDER_SHARE:
        return None
    available = ev.counts.mem_available_min
    if available is not None and available >= MEMORY_LOW_AVAILABLE_SHARE * ev.memory_gib * GIB:
        return None  # shared pages counted twice in RSS: the host still had room
    memory, vcpus = ev.memory_gib, ev.vcpus or 0
    need = replace(observed_need(ev), gpu_count=ev.machine_gpus)
    need = replace(need, vcpus=max(need.vcpus or 0, vcpus) or None)
    suggested = cheapest(ev, need, accept=lambda p: p.memory_gib > memory)
    title = (f"Memory under-provisioned: peak RSS {peak / GIB:.1f} GiB is {pct(share * 100)} "
             f"of {memory:g} GiB: risk of swapping or the OOM killer")
    evidence = {"rss_peak_bytes": peak, "memory_gib": memory, "rss_peak_share": round(share, 4),
                "threshold_share": MEMORY_UNDER_SHARE,
                "host_mem_available_min_bytes": available, "samples": ev.counts.host_samples}
    if suggested:
        title += f"; run on {label(suggested)}"
        note_extra_cost(ev, suggested, evidence)
    return recommend(ev, "memory_underprovisioned", title, evidence, suggested, None, "high")
