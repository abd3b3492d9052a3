"""What crosses the border between the store and the rules: a run's evidence in, a
:class:`Recommendation` out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from xprof.collector.catalog import Price
from xprof.sample_counts import SampleCounts


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

    @property
    def predicted_duration_s(self) -> float | None:
        """The run's predicted duration on the suggested machine (None: no machine change)."""
        value = self.evidence.get("predicted_duration_s") if self.suggested_instance else None
        return None if value is None else float(value)

    @property
    def predicted_cost(self) -> Decimal | None:
        """The run's predicted cost on the suggested machine."""
        value = self.evidence.get("predicted_cost") if self.suggested_instance else None
        return None if value is None else Decimal(value)

    @property
    def confidence(self) -> str | None:
        """How far the prediction can be trusted: low | medium | high."""
        return self.evidence.get("confidence")


@dataclass(frozen=True)
class Limits:
    """How much data a rule needs, and the idle-tail length (settings ``advise.*``)."""

    min_duration_s: float = 300.0  # shorter runs get preliminary advice (confidence low) ...
    preliminary_s: float = 60.0  # ... from this long; shorter ones none
    min_samples: int = 30
    idle_tail_s: float = 600.0


class PeerRun(NamedTuple):
    """A comparable run of the same project (same params, seeds aside), for calibration."""

    run_id: str
    gpu_model: str | None
    gpu_memory_gib: float | None
    gpus_used: int
    duration_s: float


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
    counts: SampleCounts  # the host samples with their ticks' GPU-busy value, counted
    gpus: Mapping[int, GpuDevice]  # every GPU sampled, by index
    used_gpus: frozenset[int]
    gpu_model: str | None  # the catalog model of the machine's GPUs (None: unknown / none)
    gpu_memory_gib: float | None  # per GPU, catalog figure where known
    current: Price | None  # the catalog row the run was priced at (an equivalent off-cloud)
    offers: tuple[Price, ...]  # catalog rows of the same provider and region
    baseline: Baseline | None
    shared: bool  # another run (or foreign process) used this machine during the run
    runs_per_month: int = 1
    cpu_arch: str | None = None  # x86_64 | arm64 of the run's machine (None: unknown)
    allow_arch_change: bool = False  # setting advise.allow_arch_change
    peers: Sequence[PeerRun] = ()  # comparable runs of the project, this one included
    preliminary: bool = False  # shorter than advise.min_duration_s: advice is preliminary
    current_name: str | None = None  # the instance type; off-cloud, its priced equivalent

    @property
    def gpu_series(self) -> bool:
        """Whether the counts' GPU-busy values are the run's own: it used a GPU (not in MIG
        mode) that was sampled."""
        return any(i in self.gpus and not self.gpus[i].mig for i in self.used_gpus)

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
