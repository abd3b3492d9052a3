"""Rules on the run's GPUs: idle, underused, GPU memory too low or too high."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from xprof.collector.gpu_names import MEMORY_TOLERANCE
from xprof.collector.rightsizing.choose import choice_text, choose, recommend_choice
from xprof.collector.rightsizing.evidence import (
    GpuDevice,
    Limits,
    Recommendation,
    RunEvidence,
)
from xprof.collector.rightsizing.savings import (
    cheapest,
    gpu_memory_peaks,
    label,
    merge_counts,
    note_extra_cost,
    observed_need,
    pct,
    percentile_of_counts,
    recommend,
    saving_text,
    usable_gpus,
)
from xprof.collector.rightsizing.thresholds import (
    GIB,
    GPU_IDLE_MEMORY_BYTES,
    GPU_IDLE_PCT,
    GPU_MEMORY_HIGH_SHARE,
    GPU_MEMORY_LOW_SHARE,
    GPU_UNDERUSED_P95_PCT,
)


def gpu_underused(ev: RunEvidence, limits: Limits) -> Recommendation | None:
    """p95 GPU utilisation < 70 % over the run: a larger batch, or fewer / smaller GPUs."""
    devices = [d for d in usable_gpus(ev, limits).values()
               if d.util_samples >= limits.min_samples]
    if not devices:
        return None
    pooled = merge_counts(devices)
    p95 = percentile_of_counts(pooled, 95)
    assert p95 is not None
    if p95 >= GPU_UNDERUSED_P95_PCT:
        return None
    per_gpu = {d.index: percentile_of_counts(d.util_counts, 95) or 0.0 for d in devices}
    needed = max(1, min(len(ev.used_gpus),
                        math.ceil(round(sum(per_gpu.values()) / GPU_UNDERUSED_P95_PCT, 6))))
    choice = choose(ev, replace(observed_need(ev), gpu_count=needed), limits)
    title = (f"GPU underused: p95 utilisation {pct(p95)} on {len(devices)} GPU(s) "
             f"(below {pct(GPU_UNDERUSED_P95_PCT)}): raise the batch size")
    if choice:
        title += f", or run on {choice_text(ev, choice)}{saving_text(ev, choice.saving)}"
    evidence = {"gpu_util_p95_pct": round(p95, 2),
                "gpu_util_p50_pct": round(percentile_of_counts(pooled, 50) or 0.0, 2),
                "per_gpu_util_p95_pct": {str(i): round(v, 2) for i, v in per_gpu.items()},
                "threshold_pct": GPU_UNDERUSED_P95_PCT, "gpus_used": sorted(ev.used_gpus),
                "gpus_needed": needed, "samples": sum(pooled.values())}
    return recommend_choice(ev, "gpu_underused", title, evidence, choice)


def idle_gpus(ev: RunEvidence, limits: Limits) -> Recommendation | None:
    """GPUs on the machine that the run (and nobody else) never used: fewer GPUs."""
    if not ev.gpus or any(d.samples < limits.min_samples for d in ev.gpus.values()):
        return None
    unused = [i for i in sorted(ev.gpus) if i not in ev.used_gpus]
    busy = [i for i in unused if not device_idle(ev.gpus[i])]
    idle = [i for i in unused if i not in busy]
    if not idle:
        return None
    keep = len(ev.gpus) - len(idle)
    choice = None
    if not ev.shared:
        choice = choose(ev, replace(observed_need(ev), gpu_count=keep), limits)
    title = f"{len(idle)} of {len(ev.gpus)} GPUs on the machine were never used"
    if choice:
        title += f": run on {choice_text(ev, choice)}{saving_text(ev, choice.saving)}"
    elif keep == 0:
        title += ": a machine without GPUs would do"
    else:
        title += f": a machine with {keep} GPU(s) would do"
    evidence = {"gpus_on_machine": len(ev.gpus), "gpus_used": sorted(ev.used_gpus),
                "gpus_idle": idle, "gpus_busy_with_other_work": busy,
                "idle_below_util_pct": GPU_IDLE_PCT,
                "idle_below_memory_bytes": GPU_IDLE_MEMORY_BYTES,
                "samples": min(d.samples for d in ev.gpus.values())}
    return recommend_choice(ev, "idle_gpus", title, evidence, choice)


def device_idle(device: GpuDevice) -> bool:
    """Whether a GPU stayed idle the whole run (no utilisation or memory to speak of)."""
    return ((device.util_max or 0) <= GPU_IDLE_PCT
            and (device.mem_used_max or 0) < GPU_IDLE_MEMORY_BYTES)


def _memory_evidence(ev: RunEvidence, limits: Limits
                     ) -> tuple[float, int, float, dict[str, Any]] | None:
    """(highest peak share, peak bytes, class memory GiB, evidence) over the used GPUs."""
    usable = usable_gpus(ev, limits)
    peaks = {i: v for i, v in gpu_memory_peaks(ev).items() if i in usable and v[1]}
    if not peaks:
        return None
    shares = {i: peak / total for i, (peak, total) in peaks.items() if total}
    worst = max(shares, key=lambda i: shares[i])
    peak, total = peaks[worst]
    assert total
    memory_class = ev.gpu_memory_gib or total / GIB
    evidence = {"gpu_memory_peak_bytes": peak, "gpu_memory_total_bytes": total,
                "gpu_memory_peak_share": round(shares[worst], 4),
                "per_gpu_peak_bytes": {str(i): v[0] for i, v in peaks.items()},
                "gpus_used": sorted(ev.used_gpus)}
    return shares[worst], peak, memory_class, evidence


def gpu_memory_low(ev: RunEvidence, limits: Limits) -> Recommendation | None:
    """Peak GPU memory < 40 % of the GPU's: room for a larger batch, or a smaller-memory GPU."""
    found = _memory_evidence(ev, limits)
    if found is None or found[0] >= GPU_MEMORY_LOW_SHARE:
        return None
    share, peak, memory_class, evidence = found
    choice = choose(
        ev, observed_need(ev), limits, any_gpu_model=True,
        accept=lambda p: (p.gpu_memory_gib or 0) < memory_class * MEMORY_TOLERANCE)
    title = (f"GPU memory peak {peak / GIB:.1f} GiB is {pct(share * 100)} of the GPU's "
             f"(below {pct(GPU_MEMORY_LOW_SHARE * 100)}): room for a larger batch")
    if choice:
        title += (f", or a smaller-memory GPU: {choice_text(ev, choice)}"
                  f"{saving_text(ev, choice.saving)}")
    evidence["threshold_share"] = GPU_MEMORY_LOW_SHARE
    return recommend_choice(ev, "gpu_memory_low", title, evidence, choice)


def gpu_memory_high(ev: RunEvidence, limits: Limits) -> Recommendation | None:
    """Peak GPU memory > 90 % of the GPU's: out-of-memory risk, a larger-memory GPU."""
    found = _memory_evidence(ev, limits)
    if found is None or found[0] <= GPU_MEMORY_HIGH_SHARE:
        return None
    share, peak, memory_class, evidence = found
    suggested = cheapest(ev, observed_need(ev), any_gpu_model=True,
                         accept=lambda p: (p.gpu_memory_gib or 0) > memory_class)
    title = (f"GPU memory peak {peak / GIB:.1f} GiB is {pct(share * 100)} of the GPU's "
             f"(above {pct(GPU_MEMORY_HIGH_SHARE * 100)}): out-of-memory risk")
    if suggested:
        title += f"; a larger-memory GPU: {label(suggested)}"
        note_extra_cost(ev, suggested, evidence)
    evidence["threshold_share"] = GPU_MEMORY_HIGH_SHARE
    return recommend(ev, "gpu_memory_high", title, evidence, suggested, None, "high")
