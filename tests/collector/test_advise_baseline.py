"""Savings are against what the run was charged: the whole machine when the run was alone on
it (a lone run on 1 of 4 GPUs paid for 4), its share when another run shared the machine, and
billed cost once billing has arrived."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from tests.collector.advise_seed import (
    GIB,
    START,
    T4,
    does_not_fire,
    fires_once,
    gpu_row,
    seed_run,
)
from xprof import schema
from xprof.collector.estimate import estimate_run
from xprof.store import utcnow


def on_gpu(index: int, busy_others: bool = False):
    def row(k: int, i: int, t: float) -> dict:
        if i == index:
            return gpu_row(20.0, 2 * GIB, T4[1], 2 * GIB, True)
        return gpu_row(60.0 if busy_others else 0.0, 6 * GIB if busy_others else 0, T4[1], 0,
                       False)
    return row


def test_lone_run_saves_against_the_whole_machine(store):
    """Estimated at a quarter of g4dn.12xlarge, a lone run still paid for all of it: the
    saving of g4dn.xlarge is $3.912 - $0.526, not $0.978 - $0.526."""
    run = seed_run(store, gpu_fn=on_gpu(0))
    assert estimate_run(store, run).amount == Decimal("0.978")
    rec = fires_once(store, run, "gpu_underused")
    assert rec.saving_per_run == Decimal("3.386")
    assert rec.evidence["charged"] == {"amount": "3.912", "source": "estimate", "share": 1.0,
                                       "lifecycle": "on-demand"}


def test_shared_machine_saves_against_the_share(store):
    """With another run on GPUs 1-3 of the same instance at the same time, the run paid its
    quarter: the saving is $0.978 - $0.526, and no GPU counts as idle."""
    seed_run(store, instance_id="i-0shared", gpu_fn=on_gpu(1), samples=3,
             started_at=START - dt.timedelta(minutes=5))
    run = seed_run(store, instance_id="i-0shared", gpu_fn=on_gpu(0, busy_others=True))
    rec = fires_once(store, run, "gpu_underused")
    assert rec.saving_per_run == Decimal("0.978") - Decimal("0.526")
    assert rec.evidence["charged"]["share"] == 0.25
    does_not_fire(store, run, "idle_gpus")


def test_billed_cost_replaces_the_estimate(store):
    """A billed $0.80 for the run's quarter means the machine cost $3.20: saving $2.674."""
    run = seed_run(store, gpu_fn=on_gpu(0))
    estimate_run(store, run)
    with store.write() as conn:
        conn.execute(schema.costs.insert().values(
            kind="run", run_id=run, resource_id="i-0x", source="billed", basis="billed",
            period_start=START, period_end=START + dt.timedelta(hours=1),
            amount=Decimal("0.80"), currency="USD", upper_bound=False,
            detail={"share": "1/4"}, computed_at=utcnow()))
    rec = fires_once(store, run, "idle_gpus")
    assert rec.saving_per_run == Decimal("3.20") - Decimal("0.526")
    assert rec.evidence["charged"]["source"] == "billed"


def test_spot_run_is_sized_at_spot_prices(store):
    """A spot run on 1 of 4 GPUs in us-west-2 compares spot with spot: $1.5648 - $0.24722."""
    run = seed_run(store, region="us-west-2", lifecycle="spot", gpu_fn=on_gpu(0))
    rec = fires_once(store, run, "idle_gpus")
    assert (rec.suggested_instance, rec.saving_per_run) == (
        "g4dn.xlarge", Decimal("1.5648") - Decimal("0.24722"))


def test_off_cloud_machine_is_compared_with_its_cloud_equivalent(store):
    """A workstation with 2 T4s (priced as its equivalent, g4dn.12xlarge × 2/4 GPUs) that
    used one: the advice names g4dn.xlarge and saves against the equivalent's price."""
    run = seed_run(store, provider="none", instance_type=None, region=None, lifecycle=None,
                   gpu_count=2, cpu_count=16, memory_gib=64, gpu_fn=on_gpu(0))
    rec = fires_once(store, run, "idle_gpus")
    assert (rec.current_instance, rec.suggested_instance) == ("g4dn.12xlarge × 1/2",
                                                              "g4dn.xlarge")
    assert rec.evidence["current_is_equivalent"] is True
    assert rec.saving_per_run == Decimal("3.912") * 2 / 4 - Decimal("0.526")
