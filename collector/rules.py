"""Rightsizing rules: pure functions from one run's evidence to a recommendation or None.

Each rule reads a :class:`RunEvidence` (the run's own CPU and GPU sample series, its hardware,
what it was charged, the catalog rows of its provider and region) and returns at most one
:class:`Recommendation`. Nothing here touches the store; :mod:`xprof.collector.advise` loads
the evidence, runs :data:`RUN_RULES` and stores what they return.

Judging follows AWS Compute Optimizer (p99.5 CPU, 20 % headroom) and SageMaker Debugger's
profiler rules (LowGPUUtilization p95 < 70 %, CPUBottleneck CPU > 90 % while GPU < 10 % for
over half the run). Every threshold is a named constant below.

**The observed need** of a run is: p99.5 of its process tree's CPU cores, its peak RSS, the
GPUs it actually used, and the peak GPU memory on any of them, each plus :data:`HEADROOM`.
A suggested instance is the cheapest catalog row of the same provider and region that covers
that need, priced like the run (spot for a spot run). It keeps the machine's GPU model and
memory class, except in the GPU-memory rules, which may pick any GPU with enough memory.

**Savings** are against what the run was charged (:class:`Baseline`): billed cost where
billing has arrived, else the estimate; when no other run or process shared the machine, the
whole machine's price (a lone run on 1 of 4 GPUs still paid for 4). The suggested instance is
priced at its catalog list price for the run's duration. ``saving_per_month`` is
``saving_per_run × runs_per_month``, where runs per month is the number of the project's runs
that started in the 30 days up to its latest run (at least 1; not extrapolated for younger
projects). Savings of different rules overlap: each is the saving of that one change.

**Enough data**: no rule fires for a run shorter than ``advise.min_duration_s`` or, for rules
over sample series, with fewer than ``advise.min_samples`` samples (settings, see
``xprof config``).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, NamedTuple

from xprof.collector.catalog import Price
from xprof.collector.gpu_names import MEMORY_TOLERANCE, is_neuron
from xprof.money import format_money, format_rate
from xprof.stats import percentile
from xprof.units import duration_text as format_duration

GIB = 2**30

# -- thresholds ----------------------------------------------------------------------------------
HEADROOM = 0.20
"""Added to every observed need (CPU p99.5, peak RSS, peak GPU memory) before sizing."""
CPU_PERCENTILE = 99.5
"""Percentile of the tree's CPU cores that sizes vCPUs (Compute Optimizer's default)."""

GPU_UNDERUSED_P95_PCT = 70.0
"""GPU underused: p95 of the used GPUs' utilisation below this (SageMaker LowGPUUtilization)."""
GPU_IDLE_PCT = 5.0
"""A GPU sample at or below this utilisation is idle (idle GPUs, idle tail)."""
GPU_IDLE_MEMORY_BYTES = GIB
"""A GPU the run never used counts as idle only if its device memory stayed below this and
its utilisation at or below GPU_IDLE_PCT (otherwise someone else was using it)."""
GPU_MEMORY_LOW_SHARE = 0.40
"""GPU memory headroom: peak below this share of the GPU's memory -> a smaller-memory GPU."""
GPU_MEMORY_HIGH_SHARE = 0.90
"""GPU memory near capacity: peak above this share -> OOM risk, a larger-memory GPU."""
CPU_BOUND_SHARE_OF_VCPUS = 0.90
"""CPU bottleneck: the tree uses more than this share of the machine's vCPUs ..."""
CPU_BOUND_GPU_PCT = 10.0
"""... while the GPUs it uses are below this utilisation ..."""
CPU_BOUND_MIN_SHARE = 0.50
"""... in more than this share of the samples (SageMaker CPUBottleneck)."""
IOWAIT_HIGH_PCT = 10.0
"""I/O wait bottleneck: host iowait above this (percent of all cores) ..."""
IOWAIT_GPU_IDLE_PCT = 10.0
"""... while the run's GPUs are below this utilisation (any time for a run without GPUs) ..."""
IOWAIT_MIN_SHARE = 0.25
"""... in more than this share of the samples that carry iowait."""
MEMORY_OVER_SHARE = 0.30
"""Memory over-provisioned: peak RSS below this share of the instance's memory."""
MEMORY_UNDER_SHARE = 0.90
"""Memory under-provisioned: peak RSS above this share of the instance's memory ..."""
MEMORY_LOW_AVAILABLE_SHARE = 0.10
"""... and, where samples carry it, host memory available fell below this share."""
SPOT_MAX_DURATION_S = 4 * 3600.0
"""Spot candidate: on-demand runs shorter than this (interruptions cost little to redo)."""
ABANDONED_MIN_HOURS = 1.0
"""Abandoned spend: at least this many billed idle hours on a resource no run ever used."""
SEVERITY_HIGH_SHARE = 0.50
"""A saving of at least this share of what the run was charged is severity ``high`` ..."""
SEVERITY_WARN_SHARE = 0.20
"""... at least this share ``warn``; smaller savings, or advice without one, ``info``."""
ABANDONED_HIGH_PER_MONTH = Decimal(100)
ABANDONED_WARN_PER_MONTH = Decimal(10)
"""Abandoned spend per month at or above which the advice is ``high`` / ``warn``."""

