"""Predict a run's duration on another machine from its bottleneck.

The run's time is split, sample by sample, into four parts (:class:`TimeSplit`):

- **compute-bound GPU time** and **memory-bound GPU time**: a sample's GPU-busy share is its
  SM utilisation (the share of the interval a kernel ran, over the GPUs the run used);
  it is memory-bound in proportion to how close the memory-controller utilisation comes to
  the SM's (``mem/sm`` at or below :data:`MEMORY_BOUND_FROM` is compute-bound, at or above
  :data:`MEMORY_BOUND_AT` memory-bound, linear in between);
- **CPU / data-loader-bound time**: the rest of a sample in which the run's process tree
  used more than :data:`CPU_SATURATED_SHARE` of the machine's vCPUs (read to the
  :data:`~xprof.sample_counts.CORES_STEP` bucket);
- **idle / other**: the rest (waiting on I/O or the network, single-threaded work, an idle
  tail). It does not change with the hardware.

A candidate scales each part by a ratio: compute by the datasheet TFLOP/s (BF16 tensor where
known, else FP16 tensor, else FP32), memory by the bandwidth, both also by the GPUs used over
the GPUs the candidate gives the run (data parallel), CPU by the vCPUs (at most
:data:`CPU_MAX_SPEEDUP` times faster). Where the project has
comparable runs (same params, seeds aside) on the candidate's GPU model and on the run's, the
measured ratio of their durations replaces the datasheet (:func:`calibrated_ratio`), and the
error the datasheet model had on that pair is reported.

Confidence: ``high`` when at least 90 % of the run is explained (sampled, and its GPU time
clearly compute- or memory-bound), with 10 × ``advise.min_samples`` samples and a measured
(or no) GPU change; ``medium`` from 70 % explained and ``advise.min_samples`` samples;
``low`` otherwise, and for every preliminary run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from xprof.collector.catalog import Price
from xprof.collector.hardware import GpuSpec, gpu_spec
from xprof.collector.rightsizing.evidence import Limits, RunEvidence
from xprof.sample_counts import CORES_STEP

MEMORY_BOUND_FROM = 0.4
"""``mem/sm`` utilisation at or below this: the GPU-busy time is compute-bound ..."""
MEMORY_BOUND_AT = 0.8
"""... at or above this memory-bound; in between, partly each (linearly)."""
CPU_SATURATED_SHARE = 0.9
"""GPU-idle time counts as CPU / data-loader-bound when the tree used more than this share of
vCPUs."""
CPU_MAX_SPEEDUP = 2.0
"""More vCPUs shorten the CPU-bound time at most this many times (data loaders rarely scale
linearly, and the run's worker count stays what it was)."""
EXPLAINED_HIGH, EXPLAINED_MEDIUM = 0.9, 0.7
"""Share of the run the model must explain for ``high`` / ``medium`` confidence."""
SAMPLES_HIGH_FACTOR = 10
"""``high`` confidence also needs this many times ``advise.min_samples`` samples."""


@dataclass(frozen=True)
class TimeSplit:
    """A run's duration split by bottleneck, in seconds (the four parts sum to it)."""

    duration_s: float
    compute_s: float
    memory_s: float
    cpu_s: float
    idle_s: float
    samples: int
    explained: float  # share of the run sampled and clearly attributed (0..1)

    def as_evidence(self) -> dict[str, Any]:
        return {"compute_bound_s": round(self.compute_s, 3),
                "memory_bound_s": round(self.memory_s, 3),
                "cpu_bound_s": round(self.cpu_s, 3), "idle_s": round(self.idle_s, 3),
                "samples": self.samples, "explained_share": round(self.explained, 4)}


@dataclass(frozen=True)
class Prediction:
    """A run's predicted duration on one candidate machine."""

    duration_s: float
    confidence: str  # low | medium | high
    basis: str  # datasheet | measured | same hardware
    ratios: dict[str, float | None] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None

    @property
    def ratio(self) -> float:
        return self.ratios.get("duration") or 1.0


def _memory_share(sm: float, mem: float | None) -> tuple[float, bool]:
    """(memory-bound share of the busy time, whether that is clear-cut)."""
    if sm <= 0:
        return 0.0, True
    if mem is None:  # no memory-controller figure: counted compute-bound, not clear-cut
        return 0.0, False
    r = mem / sm
    if r <= MEMORY_BOUND_FROM:
        return 0.0, True
    if r >= MEMORY_BOUND_AT:
        return 1.0, True
    return (r - MEMORY_BOUND_FROM) / (MEMORY_BOUND_AT - MEMORY_BOUND_FROM), False


def split_time(ev: RunEvidence) -> TimeSplit:
    """The run's duration split by bottleneck (see the module docstring), from the run's
    counts: the GPU-busy ticks by (SM %, memory %) for the busy time, their idle shares by
    CPU cores bucket for the rest (a run without a GPU series: its CPU samples, GPU idle)."""
    counts = ev.counts
    if ev.gpu_series and counts.profile:
        profile = counts.profile
        idle_by_cores = counts.idle_by_cores
    else:
        cores = {k: n for (k, _), n in counts.cores_util.items() if k is not None}
        profile = {(0.0, None): sum(cores.values())} if cores else {}
        idle_by_cores = {}
        for k, n in cores.items():
            idle_by_cores[k] = idle_by_cores.get(k, 0.0) + n
    points = sum(profile.values())
    if not points:
        return TimeSplit(ev.duration_s, 0.0, 0.0, 0.0, ev.duration_s, 0, 0.0)
    saturated = round(CPU_SATURATED_SHARE * ev.vcpus / CORES_STEP) if ev.vcpus else math.inf
    step = ev.duration_s / points
    parts = [0.0, 0.0, 0.0, 0.0]
    unclear = 0.0
    for (sm, mem), count in profile.items():
        weight = step * count
        busy = min(max(sm, 0.0), 100.0) / 100.0
        share, clear = _memory_share(sm, mem)
        parts[0] += weight * busy * (1 - share)
        parts[1] += weight * busy * share
        if not clear:
            unclear += weight * busy
    for cores_k, idle in idle_by_cores.items():
        weight = step * idle
        if cores_k is None:  # CPU-bound or idle: cannot tell
            parts[3] += weight
            unclear += weight
        else:
            parts[2 if cores_k > saturated else 3] += weight
    covered = min(1.0, points * ev.interval_s / ev.duration_s) if ev.duration_s else 0.0
    explained = max(0.0, covered - unclear / ev.duration_s) if ev.duration_s else 0.0
    return TimeSplit(ev.duration_s, *parts, samples=points, explained=explained)


def _gpus_given(ev: RunEvidence, candidate: Price) -> tuple[int, int]:
    """(GPUs the run used, GPUs it would use on the candidate)."""
    used = max(1, len(ev.used_gpus))
    return used, max(1, min(candidate.gpus, used))


def _ratio(current: float | None, candidate: float | None) -> float | None:
    return current / candidate if current and candidate else None


def datasheet_ratios(ev: RunEvidence, candidate: Price) -> dict[str, float | None]:
    """Time ratios (candidate / current) of each part from the datasheets; None: unknown."""
    cpu = max(1 / CPU_MAX_SPEEDUP, _ratio(ev.vcpus, candidate.vcpus) or 0) if ev.vcpus \
        else None
    if not ev.used_gpus or not candidate.gpus:
        return {"compute": None, "memory": None, "cpu": cpu}
    used, given = _gpus_given(ev, candidate)
    count = used / given
    if _same_gpu(ev, candidate):
        return {"compute": count, "memory": count, "cpu": cpu}
    mine, theirs = _spec(ev.gpu_model, ev.gpu_memory_gib), \
        _spec(candidate.gpu_model, candidate.gpu_memory_gib)
    compute = _ratio(mine.compute[0] if mine and mine.compute else None,
                     theirs.compute[0] if theirs and theirs.compute else None)
    memory = _ratio(mine.bandwidth_gbs if mine else None,
                    theirs.bandwidth_gbs if theirs else None)
    return {"compute": compute * count if compute else None,
            "memory": memory * count if memory else None, "cpu": cpu}


def _spec(model: str | None, memory_gib: float | None) -> GpuSpec | None:
    return gpu_spec(model, memory_gib)


def _same_gpu(ev: RunEvidence, candidate: Price) -> bool:
    if not ev.gpu_model or candidate.gpu_model != ev.gpu_model:
        return False
    mine = _spec(ev.gpu_model, ev.gpu_memory_gib)
    theirs = _spec(candidate.gpu_model, candidate.gpu_memory_gib)
    return mine == theirs


def scaled_duration(split: TimeSplit, ratios: dict[str, float | None]) -> float | None:
    """The split's parts scaled by ``ratios``; None when a part that took time has none."""
    total = split.idle_s
    for part, seconds in (("compute", split.compute_s), ("memory", split.memory_s),
                          ("cpu", split.cpu_s)):
        if seconds <= 0:
            continue
        ratio = ratios.get(part)
        if ratio is None:
            if part == "cpu":  # vCPUs unknown: CPU time kept as it was
                total += seconds
                continue
            return None
        total += seconds * ratio
    return total


def _class_of(model: str | None, memory_gib: float | None) -> tuple[str, float] | None:
    spec = _spec(model, memory_gib)
    if spec is None:
        return (model, round(memory_gib or 0)) if model else None
    return spec.model, spec.memory_gib


def calibrated_ratio(ev: RunEvidence, candidate: Price) -> tuple[float, int, int] | None:
    """(measured duration ratio candidate / current, runs on the candidate's GPU, runs on
    the run's) from comparable runs using as many GPUs; None without both."""
    if not ev.peers or not candidate.gpus or not ev.used_gpus:
        return None
    used, given = _gpus_given(ev, candidate)
    mine = _class_of(ev.gpu_model, ev.gpu_memory_gib)
    theirs = _class_of(candidate.gpu_model, candidate.gpu_memory_gib)
    if mine is None or theirs is None or mine == theirs:
        return None

    def durations(gpu_class: tuple[str, float], count: int) -> list[float]:
        return [p.duration_s for p in ev.peers if p.gpus_used == count and p.duration_s > 0
                and _class_of(p.gpu_model, p.gpu_memory_gib) == gpu_class]

    here, there = durations(mine, used), durations(theirs, given)
    if not here or not there:
        return None
    return median(there) / median(here), len(there), len(here)


def confidence(split: TimeSplit, basis: str, ev: RunEvidence, limits: Limits) -> str:
    if ev.preliminary or split.samples < limits.min_samples \
            or split.explained < EXPLAINED_MEDIUM:
        return "low"
    if split.explained >= EXPLAINED_HIGH and basis != "datasheet" \
            and split.samples >= SAMPLES_HIGH_FACTOR * limits.min_samples:
        return "high"
    return "medium"


def predict(ev: RunEvidence, split: TimeSplit, candidate: Price, limits: Limits
            ) -> Prediction | None:
    """The run's duration on ``candidate``; None when a part that took time has no ratio
    (a GPU without a datasheet figure, say)."""
    ratios = datasheet_ratios(ev, candidate)
    datasheet = scaled_duration(split, ratios)
    same = not ev.used_gpus or _same_gpu(ev, candidate)
    measured = None if same else calibrated_ratio(ev, candidate)
    calibration = None
    if measured is not None:
        ratio, n_there, n_here = measured
        duration = ev.duration_s * ratio
        basis = "measured"
        calibration = {"measured_ratio": round(ratio, 4), "runs_on_candidate_gpu": n_there,
                       "runs_on_this_gpu": n_here}
        if datasheet is not None and ev.duration_s:
            model_ratio = datasheet / ev.duration_s
            calibration["datasheet_ratio"] = round(model_ratio, 4)
            calibration["datasheet_error_pct"] = round((model_ratio / ratio - 1) * 100, 1)
    elif datasheet is None:
        return None
    else:
        duration, basis = datasheet, "same hardware" if same else "datasheet"
    ratios = {**{k: (round(v, 4) if v else v) for k, v in ratios.items()},
              "duration": round(duration / ev.duration_s, 4) if ev.duration_s else 1.0}
    return Prediction(duration_s=duration, confidence=confidence(split, basis, ev, limits),
                      basis=basis, ratios=ratios, calibration=calibration)
