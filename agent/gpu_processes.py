"""The GPU process lists a sample uses: read when due (see :mod:`gpu_cadence`), else the last.

A list is read again when its cadence is due, when the run's process tree changed since the
last sample, or when the device's memory moved by :data:`IN_USE_BYTES` or more since the last
list (a process may have arrived or left; a training run's memory is steady after its first
steps, so this costs little). Graphics lists are read at a device's first list, then only
where one was non-empty.
"""

from __future__ import annotations

from dataclasses import dataclass

from xprof.agent.gpu_cadence import GpuCadence, Schedule
from xprof.agent.nvml import Device, Key, Nvml

# Memory beyond a reference figure that counts as "in use" (visible-devices attribution) and
# as a move worth a new process list.
IN_USE_BYTES = 32 * 2**20


@dataclass(frozen=True)
class Listed:
    """A target's processes as last listed (pid -> bytes, None: hidden; None: unreadable),
    the device memory used then, and whether the list was read at this sample."""

    processes: dict[int, int | None] | None
    mem_used: int | None
    fresh: bool


class ProcessLists:
    """The process lists of every target, each read on its own cadence."""

    def __init__(self, nvml: Nvml, cadence: GpuCadence, schedule: Schedule) -> None:
        self._nvml = nvml
        self._cadence = cadence
        self._schedule = schedule
        self._last: dict[Key, Listed] = {}
        self._graphics: set[Key] = set()  # targets where a graphics process was ever listed

    def get(self, device: Device, ts: float, mem_used: int | None, pids: frozenset[int],
            tree_changed: bool) -> Listed:
        """The target's processes at ``ts``: read now when due, else the last list."""
        key = device.key
        last = self._last.get(key)
        if last is not None and not tree_changed and not _moved(last, mem_used) \
                and not self._schedule.due(key, "processes", ts, self._cadence.process_s):
            return Listed(last.processes, last.mem_used, False)
        graphics = last is None or self._cadence.every_graphics or key in self._graphics
        processes, graphics_seen = self._nvml.processes(device, graphics=graphics)
        if graphics_seen:
            self._graphics.add(key)
        if processes is not None:  # unreadable: asked again at the next sample
            self._schedule.mark(key, "processes", ts)
        listed = Listed(processes, mem_used, True)
        self._last[key] = listed
        return listed


def _moved(last: Listed, mem_used: int | None) -> bool:
    """The device's memory moved by IN_USE_BYTES or more since the last list."""
    if mem_used is None or last.mem_used is None:
        return False
    return abs(mem_used - last.mem_used) >= IN_USE_BYTES
