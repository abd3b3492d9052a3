"""AWS Cost Explorer: hourly cost of the runs' EC2 instances, and the account's totals.

``GetCostAndUsageWithResources`` (resource-level, hourly data must be enabled in the Cost
Explorer settings; it reaches back 14 days) is asked for the hours since the last import (less
72 hours, because recent hours are estimates that AWS revises), filtered to the service
"Amazon Elastic Compute Cloud - Compute" and to the instance ids of runs in that window, many
ids per call, grouped by RESOURCE_ID and USAGE_TYPE, following ``NextPageToken``. The answer
replaces what was imported for those instances and hours. ``GetCostAndUsage`` gives the
account's total for the same days, for the summary.

Metrics: UnblendedCost (billed), AmortizedCost (effective), UsageQuantity (hours for
``BoxUsage`` usage types). Amounts arrive as strings and are read as decimals. Cost Explorer
is not a full export: it cannot show instances that no run used.

Throttling (``ThrottlingException``, ``LimitExceededException``, …) is retried with
exponential backoff. Each request costs $0.01, so instances are batched and nothing is asked
when no run needs it. boto3 is imported here only (extra ``xprof[aws]``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from xprof.collector.billing import BillingSourceError
from xprof.collector.billing.normalise import Column, Normaliser, Spec
from xprof.collector.billing.store_items import ImportResult, Scope, read_cursor, write_items
from xprof.store import Store, utcnow

KIND = "aws-ce"
SOURCE = "aws-ce:cost-explorer"
SERVICE = "Amazon Elastic Compute Cloud - Compute"
METRICS = ("UnblendedCost", "AmortizedCost", "UsageQuantity")
THROTTLING = frozenset({"ThrottlingException", "Throttling", "LimitExceededException",
                        "TooManyRequestsException", "RequestLimitExceeded"})
MAX_DAYS = 14
RESTATE_HOURS = 72
IDS_PER_CALL = 100

_HOURLY = "regexp_matches(coalesce(\"USAGE_TYPE\", ''), '(BoxUsage|SpotUsage|DedicatedUsage)')"
SPEC = Spec(
    name="Cost Explorer",
    columns={"RESOURCE_ID": Column("text", required=True), "USAGE_TYPE": Column("text"),
             "TimePeriod.Start": Column("time", required=True, not_null=True),
             "TimePeriod.End": Column("time", required=True, not_null=True),
             "UnblendedCost.Amount": Column("money", required=True, not_null=True),
             "UnblendedCost.Unit": Column("currency", required=True, not_null=True),
             "AmortizedCost.Amount": Column("money"),
             "UsageQuantity.Amount": Column("number"), "UsageQuantity.Unit": Column("text")},
    fields={"provider": "'aws'", "resource_id": '"RESOURCE_ID"', "service": "'AmazonEC2'",
            "sku": '"USAGE_TYPE"', "charge_category": "'usage'",
            "period_start_us": '"TimePeriod.Start"', "period_end_us": '"TimePeriod.End"',
            "usage_quantity": '"UsageQuantity.Amount"',
            "usage_unit": f"CASE WHEN {_HOURLY} AND coalesce(\"UsageQuantity.Unit\", 'N/A') "
                          "IN ('N/A', '') THEN 'Hrs' ELSE \"UsageQuantity.Unit\" END",
            "instance_type": f"CASE WHEN {_HOURLY} THEN nullif(regexp_extract(\"USAGE_TYPE\", "
                             "':([a-z0-9-]+\\.[a-z0-9]+)$', 1), '') END",
            "billed_nanos": '"UnblendedCost.Amount"', "effective_nanos": '"AmortizedCost.Amount"',
            "currency": '"UnblendedCost.Unit"'},
    identity=('"RESOURCE_ID"', '"USAGE_TYPE"', '"TimePeriod.Start"', '"TimePeriod.End"'),
    field_columns={"period_start_us": "TimePeriod.Start", "period_end_us": "TimePeriod.End",
                   "billed_nanos": "UnblendedCost.Amount", "currency": "UnblendedCost.Unit"},
)
_ROW_COLUMNS = tuple(SPEC.columns)


def _is_throttling(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    return (response.get("Error") or {}).get("Code") in THROTTLING


def call_with_backoff(call: Callable[..., dict], kwargs: dict[str, Any], *,
                      sleep: Callable[[float], None] = time.sleep, attempts: int = 8,
                      base_s: float = 1.0, cap_s: float = 32.0) -> dict:
    """``call(**kwargs)``, retried with exponential backoff while AWS says it is throttling."""
    for attempt in range(attempts):
        try:
            return call(**kwargs)
        except Exception as exc:
            if not _is_throttling(exc) or attempt == attempts - 1:
                raise
            sleep(min(cap_s, base_s * 2 ** attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def pages(call: Callable[..., dict], kwargs: dict[str, Any], *,
          sleep: Callable[[float], None] = time.sleep) -> Iterator[dict]:
    """Every page of a Cost Explorer call, following ``NextPageToken``."""
    kwargs = dict(kwargs)
    while True:
        page = call_with_backoff(call, kwargs, sleep=sleep)
        yield page
        token = page.get("NextPageToken")
        if not token:
            return
        kwargs["NextPageToken"] = token


def _iso_hour(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resource_rows(client: Any, instance_ids: list[str], start: dt.datetime, end: dt.datetime,
                  *, sleep: Callable[[float], None] = time.sleep) -> list[dict[str, Any]]:
    """Hourly cost rows of ``instance_ids`` in [start, end), one per hour, id and usage type."""
    rows = []
    for i in range(0, len(instance_ids), IDS_PER_CALL):
        chunk = instance_ids[i:i + IDS_PER_CALL]
        kwargs = {
            "TimePeriod": {"Start": _iso_hour(start), "End": _iso_hour(end)},
            "Granularity": "HOURLY",
            "Filter": {"And": [{"Dimensions": {"Key": "SERVICE", "Values": [SERVICE]}},
                               {"Dimensions": {"Key": "RESOURCE_ID", "Values": chunk}}]},
            "Metrics": list(METRICS),
            "GroupBy": [{"Type": "DIMENSION", "Key": "RESOURCE_ID"},
                        {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
        }
        for page in pages(client.get_cost_and_usage_with_resources, kwargs, sleep=sleep):
            for result in page.get("ResultsByTime", []):
                period = result["TimePeriod"]
                for group in result.get("Groups", []):
                    keys = [*group.get("Keys", []), None, None]
                    metrics = group.get("Metrics", {})
                    unblended = metrics.get("UnblendedCost") or {}
                    quantity = metrics.get("UsageQuantity") or {}
                    rows.append({"RESOURCE_ID": keys[0], "USAGE_TYPE": keys[1],
                                 "TimePeriod.Start": period["Start"],
                                 "TimePeriod.End": period["End"],
                                 "UnblendedCost.Amount": unblended.get("Amount"),
                                 "UnblendedCost.Unit": unblended.get("Unit"),
                                 "AmortizedCost.Amount":
                                     (metrics.get("AmortizedCost") or {}).get("Amount"),
                                 "UsageQuantity.Amount": quantity.get("Amount"),
                                 "UsageQuantity.Unit": quantity.get("Unit"),
                                 "estimated": bool(result.get("Estimated"))})
    return rows


def account_totals(client: Any, start: dt.date, end: dt.date, *,
                   sleep: Callable[[float], None] = time.sleep) -> dict[str, Decimal]:
    """The account's unblended cost per currency for the days [start, end) (GetCostAndUsage)."""
    kwargs = {"TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
              "Granularity": "DAILY", "Metrics": ["UnblendedCost"]}
    totals: dict[str, Decimal] = {}
    for page in pages(client.get_cost_and_usage, kwargs, sleep=sleep):
        for result in page.get("ResultsByTime", []):
            metric = (result.get("Total") or {}).get("UnblendedCost")
            if metric and metric.get("Amount") is not None:
                unit = metric.get("Unit") or "USD"
                totals[unit] = totals.get(unit, Decimal(0)) + Decimal(metric["Amount"])
    return totals


