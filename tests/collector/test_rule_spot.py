"""Spot candidate: on-demand runs shorter than 4 hours get the same instance on spot, saved
at the catalog's spot price."""

from __future__ import annotations

from tests.collector.advise_seed import (
    GIB,
    T4,
    does_not_fire,
    fires_once,
    gpu_row,
    hours_cost,
    seed_run,
)


def oregon_run(store, duration_s: float, lifecycle: str = "on-demand") -> str:
    """A busy g4dn.xlarge run in us-west-2 ($0.526 on-demand, $0.24722 spot)."""
    return seed_run(store, instance_type="g4dn.xlarge", region="us-west-2", gpu_count=1,
                    cpu_count=4, memory_gib=16, duration_s=duration_s, interval_s=30,
                    lifecycle=lifecycle,
                    gpu_fn=lambda k, i, t: gpu_row(95.0, 10 * GIB, T4[1], 10 * GIB, True))


def test_run_just_under_four_hours_fires(store):
    """A 3 h 59 m 59 s on-demand run: fires once, the same type on spot, saving the price
    difference over its duration."""
    duration = 4 * 3600 - 1
    rec = fires_once(store, oregon_run(store, duration), "spot_candidate")
    assert (rec.current_instance, rec.suggested_instance) == ("g4dn.xlarge", "g4dn.xlarge")
    assert rec.evidence["lifecycle"] == "spot"
    assert rec.saving_per_run == hours_cost("0.526", duration) - hours_cost("0.24722", duration)
    assert rec.severity == "high"  # 53 % of what it paid


def test_four_hour_run_does_not_fire(store):
    """A run of exactly 4 hours is too long to call a spot candidate."""
    does_not_fire(store, oregon_run(store, 4 * 3600), "spot_candidate")


def test_spot_run_does_not_fire(store):
    """A run already on spot gets no spot advice."""
    does_not_fire(store, oregon_run(store, 3600, lifecycle="spot"), "spot_candidate")


def test_region_without_spot_prices_does_not_fire(store):
    """Where the catalog has no spot price (us-east-1 here), there is no spot advice."""
    run = seed_run(store, instance_type="g4dn.xlarge", gpu_count=1, cpu_count=4, memory_gib=16,
                   gpu_fn=lambda k, i, t: gpu_row(95.0, 10 * GIB, T4[1], 10 * GIB, True))
    does_not_fire(store, run, "spot_candidate")
