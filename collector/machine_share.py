"""How runs that overlap on one machine share it: the interval rule of the cost model.

Cut the time into sub-intervals at every run's start and end. In each sub-interval, among
the runs active in it:

- a **GPU run** (it used GPUs and the machine's GPU count is known) holds ``used / machine``
  GPUs' worth of the machine; if the GPU runs together claim more than the machine, they are
  scaled down to it;
- the **CPU-only runs** (no GPU used, or GPU use unknown) share what the GPU runs do not
  hold, by time: with n of them active each holds 1/n of that rest. Where a run's CPU and
  memory use was measured, its weight in that split is its measured share of the machine
  (OpenCost's max of request and usage; xprof has no requests, so the larger of p95 CPU
  cores / vCPUs and peak RSS / memory), else 1. A CPU-only run alone holds the whole rest:
  what it did not use was still not available to anybody else;
- what no run holds is idle.

A run's held time is Σ over sub-intervals of (length × its holding). Billing
(:mod:`~xprof.collector.allocate`, the same rule in SQL) divides each line item by held
time; estimates (:mod:`~xprof.collector.estimate`) price held time at the catalog rate.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any


@dataclass(frozen=True)
class Holder:
    """A run as the interval rule sees it: when it ran and what it claims of the machine."""

    run_id: str
    start: Fraction  # seconds (any common origin)
    end: Fraction
    gpu_share: Fraction | None  # used GPUs / machine GPUs; None: a CPU-only run
    weight: Fraction = Fraction(1)  # a CPU-only run's weight among CPU-only runs


def gpu_share(hardware: dict[str, Any] | None,
              machine_gpus: int | None = None) -> tuple[int | None, int | None]:
    """(GPUs used, GPUs on the machine) of a run, or (None, None) for a CPU-only run."""
    hardware = hardware or {}
    used = len(set(hardware.get("gpus_used") or [])) or None
    total = machine_gpus or int(hardware.get("gpu_count") or 0) or None
    if used is None or total is None:
        return None, None
    return min(used, total), total


def measured_weight(hardware: dict[str, Any] | None,
                    summary: dict[str, Any] | None) -> Fraction:
    """A CPU-only run's weight: max(p95 CPU cores / vCPUs, peak RSS / memory), in (0, 1];
    1 when neither was measured."""
    hardware, summary = hardware or {}, summary or {}
    parts = []
    cores, vcpus = summary.get("cpu_cores_p95"), hardware.get("cpu_count")
    if cores is not None and vcpus:
        parts.append(Fraction(str(float(cores))) / int(vcpus))
    rss, memory = summary.get("rss_peak_bytes"), hardware.get("memory_bytes")
    if rss is not None and memory:
        parts.append(Fraction(int(rss), int(memory)))
    if not parts:
        return Fraction(1)
    return min(Fraction(1), max(max(parts), Fraction(1, 1000)))


def holdings(active: Sequence[Holder]) -> dict[str, Fraction]:
    """What each of the runs active in one sub-interval holds of the machine (Σ ≤ 1)."""
    gpu = sum((h.gpu_share for h in active if h.gpu_share is not None), Fraction(0))
    cpu = sum((h.weight for h in active if h.gpu_share is None), Fraction(0))
    rest = 1 - min(Fraction(1), gpu)
    out = {}
    for h in active:
        if h.gpu_share is not None:
            out[h.run_id] = h.gpu_share / max(Fraction(1), gpu)
        else:
            out[h.run_id] = rest * h.weight / cpu
    return out


def held_seconds(runs: Sequence[Holder], start: Fraction | None = None,
                 end: Fraction | None = None) -> dict[str, Fraction]:
    """Each run's held time within [start, end) (all time if None), by the interval rule."""
    cuts = sorted({t for h in runs for t in (h.start, h.end)
                   if (start is None or t > start) and (end is None or t < end)}
                  | ({start} if start is not None else set())
                  | ({end} if end is not None else set()))
    held = {h.run_id: Fraction(0) for h in runs}
    for lo, hi in itertools.pairwise(cuts):
        active = [h for h in runs if h.start <= lo and h.end >= hi]
        for run_id, part in holdings(active).items():
            held[run_id] += part * (hi - lo)
    return held
