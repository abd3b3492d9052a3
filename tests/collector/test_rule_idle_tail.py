"""Idle tail: the run's GPUs idle for its last `advise.idle_tail_s` (10 minutes by default)
or more: stop earlier, saving what that tail was charged."""

from __future__ import annotations

from decimal import Decimal

from tests.collector.advise_seed import (
    GIB,
    T4,
    does_not_fire,
    fires_once,
    gpu_row,
    nano,
    seed_run,
)
from xprof.settings import Settings


def tail_run(store, idle_from_s: float) -> str:
    """A one-hour g4dn.xlarge run, GPU at 90 % until ``idle_from_s``, then 0 %."""
    return seed_run(store, instance_type="g4dn.xlarge", gpu_count=1, cpu_count=4,
                    memory_gib=16, duration_s=3600,
                    gpu_fn=lambda k, i, t: gpu_row(90.0 if t < idle_from_s else 0.0,
                                                   8 * GIB, T4[1], 8 * GIB, True))


def test_ten_idle_minutes_fire(store):
    """Idle for the last 600 s: fires once, saving 600/3600 of the $0.526 the hour cost."""
    rec = fires_once(store, tail_run(store, 3000), "idle_tail")
    assert rec.evidence["idle_tail_s"] == 600
    assert rec.saving_per_run == nano(Decimal("0.526") * 600 / 3600)
    assert rec.suggested_instance is None
    assert "10m" in rec.title


def test_just_under_ten_minutes_does_not_fire(store):
    """Idle for the last 590 s is under the limit."""
    does_not_fire(store, tail_run(store, 3010), "idle_tail")


def test_the_limit_is_a_setting(store, monkeypatch):
    """XPROF_ADVISE_IDLE_TAIL_S=300 makes a 590 s tail fire."""
    monkeypatch.setenv("XPROF_ADVISE_IDLE_TAIL_S", "300")
    fires_once(store, tail_run(store, 3010), "idle_tail", Settings())


def test_never_busy_is_not_a_tail(store):
    """A GPU idle the whole run is underuse, not an idle tail."""
    does_not_fire(store, tail_run(store, 0), "idle_tail")
