"""A CUR written from known runs: three instances, their line items, and the allocation the
cost model must give (computed here from the scenario, by hand-written arithmetic).

Instance A (p4d.24xlarge, 8 GPUs, $32.7726/h on demand), 08:00-13:00 on 2024-09-10; the last
hour it ran only 30 minutes (usage 0.5 Hrs). Data transfer ($0.90) at 09:00, a credit
(-$5.00) at 10:00. Run 1 on GPUs 0-3 08:00-10:30; run 2 on GPUs 4-7 09:00-12:30.
Instance B (m5.2xlarge) 10:00-12:00 covered by a Savings Plan (billed 0 after the negation,
effective $1.95/h, list $3.06/h); run 3 (CPU) 10:00-11:30. Instance C: a day at $0.096/h with
no run (idle). A tax line has no resource.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.collector.billing_helpers import run_on
from tests.collector.helpers import utc
from xprof.store import Store

A, B, C = "i-0c0a1b2c3d4e5f6a1", "i-0c0a1b2c3d4e5f6b2", "i-0c0a1b2c3d4e5f6c3"
ACCOUNT = "123456789012"
P4D = Decimal("32.7726")
DAY = utc(2024, 9, 10)


def _hour(h: int) -> dt.datetime:
    return DAY + dt.timedelta(hours=h)


def line_items() -> list[dict[str, Any]]:
    """The scenario's line items in CUR 2.0 names (values as Python objects)."""
    items = []

    def add(kind: str, resource: str | None, hour: int, cost: Decimal, *, usage_type: str,
            amount: float, unit: str, itype: str | None, public: Decimal | None = None,
            sp_effective: Decimal | None = None, hours: int = 1,
            description: str = "") -> None:
        start, end = _hour(hour), _hour(hour + hours)
        items.append({
            "identity_line_item_id": uuid.uuid5(uuid.NAMESPACE_OID,
                                                f"{kind}{resource}{hour}{usage_type}").hex,
            "identity_time_interval": f"{start:%Y-%m-%dT%H:%M:%SZ}/{end:%Y-%m-%dT%H:%M:%SZ}",
            "bill_billing_period_start_date": utc(2024, 9, 1),
            "line_item_line_item_type": kind,
            "line_item_usage_start_date": start, "line_item_usage_end_date": end,
            "line_item_resource_id": resource, "line_item_usage_account_id": ACCOUNT,
            "line_item_product_code": "AmazonEC2", "line_item_usage_type": usage_type,
            "line_item_operation": "RunInstances",
            "line_item_line_item_description": description or f"{kind} {usage_type}",
            "line_item_usage_amount": amount, "line_item_currency_code": "USD",
            "line_item_unblended_cost": cost,
            "pricing_public_on_demand_cost": cost if public is None else public,
            "pricing_unit": unit, "pricing_term": "OnDemand",
            "product_instance_type": itype, "product_region_code": "us-east-1",
            "savings_plan_savings_plan_effective_cost": sp_effective,
            "savings_plan_savings_plan_a_r_n": (
                f"arn:aws:savingsplans::{ACCOUNT}:savingsplan/0f6c" if sp_effective is not None
                else None),
            "reservation_effective_cost": None,
        })

    for h in range(8, 12):
        add("Usage", A, h, P4D, usage_type="USE1-BoxUsage:p4d.24xlarge", amount=1.0,
            unit="Hrs", itype="p4d.24xlarge")
    add("Usage", A, 12, P4D / 2, usage_type="USE1-BoxUsage:p4d.24xlarge", amount=0.5,
        unit="Hrs", itype="p4d.24xlarge")
    add("Usage", A, 9, Decimal("0.90"), usage_type="USE1-DataTransfer-Out-Bytes", amount=10.0,
        unit="GB", itype=None)
    add("Credit", A, 10, Decimal("-5.00"), usage_type="USE1-BoxUsage:p4d.24xlarge", amount=0.0,
        unit="Hrs", itype="p4d.24xlarge", public=Decimal(0), description="AWS credits")
    for h in (10, 11):
        add("SavingsPlanCoveredUsage", B, h, Decimal("3.06"),
            usage_type="USE1-BoxUsage:m5.2xlarge", amount=1.0, unit="Hrs", itype="m5.2xlarge",
            sp_effective=Decimal("1.95"))
        add("SavingsPlanNegation", B, h, Decimal("-3.06"),
            usage_type="USE1-BoxUsage:m5.2xlarge", amount=0.0, unit="Hrs", itype="m5.2xlarge",
            public=Decimal(0))
    for h in range(24):
        add("Usage", C, h, Decimal("0.096"), usage_type="USE1-BoxUsage:m5.large", amount=1.0,
            unit="Hrs", itype="m5.large")
    add("Tax", None, 0, Decimal("2.34"), usage_type="Tax", amount=0.0, unit="", itype=None,
        hours=24 * 30)
    return items


def make_runs(store: Store) -> dict[str, str]:
    """The scenario's three runs, created through the store."""
    return {
        "run1": run_on(store, A, _hour(8), 2.5 * 3600, gpu_count=8, gpus_used=[0, 1, 2, 3]),
        "run2": run_on(store, A, _hour(9), 3.5 * 3600, gpu_count=8, gpus_used=[4, 5, 6, 7]),
        "run3": run_on(store, B, _hour(10), 1.5 * 3600, instance_type="m5.2xlarge"),
    }


