"""Spot runs use the spot price; with no spot price in the catalog they are priced at
on-demand and marked as an upper bound."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from tests.collector.helpers import GIB, gpu_hardware, make_run, utc
from xprof import schema
from xprof.collector.estimate import estimate_run
from xprof.settings import Settings

NO_CONFIG = Settings(env={}, config={})
V100 = gpu_hardware("Tesla V100-SXM2-16GB", 1, 16 * GIB, [0], 8, 61)


def _run(store, region, lifecycle):
    return make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=3600, hardware=V100,
                    provider="aws", instance_type="p3.2xlarge", region=region,
                    lifecycle=lifecycle)


def test_spot_and_on_demand_runs_differ_by_the_catalog_prices(store):
    """In us-west-2 the same hour costs $0.8568 spot and $3.06 on-demand."""
    spot = estimate_run(store, _run(store, "us-west-2", "spot"), NO_CONFIG)
    on_demand = estimate_run(store, _run(store, "us-west-2", "on-demand"), NO_CONFIG)
    assert spot.amount == Decimal("0.8568") and spot.upper_bound is False
    assert on_demand.amount == Decimal("3.06")
    assert spot.summary_line() == ("est. $0.86 (p3.2xlarge spot, us-west-2, $0.86/h, 1h, price "
                                   "as of 2024-04-04, stale: `xprof prices update --provider aws`)")


def test_spot_without_a_spot_price_is_an_on_demand_upper_bound(store):
    """us-east-1 has no spot price: the run costs at most on-demand, and the row says so."""
    run_id = _run(store, "us-east-1", "spot")
    estimate = estimate_run(store, run_id, NO_CONFIG)
    assert estimate.amount == Decimal("3.06") and estimate.upper_bound is True
    assert estimate.summary_line() == \
        "est. ≤ $3.06 (p3.2xlarge spot priced at on-demand, us-east-1, $3.06/h, 1h)"
    with store.read() as conn:
        row = conn.execute(sa.select(schema.costs).where(
            schema.costs.c.run_id == run_id)).mappings().one()
    assert row["upper_bound"] is True and row["amount"] == Decimal("3.06")
    assert row["detail"]["lifecycle"] == "spot"
