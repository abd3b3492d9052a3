"""Abandoned spend: billed idle hours (costs rows of kind idle) on a resource no run ever used
give one stored recommendation per resource, with the monthly cost of leaving it on."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from tests.collector.advise_seed import START, seed_run, stored
from xprof import schema
from xprof.collector.advise import advise_abandoned, advise_runs
from xprof.store import utcnow


def idle_rows(store, resource: str, hours: list[tuple[float, str]],
              basis: str = "billed") -> None:
    """Idle cost rows for ``resource``: (hours, amount) back to back from START."""
    rows, at = [], START
    for length, amount in hours:
        end = at + dt.timedelta(hours=length)
        rows.append({"kind": "idle", "run_id": None, "resource_id": resource,
                     "source": "billed", "basis": basis, "period_start": at,
                     "period_end": end, "amount": Decimal(amount), "currency": "USD",
                     "upper_bound": False, "detail": {"allocation": "idle"},
                     "computed_at": utcnow()})
        at = end
    with store.write() as conn:
        conn.execute(schema.costs.insert(), rows)


def test_one_idle_hour_fires_once(store):
    """Exactly one idle hour (the minimum) fires once."""
    idle_rows(store, "i-0abandoned", [(1, "3.06")])
    [rec] = advise_abandoned(store)
    assert (rec.resource_id, rec.saving_per_month) == ("i-0abandoned", Decimal("3.06") * 720)
    assert len(stored(store)) == 1


def test_idle_hours_are_summed_per_resource(store):
    """Three idle hours at $3.06 on a resource without runs: one recommendation naming it,
    $9.18 billed, $3.06 x 720 h a month."""
    idle_rows(store, "i-0abandoned", [(1, "3.06"), (1, "3.06"), (1, "3.06")])
    idle_rows(store, "i-0abandoned", [(1, "3.06")], basis="list")  # another basis: not summed
    [rec] = advise_abandoned(store)
    assert (rec.rule, rec.resource_id, rec.severity) == ("abandoned_spend", "i-0abandoned",
                                                          "high")
    assert rec.evidence["idle_amount"] == "9.18"
    assert rec.saving_per_month == Decimal("3.06") * 720
    assert rec.saving_per_run is None
    [row] = stored(store)
    assert (row["run_id"], row["resource_id"], row["status"]) == (None, "i-0abandoned", "open")


def test_just_under_an_hour_does_not_fire(store):
    """59 idle minutes is under the one-hour minimum."""
    idle_rows(store, "i-0brief", [(59 / 60, "3.00")])
    assert advise_abandoned(store) == []
    assert stored(store) == []


def test_a_resource_with_a_run_is_not_abandoned(store):
    """Idle hours on an instance a run used are idle cost, not abandoned spend."""
    seed_run(store, instance_id="i-0used", duration_s=600, samples=3)
    idle_rows(store, "i-0used", [(5, "15.00")])
    assert advise_abandoned(store) == []


def test_recomputing_keeps_a_dismissal_and_one_row(store):
    """Advising twice keeps one row per resource and its dismissed status."""
    idle_rows(store, "i-0abandoned", [(2, "1.00")])
    advise_abandoned(store)
    with store.write() as conn:
        conn.execute(schema.recommendations.update().values(status="dismissed"))
    [rec] = advise_runs(store, []).abandoned
    assert rec.status == "dismissed"
    assert [(r["resource_id"], r["status"]) for r in stored(store)] == [
        ("i-0abandoned", "dismissed")]


def test_a_resource_known_by_its_arn_is_not_abandoned(store):
    """A run recorded with an EC2 ARN, or with an Azure id in other case as its cloud
    resource id, matches idle rows keyed the way billing allocation keys them."""
    seed_run(store, instance_id="arn:aws:ec2:us-east-1:123456789012:instance/i-0arn",
             duration_s=600, samples=3)
    azure = seed_run(store, provider="azure", instance_type=None, region=None,
                     duration_s=600, samples=3)
    with store.write() as conn:
        conn.execute(schema.runs.update().where(schema.runs.c.id == azure).values(
            cloud={"resource_id": "/subscriptions/ABC/resourceGroups/RG/providers/"
                                  "Microsoft.Compute/virtualMachines/VM1"}))
    idle_rows(store, "i-0arn", [(5, "15.00")])
    idle_rows(store, "/subscriptions/abc/resourcegroups/rg/providers/microsoft.compute/"
                     "virtualmachines/vm1", [(5, "15.00")])
    assert advise_abandoned(store) == []