HOURS_PER_MONTH = Decimal(30 * 24)
_NANO = Decimal("1e-9")
_SECONDS_PER_HOUR = Decimal(3600)


# -- what crosses the border ------------------------------------------------------------------
@dataclass(frozen=True)
class Recommendation:
    """One piece of advice for one run (or, for abandoned spend, one resource)."""

    rule: str
    severity: str  # info | warn | high
    title: str
    evidence: dict[str, Any]
    current_instance: str | None
    suggested_instance: str | None
    saving_per_run: Decimal | None
    saving_per_month: Decimal | None
    currency: str | None
    status: str = "open"  # open | dismissed | done, as stored
    resource_id: str | None = None  # abandoned spend only


@dataclass(frozen=True)
class Limits:
    """How much data a rule needs, and the idle-tail length (settings ``advise.*``)."""

    min_duration_s: float = 300.0
    min_samples: int = 30
    idle_tail_s: float = 600.0


class HostPoint(NamedTuple):
    """One process-tree + host sample."""

    ts: float
    cpu_cores: float | None
    rss_bytes: int | None
    iowait_pct: float | None
    mem_available_bytes: int | None


class BusyPoint(NamedTuple):
    """The highest utilisation among the GPUs the run used, at one sample time."""

    ts: float
    util_pct: float


@dataclass(frozen=True)
class GpuDevice:
    """One GPU over the whole run, summarised from its whole-device samples."""

    index: int
    samples: int
    util_counts: Mapping[float, int]  # utilisation percent -> number of samples
    util_max: float | None
    mem_used_max: int | None  # device memory, all processes
    mem_total: int | None
    run_mem_max: int | None  # the run's own, while it used the device
    used_by_run: bool
    mig: bool = False  # in MIG mode: no utilisation; never resized

    @property
    def util_samples(self) -> int:
        return sum(self.util_counts.values())


@dataclass(frozen=True)
class Baseline:
    """What the run was charged: the amount savings are measured against."""

    amount: Decimal  # the whole machine's price when the run was alone on it, else its share
    currency: str
    source: str  # billed | estimate
    lifecycle: str  # on-demand | spot: suggestions are priced the same way
    share: float  # the run's share of the machine used for ``amount`` (1 when alone)