def expected() -> dict[str, dict[str, Decimal]]:
    """What each run and each instance's idle must be, per basis (hand-worked)."""
    half = P4D / 2
    run1 = half + (P4D + Decimal("0.90")) / 2 + (P4D - 5) / 4
    run2 = (P4D + Decimal("0.90")) / 2 + (P4D - 5) / 2 + half + (P4D / 2) / 2
    bill_a = 4 * P4D + P4D / 2 + Decimal("0.90") - 5
    list_a = bill_a + 5  # the credit has no list cost
    return {
        "run1": {"billed": run1, "list": half + (P4D + Decimal("0.90")) / 2 + P4D / 4,
                 "effective": run1},
        "run2": {"billed": run2,
                 "list": (P4D + Decimal("0.90")) / 2 + P4D / 2 + half + P4D / 4,
                 "effective": run2},
        "run3": {"billed": Decimal(0), "list": Decimal("3.06") * Decimal("1.5"),
                 "effective": Decimal("1.95") * Decimal("1.5")},
        "idle_A": {"billed": bill_a - run1 - run2},
        "idle_A_list": {"list": list_a - (half + (P4D + Decimal("0.90")) / 2 + P4D / 4)
                        - ((P4D + Decimal("0.90")) / 2 + P4D / 2 + half + P4D / 4)},
        "idle_B": {"billed": Decimal(0), "effective": Decimal("1.95") * Decimal("0.5")},
        "idle_C": {"billed": Decimal("0.096") * 24},
    }


def write_parquet(folder: Path, items: list[dict[str, Any]], files: int = 2) -> list[Path]:
    """CUR 2.0 (Data Exports) Parquet files: doubles for money, timestamps, map columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    money = ("line_item_unblended_cost", "pricing_public_on_demand_cost",
             "savings_plan_savings_plan_effective_cost", "reservation_effective_cost")
    paths = []
    for n in range(files):
        part = items[n::files]
        columns: dict[str, Any] = {}
        for name in part[0]:
            values = [row[name] for row in part]
            if name in money:
                columns[name] = pa.array([None if v is None else float(v) for v in values],
                                         pa.float64())
            elif isinstance(values[0], dt.datetime):
                columns[name] = pa.array([v.replace(tzinfo=None) for v in values],
                                         pa.timestamp("ms"))
            elif name == "line_item_usage_amount":
                columns[name] = pa.array(values, pa.float64())
            else:
                columns[name] = pa.array(values, pa.string())
        columns["product"] = pa.array([[("servicecode", "AmazonEC2")]] * len(part),
                                      pa.map_(pa.string(), pa.string()))
        columns["resource_tags"] = pa.array([[("user_team", "ml")]] * len(part),
                                            pa.map_(pa.string(), pa.string()))
        path = folder / f"xprof-cur-{n + 1:05d}.snappy.parquet"
        pq.write_table(pa.table(columns), path, compression="snappy")
        paths.append(path)
    return paths


LEGACY_NAMES = {
    "identity_line_item_id": "identity/LineItemId",
    "identity_time_interval": "identity/TimeInterval",
    "bill_billing_period_start_date": "bill/BillingPeriodStartDate",
    "line_item_line_item_type": "lineItem/LineItemType",
    "line_item_usage_start_date": "lineItem/UsageStartDate",
    "line_item_usage_end_date": "lineItem/UsageEndDate",
    "line_item_resource_id": "lineItem/ResourceId",
    "line_item_usage_account_id": "lineItem/UsageAccountId",
    "line_item_product_code": "lineItem/ProductCode",
    "line_item_usage_type": "lineItem/UsageType",
    "line_item_operation": "lineItem/Operation",
    "line_item_line_item_description": "lineItem/LineItemDescription",
    "line_item_usage_amount": "lineItem/UsageAmount",
    "line_item_currency_code": "lineItem/CurrencyCode",
    "line_item_unblended_cost": "lineItem/UnblendedCost",
    "pricing_public_on_demand_cost": "pricing/publicOnDemandCost",
    "pricing_unit": "pricing/unit",
    "pricing_term": "pricing/term",
    "product_instance_type": "product/instanceType",
    "product_region_code": "product/region",
    "savings_plan_savings_plan_effective_cost": "savingsPlan/SavingsPlanEffectiveCost",
    "savings_plan_savings_plan_a_r_n": "savingsPlan/SavingsPlanARN",
    "reservation_effective_cost": "reservation/EffectiveCost",
}


def write_legacy_csv(path: Path, items: list[dict[str, Any]]) -> Path:
    """A legacy CUR gzip CSV: ``category/Column`` headers, ISO times with Z, blank nulls."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([*LEGACY_NAMES.values(), "resourceTags/user:team"])
        for row in items:
            out = []
            for name in LEGACY_NAMES:
                value = row[name]
                if isinstance(value, dt.datetime):
                    value = value.strftime("%Y-%m-%dT%H:%M:%SZ")
                out.append("" if value is None else str(value))
            writer.writerow([*out, "ml"])
    return path
