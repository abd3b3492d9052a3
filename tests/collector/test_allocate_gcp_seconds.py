"""GCP's detailed export states usage in seconds: an hour row of a VM that ran 600 s bills
those 600 s, so a run covering them pays all of it and nothing of that hour is idle."""

from __future__ import annotations

from decimal import Decimal

from tests.collector.billing_helpers import conservation_errors, idle_amount, run_amount, run_on
from tests.collector.helpers import utc
from tests.collector.test_billing_gcp import (
    INSTANCE_ID,
    TABLE,
    BigQueryAdapter,
    _client,
    export_rows,
)
from xprof.collector.allocate import allocate_store
from xprof.collector.billing.gcp_bigquery import import_bigquery

# A2 with 12 vCPUs and one A100 that ran 600 s of 10:00-11:00: vCPU-seconds, byte-seconds
# and GPU-seconds, $0.7098 in all (the figures)
PARTIAL = [("CF4E-A0C7-E3BF", "0.1741", "7200", "seconds"),
           ("5E59-7C3B-0E5A", "0.0467", "52792864358400", "byte-seconds"),
           ("039F-D0DA-4055", "0.4890", "600", "seconds")]


def _partial_hour() -> list[dict]:
    template = export_rows()[0]
    return [dict(template, sku_id=sku, cost=cost, cost_at_list=cost, usage_amount=amount,
                 usage_unit=unit, credits="0")
            for sku, cost, amount, unit in PARTIAL]


def test_a_run_covering_the_seconds_a_vm_ran_pays_all_of_them(store):
    """The run 10:00-10:10 on the VM that ran 600 s of the hour pays $0.7098, not $0.1183
    with $0.5915 idle."""
    run = run_on(store, INSTANCE_ID, utc(2024, 9, 10, 10), 600, provider="gcp",
                 instance_type="a2-highgpu-1g", gpu_count=1, gpus_used=[0],
                 cloud={"source": "imds", "resource_id": INSTANCE_ID})
    import_bigquery(store, TABLE, client=_client(BigQueryAdapter(_partial_hour())),
                    now=utc(2024, 9, 11))
    allocate_store(store)
    assert run_amount(store, run) == Decimal("0.7098")
    assert idle_amount(store, INSTANCE_ID) == 0
    assert conservation_errors(store) == []


def test_a_run_covering_half_the_seconds_pays_half(store):
    """A run of the first 300 of those 600 s pays half the hour's bill; the rest is idle."""
    run = run_on(store, INSTANCE_ID, utc(2024, 9, 10, 10), 300, provider="gcp",
                 instance_type="a2-highgpu-1g", gpu_count=1, gpus_used=[0],
                 cloud={"source": "imds", "resource_id": INSTANCE_ID})
    import_bigquery(store, TABLE, client=_client(BigQueryAdapter(_partial_hour())),
                    now=utc(2024, 9, 11))
    allocate_store(store)
    assert run_amount(store, run) == Decimal("0.3549")
    assert idle_amount(store, INSTANCE_ID) == Decimal("0.3549")