@dataclass(frozen=True)
class RunEvidence:
    """Everything the rules may read about one ended run."""

    run_id: str
    instance_type: str | None
    duration_s: float
    end_ts: float
    interval_s: float
    vcpus: int | None  # the machine's (catalog, else recorded hardware)
    memory_gib: float | None  # the machine's (catalog, else recorded hardware)
    host: Sequence[HostPoint]
    gpus: Mapping[int, GpuDevice]  # every GPU sampled, by index
    busy: Sequence[BusyPoint]  # over the used, non-MIG GPUs, in time order
    used_gpus: frozenset[int]
    gpu_model: str | None  # the catalog model of the machine's GPUs (None: unknown / none)
    gpu_memory_gib: float | None  # per GPU, catalog figure where known
    current: Price | None  # the catalog row the run was priced at (an equivalent off-cloud)
    offers: tuple[Price, ...]  # catalog rows of the same provider and region
    baseline: Baseline | None
    shared: bool  # another run (or foreign process) used this machine during the run
    runs_per_month: int = 1

    @property
    def machine_gpus(self) -> int:
        """GPUs on the machine: those sampled, else the catalog's."""
        if self.gpus:
            return len(self.gpus)
        return self.current.gpus if self.current else 0


@dataclass(frozen=True)
class Need:
    """What an instance must offer."""

    vcpus: int | None
    memory_gib: float | None
    gpu_count: int
    gpu_memory_gib: float | None  # per GPU


@dataclass(frozen=True)
class IdleSpend:
    """Billed idle hours of one resource no run ever used (from ``costs`` rows, kind idle)."""

    resource_id: str
    amount: Decimal
    currency: str
    hours: float
    first_start_ts: float
    last_end_ts: float


# -- shared helpers ----------------------------------------------------------------------------
def _nano(value: Decimal) -> Decimal:
    return value.quantize(_NANO, rounding=ROUND_HALF_EVEN).normalize()


def cost_for(rate: Decimal, seconds: float) -> Decimal:
    """``rate`` per hour for ``seconds``, to the nano-unit."""
    return _nano(rate * Decimal(repr(float(seconds))) / _SECONDS_PER_HOUR)


def rate_of(price: Price, lifecycle: str) -> Decimal | None:
    """Hourly price of an instance for this lifecycle (spot falls back to on-demand)."""
    if lifecycle == "spot":
        return price.spot or price.on_demand
    return price.on_demand


def enough_host(ev: RunEvidence, limits: Limits) -> bool:
    return len(ev.host) >= limits.min_samples


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
    """p99.5 CPU cores, peak RSS, GPUs used and peak GPU memory per GPU, each + headroom."""
    cores = percentile([p.cpu_cores for p in ev.host if p.cpu_cores is not None], CPU_PERCENTILE)
    rss = max((p.rss_bytes for p in ev.host if p.rss_bytes is not None), default=None)
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
        if rate is None or not _covers(ev, p, need, any_gpu_model) or not accept(p):
            continue
        found.append((rate, p.instance_type, p))
    return min(found, key=lambda item: item[:2])[2] if found else None


def _covers(ev: RunEvidence, p: Price, need: Need, any_gpu_model: bool) -> bool:
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
    value = _nano(base.amount - cost_for(rate, ev.duration_s))
    return value if value > 0 else None


def extra_cost(ev: RunEvidence, suggested: Price) -> Decimal | None:
    """What the run would have cost more on ``suggested`` (for advice that costs money)."""
    base = ev.baseline
    if base is None or suggested.currency != base.currency:
        return None
    rate = rate_of(suggested, base.lifecycle)
    return None if rate is None else _nano(cost_for(rate, ev.duration_s) - base.amount)


def note_extra_cost(ev: RunEvidence, suggested: Price, evidence: dict[str, Any]) -> None:
    """Put what ``suggested`` would add to the run's cost into ``evidence``, when known."""
    extra = extra_cost(ev, suggested)
    if extra is not None:
        evidence["extra_cost_per_run"] = str(extra)


def per_month(ev: RunEvidence, per_run: Decimal | None) -> Decimal | None:
    return None if per_run is None else _nano(per_run * ev.runs_per_month)


def severity_of(ev: RunEvidence, per_run: Decimal | None) -> str:
    if per_run is None or ev.baseline is None or ev.baseline.amount <= 0:
        return "info"
    share = per_run / ev.baseline.amount
    if share >= Decimal(repr(SEVERITY_HIGH_SHARE)):
        return "high"
    return "warn" if share >= Decimal(repr(SEVERITY_WARN_SHARE)) else "info"


