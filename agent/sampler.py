"""The samplers of a run behind one interface, and the one loop that calls them.

A sampler (the process tree, the host, the GPUs) returns typed records from
:mod:`xprof.records`; a failing sampler costs its own records of that sample only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from xprof.agent.once import WARN
from xprof.records import Record


class Sampler(Protocol):
    """What the sampling loop needs of a sampler."""

    name: str  # named in the warning when a sample fails: "process", "host", "GPU"

    def sample(self, ts: float, pids: frozenset[int]) -> Sequence[Record]:
        """The records at ``ts``; ``pids`` are the run's live processes."""
        ...

    def hardware(self) -> dict:
        """What this sampler knows of the machine (merged into the run's ``hardware``)."""
        ...

    def close(self) -> None:
        """Release what the sampler holds (descriptors, NVML)."""
        ...


def sample_all(samplers: Sequence[Sampler], ts: float,
               pids: Callable[[], frozenset[int]]) -> list[Record]:
    """Every sampler's records at ``ts``; ``pids()`` is read before each sampler (the tree's
    sampler, first, updates it)."""
    records: list[Record] = []
    for sampler in samplers:
        try:
            records.extend(sampler.sample(ts, pids()))
        except Exception as exc:
            WARN.warn(sampler.name, f"{sampler.name} sampling failed: {exc}")
    return records


def run_every(interval: float, stop: threading.Event, step: Callable[[], None]) -> None:
    """Call ``step`` every ``interval`` seconds without drift until ``stop`` is set, then
    once more (the final state). A late step (a suspended machine) is skipped, not burst."""
    deadline = time.monotonic()
    while True:
        step()
        deadline += interval
        delay = deadline - time.monotonic()
        if delay < 0:
            deadline = time.monotonic()
            delay = 0.0
        if stop.wait(delay):
            break
    step()
