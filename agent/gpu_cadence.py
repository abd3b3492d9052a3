"""How often the GPU sampler asks NVML for each figure: the cost follows what a figure is for.

Measured on an H200 (driver 580), CPU per call: the energy counter 2.8 ms, per-process
utilisation 1.9 ms, the compute process list 150 µs, the graphics list 90 µs, memory 51 µs,
utilisation, power, temperature, clock 22-26 µs each. Asking everything at every sample cost
3.2 ms of CPU per GPU. So:

===================  =====================================================================
every sample         utilisation, memory (used, total), power: the series the dashboard,
                     advice and energy read
energy counter       first sample, last sample, and every ``gpu.energy_interval_s`` (a
                     killed agent loses that much of the counter; power covers the rest)
temperature, clock   every ``gpu.thermal_interval_s``
static facts         power limit and MIG mode (name, UUID, memory total are read at start):
                     at the first sample, then when the device's memory total (read every
                     sample) changes, and every ``gpu.static_interval_s`` (a slow re-check:
                     NVML has no cheap "device changed" flag); a MIG mode that changed
                     re-discovers the device's instances
process lists        every ``gpu.process_interval_s``, at once when the run's process tree
                     changes, and when a device's memory moves by 32 MiB or more; graphics
                     lists only where one was ever non-empty (they are read once at start)
MIG instance memory  with the instance's process list, and whenever the whole device's
                     memory used (read every sample) is not what it was at the instance's
                     last read; otherwise carried (the device's memory did not move, so
                     neither did its instances')
per-process util     only on a device where it says more than device utilisation (more than
                     one process of the run, or a foreign process): at the device's first
                     such sample, every ``gpu.process_util_interval_s``, and at most every
                     :data:`PROCESS_UTIL_MIN_S` when the device's process set changed or its
                     utilisation moved by :data:`PROCESS_UTIL_MOVE_PCT` points or more since
                     the last read; elsewhere the run's SM utilisation is the device's
===================  =====================================================================

A cadenced read that fails for now (a transient NVML error) is asked again at the next sample.
A figure not read at a sample is NULL in that row (never a repeated or invented value), except
the power limit, a fact carried on every row, and a MIG instance's memory, carried while the
device's memory stands still. Between two process lists the run's memory on a
device its processes alone use follows the device's memory used (what the run allocates there
is what the device gains).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xprof.agent.nvml import Key

# Per-process utilisation read early (before its cadence) when what it would say may have
# changed: the device's processes, or its utilisation by this many points; never more often
# than every PROCESS_UTIL_MIN_S seconds.
PROCESS_UTIL_MIN_S = 120.0
PROCESS_UTIL_MOVE_PCT = 10.0


@dataclass(frozen=True)
class GpuCadence:
    """Seconds between reads of each costly figure (0: every sample; None: once per run)."""

    energy_s: float = 120.0
    thermal_s: float = 30.0
    process_s: float = 60.0
    process_util_s: float = 300.0
    static_s: float | None = 600.0
    mig_check: bool = True  # static re-reads also check MIG mode (the old policy did not)
    every_process_util: bool = False  # per-process utilisation on every used device
    every_graphics: bool = False  # graphics lists at every process-list read

    @classmethod
    def from_settings(cls, settings: Any) -> GpuCadence:
        """The ``gpu.*_interval_s`` settings (defaults where a setting is absent)."""
        def get(key: str, default: float) -> float:
            value = settings.get(key) if settings is not None else None
            return float(value) if value is not None else default

        return cls(energy_s=get("gpu.energy_interval_s", cls.energy_s),
                   thermal_s=get("gpu.thermal_interval_s", cls.thermal_s),
                   process_s=get("gpu.process_interval_s", cls.process_s),
                   process_util_s=get("gpu.process_util_interval_s", cls.process_util_s),
                   static_s=get("gpu.static_interval_s", cls.static_s or 600.0))

    @classmethod
    def every_sample(cls) -> GpuCadence:
        """The old policy: every figure at every sample (the benchmark's reference)."""
        return cls(energy_s=0.0, thermal_s=0.0, process_s=0.0, process_util_s=0.0,
                   static_s=0.0, mig_check=False, every_process_util=True,
                   every_graphics=True)


class Schedule:
    """When each (target, figure group) was last read, and whether it is due again."""

    def __init__(self) -> None:
        self._last: dict[tuple[Key, str], float] = {}

    def due(self, key: Key, group: str, ts: float, interval: float | None) -> bool:
        """Never read, or ``interval`` seconds since the last read (None: never again)."""
        last = self._last.get((key, group))
        if last is None:
            return True
        return interval is not None and ts - last >= interval

    def since(self, key: Key, group: str, ts: float) -> float | None:
        """Seconds since the last read at ``ts``; None when never read."""
        last = self._last.get((key, group))
        return None if last is None else ts - last

    def mark(self, key: Key, group: str, ts: float) -> None:
        self._last[(key, group)] = ts

    def forget(self, key: Key, group: str) -> None:
        """Due again at the next sample (a read that failed for now)."""
        self._last.pop((key, group), None)

    def take(self, key: Key, group: str, ts: float, interval: float | None) -> bool:
        """``due``, and marked read at ``ts`` when it is."""
        if self.due(key, group, ts, interval):
            self.mark(key, group, ts)
            return True
        return False
