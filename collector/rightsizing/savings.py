"""What the rules share: the observed need, the cheapest covering offer, savings, severity,
and building a :class:`~xprof.collector.rightsizing.evidence.Recommendation`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from xprof.collector.catalog import Price
from xprof.collector.gpu_names import MEMORY_TOLERANCE, is_neuron
from xprof.collector.rightsizing.evidence import (
    GpuDevice,
    Limits,
    Need,
    Recommendation,
    RunEvidence,
)
from xprof.collector.rightsizing.thresholds import (
    CPU_PERCENTILE,
    GIB,
    HEADROOM,
    NANO,
    SECONDS_PER_HOUR,
    SEVERITY_HIGH_SHARE,
    SEVERITY_WARN_SHARE,
)
from xprof.money import format_money


def nano(value: Decimal) -> Decimal:
    return value.quantize(NANO, rounding=ROUND_HALF_EVEN).normalize()


def cost_for(rate: Decimal, seconds: float) -> Decimal:
    """``rate`` per hour for ``seconds``, to the nano-unit."""
    return nano(rate * Decimal(repr(float(seconds))) / SECONDS_PER_HOUR)


def rate_of(price: Price, lifecycle: str) -> Decimal | None:
    """Hourly price of an instance for this lifecycle (spot falls back to on-demand)."""
    if lifecycle == "spot":
        return price.spot or price.on_demand
    return price.on_demand


def enough_host(ev: RunEvidence, limits: Limits) -> bool:
    return ev.counts.host_samples >= limits.min_samples


def usable_gpus(ev: RunEvidence, limits: Limits) -> dict[int, GpuDevice]:
    """The GPUs the run used, not in MIG mode, with enough samples."""
    return {i: d for i, d in sorted(ev.gpus.items())
            if i in ev.used_gpus and not d.mig and d.samples >= limits.min_samples}


def percentile_of_counts(counts: Mapping[float, int], q: float) -> float | None:
    """The q-th percentile (linear interpolation, as :func:`xprof.stats.percentile`) of the
    values ``counts`` holds with their multiplicities."""
    items = sorted((v, c) for v, c in counts.items() if c > 0)
    n = sum(c for _, c in items)
    if n == 0:
        return None
    rank = (n - 1) * q / 100.0
    low = math.floor(rank)

    def value_at(position: int) -> float:
        seen = 0
        for value, count in items:
            seen += count
            if position < seen:
                return float(value)
        return float(items[-1][0])

    below, above = value_at(low), value_at(min(low + 1, n - 1))
    return below + (above - below) * (rank - low)


def merge_counts(devices: Sequence[GpuDevice]) -> dict[float, int]:
    merged: dict[float, int] = {}
    for device in devices:
        for value, count in device.util_counts.items():
            merged[value] = merged.get(value, 0) + count
    return merged


def observed_need(ev: RunEvidence) -> Need:
    """p99.5 CPU cores (to the cores bucket above), peak RSS, GPUs used and peak GPU memory
    per GPU, each + headroom."""
    cores = percentile_of_counts(ev.counts.cores(), CPU_PERCENTILE)
    rss = ev.counts.rss_max
    gpu_peak = max((peak for peak, _ in gpu_memory_peaks(ev).values()), default=None)
    return Need(
        vcpus=max(1, math.ceil(round(cores * (1 + HEADROOM), 6))) if cores is not None else None,
        memory_gib=rss * (1 + HEADROOM) / GIB if rss else None,
        gpu_count=len(ev.used_gpus),
        gpu_memory_gib=gpu_peak * (1 + HEADROOM) / GIB if gpu_peak else None,
    )


def gpu_memory_peaks(ev: RunEvidence) -> dict[int, tuple[int, int | None]]:
    """(peak bytes, device total bytes) of each used, non-MIG GPU: the run's own memory where
    NVML attributed some to it, else the whole device's."""
    out = {}
    for index, device in sorted(ev.gpus.items()):
        if index not in ev.used_gpus or device.mig:
            continue
        peak = device.run_mem_max or device.mem_used_max
        if peak:
            out[index] = (peak, device.mem_total)
    return out


def cheapest(ev: RunEvidence, need: Need, *, any_gpu_model: bool = False,
             accept: Callable[[Price], bool] = lambda p: True) -> Price | None:
    """The cheapest offer (priced like the run) that covers ``need`` and passes ``accept``.

    Without GPUs only instances without accelerators qualify. With GPUs, the machine's GPU
    model and memory class, unless ``any_gpu_model`` (then any GPU with enough memory).
    """
    lifecycle = ev.baseline.lifecycle if ev.baseline else "on-demand"
    found: list[tuple[Decimal, str, Price]] = []
    for p in ev.offers:
        rate = rate_of(p, lifecycle)
        if rate is None or not covers(ev, p, need, any_gpu_model) or not accept(p):
            continue
        found.append((rate, p.instance_type, p))
    return min(found, key=lambda item: item[:2])[2] if found else None