def _explain(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    code = ((getattr(exc, "response", None) or {}).get("Error") or {}).get("Code")
    if code == "DataUnavailableException":
        text += (" (turn on hourly and resource-level data in the Cost Explorer settings, "
                 "then wait up to 48 hours)")
    elif code in ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation"):
        text += " (the credentials need ce:GetCostAndUsageWithResources and ce:GetCostAndUsage)"
    return text


def make_client() -> Any:
    """A Cost Explorer client with the default boto3 credentials (the API lives in us-east-1)."""
    import boto3  # optional cloud SDK (xprof[aws])

    return boto3.client("ce", region_name="us-east-1")


def _floor_hour(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def import_cost_explorer(store: Store, instance_spans: list[tuple[str, dt.datetime, dt.datetime]],
                         *, client: Any = None, now: dt.datetime | None = None,
                         sleep: Callable[[float], None] = time.sleep,
                         echo: Callable[[str], None] | None = None,
                         force: bool = False) -> ImportResult:
    """Import the hourly cost of the instances runs used (``(instance id, start, end)``).

    The window is the last 14 days, from the last import less 72 hours (all 14 days with
    ``force``), and only instances with a run in it are asked for.
    """
    now = now or utcnow()
    end = _floor_hour(now)
    start = end - dt.timedelta(days=MAX_DAYS) + dt.timedelta(hours=1)
    cursor = None if force else read_cursor(store, SOURCE)
    if cursor:
        start = max(start, dt.datetime.fromisoformat(cursor) - dt.timedelta(hours=RESTATE_HOURS))
    ids = sorted({iid for iid, s, e in instance_spans if iid.startswith("i-")
                  and e > start and s < end})
    result = ImportResult(source=SOURCE)
    if not ids or start >= end:
        result.extra["note"] = "no run on an EC2 instance in the last 14 days"
        return result
    start = max(start, _floor_hour(min(s for iid, s, e in instance_spans if iid in ids)))
    client = client or make_client()
    if echo:
        echo(f"billing: asking Cost Explorer for {len(ids)} instance(s), "
             f"{_iso_hour(start)} to {_iso_hour(end)}")
    try:
        rows = resource_rows(client, ids, start, end, sleep=sleep)
        totals = account_totals(client, start.date(), (end + dt.timedelta(days=1)).date(),
                                sleep=sleep)
    except Exception as exc:
        if type(exc).__module__.startswith(("botocore", "boto3")):
            raise BillingSourceError(f"AWS Cost Explorer: {_explain(exc)}") from exc
        raise
    normaliser = Normaliser(SPEC)
    try:
        normaliser.add_rows(rows, _ROW_COLUMNS,
                            label="Cost Explorer GetCostAndUsageWithResources")
        result = write_items(store, normaliser, "ce", source=SOURCE,
                             scope=Scope.window(start, end, resource_ids=ids),
                             import_key=SOURCE, cursor=end.isoformat())
    finally:
        normaliser.con.close()
    result.groups_read = 1
    result.extra = {"window": [start.isoformat(), end.isoformat()], "instances": len(ids),
                    "estimated_hours": sum(1 for r in rows if r["estimated"]),
                    "account_totals": {c: str(v) for c, v in sorted(totals.items())}}
    return result
