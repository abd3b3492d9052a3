"""Memory over- and under-provisioned: peak RSS against the instance's memory gives a cheaper
smaller instance (under 30 %) or a larger one (over 90 %, with the host short of memory)."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from tests.collector.advise_seed import (
    GIB,
    does_not_fire,
    fires_once,
    hours_cost,
    seed_run,
)
from xprof import schema


def cpu_run(store, instance_type: str, memory_gib: float, rss: int,
            available: int | None = None) -> str:
    extra = {} if available is None else {"host_mem_available_bytes": available}
    return seed_run(store, gpu=None, gpu_count=0, instance_type=instance_type, cpu_count=4,
                    memory_gib=memory_gib, duration_s=3600,
                    host_fn=lambda k, t: {"cpu_cores": 2.0, "rss_bytes": rss if k == 7
                                          else rss // 3, **extra})


def test_peak_under_thirty_percent_fires(store):
    """Peak RSS 29.9 % of r5.2xlarge's 64 GiB (19.1 GiB + 20 % = 23 GiB, 2 cores -> 3 vCPUs):
    r5.xlarge (4 vCPU, 32 GiB), half the price."""
    rec = fires_once(store, cpu_run(store, "r5.2xlarge", 64, int(0.299 * 64 * GIB)),
                     "memory_overprovisioned")
    # r5.xlarge and r6i.xlarge both cost $0.252; the name breaks the tie.
    assert (rec.suggested_instance, rec.saving_per_run) == ("r5.xlarge", Decimal("0.252"))
    assert rec.severity == "high"  # half of what the run paid


def test_thirty_percent_does_not_fire(store):
    """Peak RSS exactly 30 % gets no over-provisioning advice."""
    at_limit = -(-64 * GIB * 3 // 10)  # the first byte count that is 30 % or more
    does_not_fire(store, cpu_run(store, "r5.2xlarge", 64, at_limit), "memory_overprovisioned")


def test_peak_over_ninety_percent_with_host_short_fires(store):
    """Peak RSS 91 % of m5.xlarge's 16 GiB with 1 GiB left on the host: high severity,
    r5.xlarge (32 GiB), no saving but its extra cost in the evidence."""
    rec = fires_once(store, cpu_run(store, "m5.xlarge", 16, int(0.91 * 16 * GIB), GIB),
                     "memory_underprovisioned")
    assert (rec.severity, rec.suggested_instance, rec.saving_per_run) == (
        "high", "r5.xlarge", None)
    assert Decimal(rec.evidence["extra_cost_per_run"]) == hours_cost("0.252", 3600) - \
        hours_cost("0.192", 3600)


def test_ninety_percent_does_not_fire(store):
    """Peak RSS exactly 90 % is not under-provisioned."""
    at_limit = 16 * GIB * 9 // 10  # the last byte count that is 90 % or less
    does_not_fire(store, cpu_run(store, "m5.xlarge", 16, at_limit, GIB),
                  "memory_underprovisioned")


def test_host_with_room_left_does_not_fire(store):
    """RSS over 90 % while the host still had 10 % available (shared pages counted twice)."""
    does_not_fire(store, cpu_run(store, "m5.xlarge", 16, int(0.95 * 16 * GIB),
                                 int(1.6 * GIB) + 1), "memory_underprovisioned")


def _exact_peak(store, run_id: str, peak: int) -> str:
    """The run's host summary with the agent's exact largest-process peak (VmHWM)."""
    h = schema.run_hosts
    with store.write() as conn:
        conn.execute(sa.update(h).where(h.c.run_id == run_id).values(
            summary={"rss_peak_process_bytes": peak}))
    return run_id


def test_exact_peak_between_samples_counts(store):
    """Samples saw 50 % of m5.xlarge's 16 GiB, but the run's largest process peaked at 95 %
    between two samples (its kernel high-water mark): under-provisioned, on that peak."""
    run_id = _exact_peak(store, cpu_run(store, "m5.xlarge", 16, 8 * GIB, GIB),
                         int(0.95 * 16 * GIB))
    rec = fires_once(store, run_id, "memory_underprovisioned")
    assert rec.evidence["rss_peak_bytes"] == int(0.95 * 16 * GIB)


def test_exact_peak_stops_over_provisioning_advice(store):
    """Samples saw 20 % of r5.2xlarge's 64 GiB, the exact peak was 40 %: no smaller machine."""
    run_id = _exact_peak(store, cpu_run(store, "r5.2xlarge", 64, int(0.2 * 64 * GIB)),
                         int(0.4 * 64 * GIB))
    does_not_fire(store, run_id, "memory_overprovisioned")