def label(p: Price) -> str:
    """``g4dn.xlarge (4 vCPU, 16 GiB, 1× T4 16GB)``."""
    return f"{p.instance_type} ({p.hardware_label()})"


def _money(ev: RunEvidence, value: Decimal) -> str:
    return format_money(value, ev.baseline.currency if ev.baseline else "USD")


def _saving_text(ev: RunEvidence, per_run: Decimal | None) -> str:
    if per_run is None:
        return ""
    text = f", saving {_money(ev, per_run)} a run"
    if ev.runs_per_month > 1:
        text += f" ({_money(ev, per_run * ev.runs_per_month)} a month)"
    return text


def _recommend(ev: RunEvidence, rule: str, title: str, evidence: dict[str, Any],
               suggested: Price | None = None, per_run: Decimal | None = None,
               severity: str | None = None) -> Recommendation:
    evidence = dict(evidence)
    evidence["duration_s"] = round(ev.duration_s, 3)
    if ev.baseline is not None:
        evidence["charged"] = {"amount": str(ev.baseline.amount), "source": ev.baseline.source,
                               "share": ev.baseline.share, "lifecycle": ev.baseline.lifecycle}
    if suggested is not None:
        evidence["suggested"] = suggested.to_json()
    evidence["runs_per_month"] = ev.runs_per_month
    return Recommendation(
        rule=rule, severity=severity or severity_of(ev, per_run), title=title,
        evidence=evidence, current_instance=ev.instance_type,
        suggested_instance=suggested.instance_type if suggested else None,
        saving_per_run=per_run, saving_per_month=per_month(ev, per_run),
        currency=ev.baseline.currency if ev.baseline else None)


def _cheaper(ev: RunEvidence, need: Need, **kwargs: Any) -> tuple[Price | None, Decimal | None]:
    """The cheapest covering offer and its saving, or (None, None) when it saves nothing."""
    found = cheapest(ev, need, **kwargs)
    if found is None or (ev.current and found.instance_type == ev.current.instance_type):
        return None, None
    per_run = saving(ev, found)
    return (found, per_run) if per_run is not None else (None, None)


def _pct(value: float) -> str:
    return f"{value:.0f} %"


def _at(by_ts: Mapping[float, float], times: Sequence[float], ts: float,
        tolerance: float) -> float | None:
    """The value sampled at ``ts`` (or the nearest time within ``tolerance``)."""
    if ts in by_ts:
        return by_ts[ts]
    i = bisect_left(times, ts)
    near = [t for t in times[max(0, i - 1):i + 1] if abs(t - ts) <= tolerance]
    return by_ts[min(near, key=lambda t: abs(t - ts))] if near else None


