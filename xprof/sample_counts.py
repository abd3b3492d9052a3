"""What advice reads of a run's process-tree and GPU-busy series, as counts whose size does not
grow with the run's length.

Each host sample is paired with the GPU readings of the same sampling tick (the agent stamps
them with one time) and counted by bucket: the tree's CPU cores (up to
:data:`CORES_STEP`), host iowait (up to :data:`IOWAIT_STEP` percent), and the GPU-busy
value of the tick (``sm``: the highest SM utilisation among the GPUs the run has touched so
far, whole percents as NVML gives them, kept exactly below :data:`UTIL_CAP`, one bucket at or
above it). A bucket ``k`` holds the values in ``((k-1)·step, k·step]``, so the rules'
"above a threshold" tests on multiples of a step are exact, and a percentile read back is the
bucket's upper edge: at most one step above the sampled value.

**Seconds before the run first touches a GPU** (loading data, building the model) count as
GPU-idle ticks (``sm`` 0) on a machine whose GPUs were sampled: the run paid for the GPUs and
they waited. Once a GPU has been touched it stays in the busy value for the rest of the run
(a later ``used_by_run`` false, between two process lists, does not drop it). A tick with no
GPU reading at all has ``sm`` None. GPUs in MIG mode never count.

The agent keeps these counts while it samples (:class:`SampleCounts`, stored in the host's
summary as ``advice_counts``); for a run recorded without them (an older agent, a crash) the
collector builds the same shape from the stored rows in SQL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

CORES_STEP = 0.1
"""Bucket width of the process tree's CPU cores."""
IOWAIT_STEP = 1.0
"""Bucket width of host iowait, in percent."""
UTIL_CAP = 10
"""GPU-busy values below this are kept to the whole percent; those at or above it share one
bucket (the CPU and I/O rules ask only "below 10 %")."""
GPU_IDLE_PCT = 5.0
"""A GPU-busy tick at or below this is idle (idle tail)."""
BUCKET_EPS = 1e-9
"""Taken off before rounding up, so float noise (0.7 / 0.1 = 7.000000000000001) stays in
its bucket."""
VERSION = 1


def bucket(value: float | None, step: float) -> int | None:
    """The bucket ``k`` with ``(k-1)·step < value <= k·step`` (None stays None)."""
    return None if value is None else max(0, math.ceil(value / step - BUCKET_EPS))


def util_bucket(sm: float | None) -> int | None:
    """The GPU-busy value to the whole percent below :data:`UTIL_CAP`, else UTIL_CAP."""
    return None if sm is None else min(math.floor(max(sm, 0.0)), UTIL_CAP)


def idle_share(sm: float) -> float:
    """The share of a tick the GPUs were not busy."""
    return 1 - min(max(sm, 0.0), 100.0) / 100.0


def add_count(counts: dict[Any, Any], key: Any, n: float = 1) -> None:
    """Add ``n`` to ``counts[key]``."""
    counts[key] = counts.get(key, 0) + n


@dataclass
class SampleCounts:
    """A run's host samples, counted (see the module docstring)."""

    host_samples: int = 0
    rss_max: int | None = None
    mem_available_min: int | None = None
    cores_util: dict[tuple[int | None, int | None], int] = field(default_factory=dict)
    iowait_util: dict[tuple[int, int | None], int] = field(default_factory=dict)
    profile: dict[tuple[float, float | None], int] = field(default_factory=dict)  # (sm, mem)
    idle_by_cores: dict[int | None, float] = field(default_factory=dict)  # sum of idle shares
    last_active_ts: float | None = None  # last tick with sm above GPU_IDLE_PCT
    tail_first_ts: float | None = None  # first tick with a GPU reading after that one
    tail_ticks: int = 0  # ticks with a GPU reading after it
    last_tick_ts: float | None = None  # last tick with a GPU reading

    def add(self, ts: float, cores: float | None, rss: int | None, iowait: float | None,
            available: int | None, sm: float | None, mem: float | None) -> None:
        """One host sample and the GPU-busy value of its tick (None: no GPU reading)."""
        self.host_samples += 1
        if rss is not None:
            self.rss_max = rss if self.rss_max is None else max(self.rss_max, rss)
        if available is not None:
            self.mem_available_min = available if self.mem_available_min is None \
                else min(self.mem_available_min, available)
        cores_k, util_k = bucket(cores, CORES_STEP), util_bucket(sm)
        add_count(self.cores_util, (cores_k, util_k))
        if iowait is not None:
            add_count(self.iowait_util, (bucket(iowait, IOWAIT_STEP), util_k))
        if sm is None:
            return
        add_count(self.profile, (sm, mem))
        add_count(self.idle_by_cores, cores_k, idle_share(sm))
        if sm > GPU_IDLE_PCT:
            self.last_active_ts, self.tail_first_ts, self.tail_ticks = ts, None, 0
        else:
            self.tail_first_ts = ts if self.tail_first_ts is None else self.tail_first_ts
            self.tail_ticks += 1
        self.last_tick_ts = ts

    @property
    def gpu_ticks(self) -> int:
        """Ticks with a GPU-busy value."""
        return sum(self.profile.values())

    def cores(self) -> dict[float, int]:
        """Samples by CPU cores (each bucket's upper edge)."""
        out: dict[float, int] = {}
        for (cores_k, _), n in self.cores_util.items():
            if cores_k is not None:
                add_count(out, edge(cores_k, CORES_STEP), n)
        return out

    def as_json(self) -> dict[str, Any]:
        return {"version": VERSION, "host_samples": self.host_samples,
                "rss_max_bytes": self.rss_max,
                "mem_available_min_bytes": self.mem_available_min,
                "cores_util": [[c, u, n] for (c, u), n in sorted(
                    self.cores_util.items(), key=_none_first)],
                "iowait_util": [[i, u, n] for (i, u), n in sorted(
                    self.iowait_util.items(), key=_none_first)],
                "profile": [[s, m, n] for (s, m), n in sorted(
                    self.profile.items(), key=_none_first)],
                "idle_by_cores": [[c, v] for c, v in sorted(
                    self.idle_by_cores.items(), key=_none_first)],
                "last_active_ts": self.last_active_ts, "tail_first_ts": self.tail_first_ts,
                "tail_ticks": self.tail_ticks, "last_tick_ts": self.last_tick_ts}

    @classmethod
    def from_json(cls, data: Any) -> SampleCounts | None:
        """The counts a host summary holds (None: none, or of another version)."""
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return None
        return cls(
            host_samples=int(data["host_samples"]), rss_max=data["rss_max_bytes"],
            mem_available_min=data["mem_available_min_bytes"],
            cores_util={(c, u): int(n) for c, u, n in data["cores_util"]},
            iowait_util={(i, u): int(n) for i, u, n in data["iowait_util"]},
            profile={(float(s), None if m is None else float(m)): int(n)
                     for s, m, n in data["profile"]},
            idle_by_cores={c: float(v) for c, v in data["idle_by_cores"]},
            last_active_ts=data["last_active_ts"], tail_first_ts=data["tail_first_ts"],
            tail_ticks=int(data["tail_ticks"]), last_tick_ts=data["last_tick_ts"])


def edge(k: int, step: float) -> float:
    """A bucket's upper edge (rounded off float noise)."""
    return round(k * step, 6)


def _none_first(item: tuple[Any, Any]) -> tuple[Any, ...]:
    key = item[0] if isinstance(item[0], tuple) else (item[0],)
    return tuple((v is not None, v if v is not None else 0) for v in key)