def covers(ev: RunEvidence, p: Price, need: Need, any_gpu_model: bool) -> bool:
    """Whether ``p`` covers ``need`` (and keeps the GPU model unless ``any_gpu_model``)."""
    if need.vcpus and p.vcpus < need.vcpus:
        return False
    if need.memory_gib and p.memory_gib < need.memory_gib:
        return False
    if need.gpu_count == 0:
        return p.gpu_count == 0
    if p.gpus < need.gpu_count or not p.gpu_model or is_neuron(p.gpu_model):
        return False
    if need.gpu_memory_gib and (p.gpu_memory_gib or 0) < need.gpu_memory_gib:
        return False
    if any_gpu_model:
        return True
    if ev.gpu_model is None or p.gpu_model != ev.gpu_model:
        return False
    return (ev.gpu_memory_gib is None or p.gpu_memory_gib is None
            or p.gpu_memory_gib >= MEMORY_TOLERANCE * ev.gpu_memory_gib)


def saving(ev: RunEvidence, suggested: Price) -> Decimal | None:
    """What the run would have saved on ``suggested`` for its duration (None: unknown or
    not a saving)."""
    base = ev.baseline
    if base is None or suggested.currency != base.currency:
        return None
    rate = rate_of(suggested, base.lifecycle)
    if rate is None:
        return None
    value = nano(base.amount - cost_for(rate, ev.duration_s))
    return value if value > 0 else None


def extra_cost(ev: RunEvidence, suggested: Price) -> Decimal | None:
    """What the run would have cost more on ``suggested`` (for advice that costs money)."""
    base = ev.baseline
    if base is None or suggested.currency != base.currency:
        return None
    rate = rate_of(suggested, base.lifecycle)
    return None if rate is None else nano(cost_for(rate, ev.duration_s) - base.amount)


def note_extra_cost(ev: RunEvidence, suggested: Price, evidence: dict[str, Any]) -> None:
    """Put what ``suggested`` would add to the run's cost into ``evidence``, when known."""
    extra = extra_cost(ev, suggested)
    if extra is not None:
        evidence["extra_cost_per_run"] = str(extra)


def per_month(ev: RunEvidence, per_run: Decimal | None) -> Decimal | None:
    return None if per_run is None else nano(per_run * ev.runs_per_month)


def severity_of(ev: RunEvidence, per_run: Decimal | None) -> str:
    if per_run is None or ev.baseline is None or ev.baseline.amount <= 0:
        return "info"
    share = per_run / ev.baseline.amount
    if share >= Decimal(repr(SEVERITY_HIGH_SHARE)):
        return "high"
    return "warn" if share >= Decimal(repr(SEVERITY_WARN_SHARE)) else "info"


def current_name(ev: RunEvidence) -> str | None:
    """The run's instance type; off-cloud, the catalog instance it was priced as."""
    if ev.instance_type or ev.current_name:
        return ev.instance_type or ev.current_name
    return ev.current.instance_type if ev.current is not None else None


def label(p: Price) -> str:
    """``g4dn.xlarge (4 vCPU, 16 GiB, 1× T4 16GB)``."""
    return f"{p.instance_type} ({p.hardware_label()})"


def money_text(ev: RunEvidence, value: Decimal) -> str:
    return format_money(value, ev.baseline.currency if ev.baseline else "USD")


def saving_text(ev: RunEvidence, per_run: Decimal | None) -> str:
    if per_run is None:
        return ""
    text = f", saving {money_text(ev, per_run)} a run"
    if ev.runs_per_month > 1:
        text += f" ({money_text(ev, per_run * ev.runs_per_month)} a month)"
    return text


def recommend(ev: RunEvidence, rule: str, title: str, evidence: dict[str, Any],
               suggested: Price | None = None, per_run: Decimal | None = None,
               severity: str | None = None) -> Recommendation:
    evidence = dict(evidence)
    evidence["duration_s"] = round(ev.duration_s, 3)
    if ev.preliminary:
        evidence["preliminary"] = True
        evidence["confidence"] = "low"
        title += f" (preliminary: a {ev.duration_s:.0f} s run)"
    if ev.instance_type is None and ev.current is not None:
        evidence["current_is_equivalent"] = True
    if ev.baseline is not None:
        evidence["charged"] = {"amount": str(ev.baseline.amount), "source": ev.baseline.source,
                               "share": ev.baseline.share, "lifecycle": ev.baseline.lifecycle}
    if suggested is not None:
        evidence["suggested"] = suggested.to_json()
    evidence["runs_per_month"] = ev.runs_per_month
    return Recommendation(
        rule=rule, severity=severity or severity_of(ev, per_run), title=title,
        evidence=evidence, current_instance=current_name(ev),
        suggested_instance=suggested.instance_type if suggested else None,
        saving_per_run=per_run, saving_per_month=per_month(ev, per_run),
        currency=ev.baseline.currency if ev.baseline else None)


def pct(value: float) -> str:
    return f"{value:.0f} %"