# -- the rules ---------------------------------------------------------------------------------
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
    suggested, per_run = _cheaper(ev, replace(observed_need(ev), gpu_count=needed))
    title = (f"GPU underused: p95 utilisation {_pct(p95)} on {len(devices)} GPU(s) "
             f"(below {_pct(GPU_UNDERUSED_P95_PCT)}): raise the batch size")
    if suggested:
        title += f", or run on {label(suggested)}{_saving_text(ev, per_run)}"
    evidence = {"gpu_util_p95_pct": round(p95, 2),
                "gpu_util_p50_pct": round(percentile_of_counts(pooled, 50) or 0.0, 2),
                "per_gpu_util_p95_pct": {str(i): round(v, 2) for i, v in per_gpu.items()},
                "threshold_pct": GPU_UNDERUSED_P95_PCT, "gpus_used": sorted(ev.used_gpus),
                "gpus_needed": needed, "samples": sum(pooled.values())}
    return _recommend(ev, "gpu_underused", title, evidence, suggested, per_run)


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
    suggested, per_run = (None, None)
    if not ev.shared:
        suggested, per_run = _cheaper(ev, replace(observed_need(ev), gpu_count=keep))
    title = f"{len(idle)} of {len(ev.gpus)} GPUs on the machine were never used"
    if suggested:
        title += f": run on {label(suggested)}{_saving_text(ev, per_run)}"
    elif keep == 0:
        title += ": a machine without GPUs would do"
    else:
        title += f": a machine with {keep} GPU(s) would do"
    evidence = {"gpus_on_machine": len(ev.gpus), "gpus_used": sorted(ev.used_gpus),
                "gpus_idle": idle, "gpus_busy_with_other_work": busy,
                "idle_below_util_pct": GPU_IDLE_PCT,
                "idle_below_memory_bytes": GPU_IDLE_MEMORY_BYTES,
                "samples": min(d.samples for d in ev.gpus.values())}
    return _recommend(ev, "idle_gpus", title, evidence, suggested, per_run)


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
    suggested, per_run = _cheaper(
        ev, observed_need(ev), any_gpu_model=True,
        accept=lambda p: (p.gpu_memory_gib or 0) < memory_class * MEMORY_TOLERANCE)
    title = (f"GPU memory peak {peak / GIB:.1f} GiB is {_pct(share * 100)} of the GPU's "
             f"(below {_pct(GPU_MEMORY_LOW_SHARE * 100)}): room for a larger batch")
    if suggested:
        title += (f", or a smaller-memory GPU: {label(suggested)}{_saving_text(ev, per_run)}"
                  " (if it keeps pace)")
    evidence["threshold_share"] = GPU_MEMORY_LOW_SHARE
    return _recommend(ev, "gpu_memory_low", title, evidence, suggested, per_run)


def gpu_memory_high(ev: RunEvidence, limits: Limits) -> Recommendation | None:
    """Peak GPU memory > 90 % of the GPU's: out-of-memory risk, a larger-memory GPU."""
    found = _memory_evidence(ev, limits)
    if found is None or found[0] <= GPU_MEMORY_HIGH_SHARE:
        return None
    share, peak, memory_class, evidence = found
    suggested = cheapest(ev, observed_need(ev), any_gpu_model=True,
                         accept=lambda p: (p.gpu_memory_gib or 0) > memory_class)
    title = (f"GPU memory peak {peak / GIB:.1f} GiB is {_pct(share * 100)} of the GPU's "
             f"(above {_pct(GPU_MEMORY_HIGH_SHARE * 100)}): out-of-memory risk")
    if suggested:
        title += f"; a larger-memory GPU: {label(suggested)}"
        note_extra_cost(ev, suggested, evidence)
    evidence["threshold_share"] = GPU_MEMORY_HIGH_SHARE
    return _recommend(ev, "gpu_memory_high", title, evidence, suggested, None, "high")


def cpu_bottleneck(ev: RunEvidence, limits: Limits) -> Recommendation | None:
    """Tree CPU > 90 % of vCPUs while GPU < 10 % for over half the run: feed the GPU faster."""
    if not usable_gpus(ev, limits) or not ev.vcpus or not enough_host(ev, limits):
        return None
    by_ts = {p.ts: p.util_pct for p in ev.busy}
    times = [p.ts for p in ev.busy]
    pairs = []
    for p in ev.host:
        util = _at(by_ts, times, p.ts, ev.interval_s / 2)
        if p.cpu_cores is not None and util is not None:
            pairs.append((p.cpu_cores, util))
    if len(pairs) < limits.min_samples:
        return None
    limit = CPU_BOUND_SHARE_OF_VCPUS * ev.vcpus
    bound = [(c, u) for c, u in pairs if c > limit and u < CPU_BOUND_GPU_PCT]
    share = len(bound) / len(pairs)
    if share <= CPU_BOUND_MIN_SHARE:
        return None
    vcpus = ev.vcpus
    need = observed_need(ev)
    suggested = cheapest(ev, replace(need, vcpus=max(need.vcpus or 0, vcpus + 1)))
    title = (f"CPU bottleneck: the run used over {_pct(CPU_BOUND_SHARE_OF_VCPUS * 100)} of "
             f"{vcpus} vCPUs while its GPUs were below {_pct(CPU_BOUND_GPU_PCT)} in "
             f"{_pct(share * 100)} of samples: add data-loader workers or vCPUs")
    evidence = {"bottleneck_share": round(share, 4), "threshold_share": CPU_BOUND_MIN_SHARE,
                "vcpus": vcpus, "cpu_cores_p50_when_bound": percentile([c for c, _ in bound], 50),
                "gpu_util_p50_when_bound_pct": percentile([u for _, u in bound], 50),
                "samples": len(pairs)}
    if suggested:
        title += f" ({label(suggested)})"
        note_extra_cost(ev, suggested, evidence)
    return _recommend(ev, "cpu_bottleneck", title, evidence, suggested, None, "warn")


