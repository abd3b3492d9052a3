"""Shared checks of the billing tests: conservation read back from the store, cost look-ups,
and runs shaped like the agent's on a given instance."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.collector.helpers import GIB, cpu_hardware, gpu_hardware, make_run
from xprof import schema
from xprof.collector.billing.normalise import resource_key
from xprof.store import Store

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FOCUS_SAMPLE = FIXTURES / "focus" / "focus_1.0_sample.csv"
BILLED = ("billed", "billed-partial")


def run_on(store: Store, instance_id: str, start: dt.datetime, seconds: float, *,
           gpus_used: list[int] | None = None, gpu_count: int = 0, provider: str = "aws",
           instance_type: str = "p4d.24xlarge", cloud: dict[str, Any] | None = None,
           status: str = "finished") -> str:
    """A finished run on ``instance_id`` (a GPU machine when ``gpu_count``), via create_run."""
    if gpu_count:
        hw = gpu_hardware("NVIDIA A100-SXM4-40GB", gpu_count, 40 * GIB, gpus_used, 96, 1152)
    else:
        hw = cpu_hardware(8, 32 * GIB)
    run_id = make_run(store, started_at=start, duration_s=seconds, hardware=hw,
                      provider=provider, instance_type=instance_type, region="us-east-1",
                      instance_id=instance_id, status=status)
    if cloud is not None:
        with store.write() as conn:
            conn.execute(schema.runs.update().where(schema.runs.c.id == run_id)
                         .values(cloud=cloud))
    return run_id


def billed_costs(store: Store, *, basis: str = "billed") -> list[dict[str, Any]]:
    """Every billed cost row (run and idle) of ``basis``."""
    c = schema.costs
    with store.read() as conn:
        return [dict(r) for r in conn.execute(
            sa.select(c).where(c.c.source.in_(BILLED), c.c.basis == basis)
            .order_by(c.c.id)).mappings()]


def run_amount(store: Store, run_id: str, basis: str = "billed") -> Decimal:
    """Σ of a run's billed rows of ``basis`` (complete or partial)."""
    return sum((r["amount"] for r in billed_costs(store, basis=basis) if r["run_id"] == run_id),
               Decimal(0))


def idle_amount(store: Store, key: str, basis: str = "billed") -> Decimal:
    return sum((r["amount"] for r in billed_costs(store, basis=basis)
                if r["kind"] == "idle" and r["resource_id"] == key), Decimal(0))


def _rank(source: str) -> int:
    """Which export wins for one resource and period: CUR, then files/Azure/BigQuery, then CE."""
    order = (("aws-cur:",), ("focus:", "azure:", "gcp-bq:"), ("aws-ce:",))
    return next((i for i, prefixes in enumerate(order) if source.startswith(prefixes)), 3)


def conservation_errors(store: Store) -> list[str]:
    """Every (resource, day, currency, basis) whose run shares + idle differ from the bill.

    The bill is summed here from ``billing_items`` (per resource and charge period, the best
    source: CUR, then exports, then Cost Explorer), not taken from the allocation: an
    independent read of what was imported.
    """
    c, bi = schema.costs, schema.billing_items
    with store.read() as conn:
        costs = [dict(r) for r in conn.execute(
            sa.select(c).where(c.c.source.in_(BILLED))).mappings()]
        items = [dict(r) for r in conn.execute(sa.select(bi)).mappings()]
    allocated: dict[tuple, Decimal] = defaultdict(Decimal)
    source_of: dict[tuple, str] = {}
    for row in costs:
        key = (row["resource_id"], row["detail"]["day"], row["currency"], row["basis"])
        allocated[key] += row["amount"]
        source_of[key[:3]] = row["detail"]["billing_source"]
    bills: dict[tuple, Decimal] = defaultdict(Decimal)
    column = {"billed": "billed_cost", "list": "list_cost", "effective": "effective_cost"}
    best: dict[tuple, tuple] = {}  # (key, start, end) -> best (rank, source) billing it
    for item in items:
        period = (resource_key(item["resource_id"]), item["charge_period_start"],
                  item["charge_period_end"])
        ranked = (_rank(item["source"]), item["source"])
        best[period] = min(best.get(period, ranked), ranked)
    for item in items:
        group = (resource_key(item["resource_id"]),
                 item["charge_period_start"].date().isoformat(), item["currency"])
        period = (group[0], item["charge_period_start"], item["charge_period_end"])
        if group not in source_of or best[period][1] != item["source"]:
            continue
        for basis, name in column.items():
            if item[name] is not None:
                bills[(*group, basis)] += item[name]
    errors = []
    for key in sorted(set(allocated) | set(bills)):
        if key[:3] not in source_of:
            continue
        if allocated.get(key, Decimal(0)) != bills.get(key, Decimal(0)):
            errors.append(f"{key}: allocated {allocated.get(key)} != billed {bills.get(key)}")
    return errors


def item_count(store: Store) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(schema.billing_items)).scalar()


FOCUS_HEADER = ("BilledCost", "ListCost", "EffectiveCost", "BillingCurrency", "ChargePeriodStart",
                "ChargePeriodEnd", "ChargeCategory", "ChargeClass", "ResourceId",
                "ConsumedQuantity", "ConsumedUnit", "ProviderName", "ServiceName",
                "ChargeDescription", "SkuId", "SubAccountId")


def focus_row(resource_id: str | None, start: dt.datetime, cost: str, *, hours: int = 1,
              quantity: str | None = "1", unit: str = "Hours", category: str = "Usage",
              currency: str = "USD", list_cost: str | None = None,
              effective: str | None = None, description: str = "p4d.24xlarge Instance Hour",
              sku: str = "BoxUsage:p4d.24xlarge") -> dict[str, str]:
    """One FOCUS row as an AWS export writes it (zone-less times, NULL for nothing)."""
    end = start + dt.timedelta(hours=hours)
    return {"BilledCost": cost, "ListCost": list_cost if list_cost is not None else cost,
            "EffectiveCost": effective if effective is not None else cost,
            "BillingCurrency": currency,
            "ChargePeriodStart": start.strftime("%Y-%m-%d %H:%M:%S"),
            "ChargePeriodEnd": end.strftime("%Y-%m-%d %H:%M:%S"),
            "ChargeCategory": category, "ChargeClass": "NULL",
            "ResourceId": resource_id or "NULL", "ConsumedQuantity": quantity or "NULL",
            "ConsumedUnit": unit, "ProviderName": "AWS",
            "ServiceName": "Amazon Elastic Compute Cloud", "ChargeDescription": description,
            "SkuId": sku, "SubAccountId": "123456789012"}


def write_focus(path: Path, rows: list[dict[str, str]]) -> Path:
    """A FOCUS CSV file of ``rows`` (every column of :data:`FOCUS_HEADER`)."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FOCUS_HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return path


def hourly(resource_id: str, start: dt.datetime, hours: int, cost: str,
           **kwargs: Any) -> list[dict[str, str]]:
    """``hours`` consecutive instance-hour rows of ``cost`` each."""
    return [focus_row(resource_id, start + dt.timedelta(hours=h), cost, **kwargs)
            for h in range(hours)]