def iowait_bottleneck(ev: RunEvidence, limits: Limits) -> Recommendation | None:
    """Host iowait > 10 % while the GPUs idle (< 10 %) in over a quarter of the samples."""
    points = [p for p in ev.host if p.iowait_pct is not None]
    if len(points) < limits.min_samples:
        return None
    series = usable_gpus(ev, limits)
    by_ts = {p.ts: p.util_pct for p in ev.busy}
    times = [p.ts for p in ev.busy]
    judged = 0
    waiting = []
    for p in points:
        util = _at(by_ts, times, p.ts, ev.interval_s / 2) if series else 0.0
        if util is None:
            continue
        judged += 1
        if p.iowait_pct is not None and p.iowait_pct > IOWAIT_HIGH_PCT \
                and util < IOWAIT_GPU_IDLE_PCT:
            waiting.append(p.iowait_pct)
    if judged < limits.min_samples:
        return None
    share = len(waiting) / judged
    if share <= IOWAIT_MIN_SHARE:
        return None
    while_what = f"while the GPUs were below {_pct(IOWAIT_GPU_IDLE_PCT)} " if series else ""
    title = (f"I/O wait bottleneck: host iowait above {_pct(IOWAIT_HIGH_PCT)} {while_what}"
             f"in {_pct(share * 100)} of samples: stage data on local disk or in memory, "
             "prefetch, or use faster storage")
    evidence = {"iowait_share": round(share, 4), "threshold_share": IOWAIT_MIN_SHARE,
                "iowait_p50_pct_when_waiting": percentile(waiting, 50),
                "iowait_threshold_pct": IOWAIT_HIGH_PCT, "samples": judged}
    return _recommend(ev, "iowait_bottleneck", title, evidence, None, None, "warn")


def _rss_peak(ev: RunEvidence) -> int | None:
    return max((p.rss_bytes for p in ev.host if p.rss_bytes is not None), default=None)


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
    suggested, per_run = _cheaper(ev, need, accept=lambda p: p.memory_gib < memory)
    if suggested is None:
        return None
    title = (f"Memory over-provisioned: peak RSS {peak / GIB:.1f} GiB is {_pct(share * 100)} of "
             f"{memory:g} GiB: run on {label(suggested)}{_saving_text(ev, per_run)}")
    evidence = {"rss_peak_bytes": peak, "memory_gib": memory, "rss_peak_share": round(share, 4),
                "threshold_share": MEMORY_OVER_SHARE, "samples": len(ev.host)}
    return _recommend(ev, "memory_overprovisioned", title, evidence, suggested, per_run)


def memory_underprovisioned(ev: RunEvidence, limits: Limits) -> Recommendation | None:
    """Peak RSS > 90 % of the instance's memory (and little left on the host): more memory."""
    peak = _rss_peak(ev)
    if not enough_host(ev, limits) or not peak or not ev.memory_gib:
        return None
    share = peak / (ev.memory_gib * GIB)
    if share <= MEMORY_UNDER_SHARE:
        return None
    available = [p.mem_available_bytes for p in ev.host if p.mem_available_bytes is not None]
    if available and min(available) >= MEMORY_LOW_AVAILABLE_SHARE * ev.memory_gib * GIB:
        return None  # shared pages counted twice in RSS: the host still had room
    memory, vcpus = ev.memory_gib, ev.vcpus or 0
    need = replace(observed_need(ev), gpu_count=ev.machine_gpus)
    need = replace(need, vcpus=max(need.vcpus or 0, vcpus) or None)
    suggested = cheapest(ev, need, accept=lambda p: p.memory_gib > memory)
    title = (f"Memory under-provisioned: peak RSS {peak / GIB:.1f} GiB is {_pct(share * 100)} "
             f"of {memory:g} GiB: risk of swapping or the OOM killer")
    evidence = {"rss_peak_bytes": peak, "memory_gib": memory, "rss_peak_share": round(share, 4),
                "threshold_share": MEMORY_UNDER_SHARE,
                "host_mem_available_min_bytes": min(available) if available else None,
                "samples": len(ev.host)}
    if suggested:
        title += f"; run on {label(suggested)}"
        note_extra_cost(ev, suggested, evidence)
    return _recommend(ev, "memory_underprovisioned", title, evidence, suggested, None, "high")


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
    per_run = _nano(base.amount - spot_cost)
    if per_run <= 0:
        return None
    title = (f"Spot candidate: a {format_duration(ev.duration_s)} on-demand run; "
             f"{current.instance_type} on spot is {format_rate(current.spot, current.currency)} "
             f"vs {format_rate(current.on_demand, current.currency)}"
             f"{_saving_text(ev, per_run)} (checkpoint to survive interruptions)")
    evidence = {"lifecycle": "spot", "max_duration_s": SPOT_MAX_DURATION_S,
                "on_demand_per_hour": str(current.on_demand), "spot_per_hour": str(current.spot)}
    rec = _recommend(ev, "spot_candidate", title, evidence, None, per_run)
    return replace(rec, suggested_instance=current.instance_type)


def idle_tail(ev: RunEvidence, limits: Limits) -> Recommendation | None:
    """The run's GPUs idle (<= 5 %) for its last ``advise.idle_tail_s`` or more: stop earlier."""
    if not usable_gpus(ev, limits) or len(ev.busy) < limits.min_samples:
        return None
    by_ts = {p.ts: p.util_pct for p in ev.busy}
    times = [p.ts for p in ev.busy]
    active = [t for t in times if by_ts[t] > GPU_IDLE_PCT]
    if not active:
        return None  # never busy: the underuse and idle-GPU rules speak to that
    after = [t for t in times if t > active[-1]]
    if not after:
        return None
    tail = max(ev.end_ts, times[-1]) - after[0]
    if tail < limits.idle_tail_s:
        return None
    per_run = None
    if ev.baseline is not None and ev.duration_s > 0:
        per_run = _nano(ev.baseline.amount * Decimal(repr(min(tail, ev.duration_s)))
                        / Decimal(repr(ev.duration_s)))
        per_run = per_run if per_run > 0 else None
    title = (f"Idle tail: the GPUs were idle for the last {format_duration(tail)} of the run: "
             f"stop (or hand off) when training ends{_saving_text(ev, per_run)}")
    evidence = {"idle_tail_s": round(tail, 3), "threshold_s": limits.idle_tail_s,
                "idle_at_or_below_pct": GPU_IDLE_PCT, "last_busy_ts": active[-1],
                "samples_in_tail": len(after)}
    return _recommend(ev, "idle_tail", title, evidence, None, per_run)


RunRule = Callable[[RunEvidence, Limits], Recommendation | None]
RUN_RULES: tuple[RunRule, ...] = (
    idle_gpus, gpu_underused, gpu_memory_low, gpu_memory_high, cpu_bottleneck,
    iowait_bottleneck, memory_overprovisioned, memory_underprovisioned, spot_candidate, idle_tail,
)


def evaluate(ev: RunEvidence, limits: Limits) -> list[Recommendation]:
    """Every rule's advice for the run, highest saving first; none for a too-short run."""
    if ev.duration_s < limits.min_duration_s:
        return []
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
    monthly = _nano(idle.amount * HOURS_PER_MONTH / Decimal(repr(span_h)))
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
