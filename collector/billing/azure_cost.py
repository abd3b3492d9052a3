"""Azure Cost Management: daily cost per resource through ``query.usage``.

Two queries over the same Custom timeframe, Daily granularity, grouped by ResourceId and
MeterCategory: ``ActualCost`` (billed) and ``AmortizedCost`` (effective, reservations and
savings plans spread over their use). Each sums ``Cost`` and ``UsageQuantity``; pages follow
``nextLink`` (its ``$skiptoken``). Rows are matched on the VM's ``resourceId`` from IMDS,
case-insensitively. For the "Virtual Machines" meter category the quantity is the hours the
VM ran that day, so a VM deallocated most of the day is not shown as idle for those hours.

The window is the last ``lookback`` days on the first import, then from three days before the
last import (Azure revises recent days); the answer replaces the stored days of the scope.
The query covers every resource of the scope, so VMs billed with no run are idle cost.

azure-mgmt-costmanagement is imported here only (extra ``xprof[azure]``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

from xprof.collector.billing import BillingSourceError
from xprof.collector.billing.normalise import Column, Normaliser, Spec
from xprof.collector.billing.store_items import ImportResult, Scope, read_cursor, write_items
from xprof.store import Store, utcnow

KIND = "azure"
RESTATE_DAYS = 3
VM_METER_CATEGORY = "virtual machines"

SPEC = Spec(
    name="Azure Cost Management",
    columns={"day": Column("time", required=True, not_null=True),
             "day_end": Column("time", required=True, not_null=True),
             "resource_id": Column("text"), "meter_category": Column("text"),
             "actual": Column("money", required=True, not_null=True),
             "amortized": Column("money"), "quantity": Column("number"),
             "currency": Column("currency", required=True, not_null=True),
             "account": Column("text")},
    fields={"provider": "'azure'", "account_id": '"account"', "resource_id": '"resource_id"',
            "service": '"meter_category"', "charge_category": "'usage'",
            "period_start_us": '"day"', "period_end_us": '"day_end"',
            "usage_quantity": '"quantity"',
            "usage_unit": f"CASE WHEN lower(\"meter_category\") = '{VM_METER_CATEGORY}' "
                          "THEN 'Hours' END",
            "billed_nanos": '"actual"', "effective_nanos": '"amortized"',
            "currency": '"currency"'},
    identity=('"day"', 'lower("resource_id")', 'lower("meter_category")', '"currency"'),
    field_columns={"period_start_us": "UsageDate", "billed_nanos": "Cost",
                   "currency": "Currency"},
)
_ROW_COLUMNS = ("day", "day_end", "resource_id", "meter_category", "actual", "amortized",
                "quantity", "currency", "account")


def query_definition(cost_type: str, start: dt.date, end: dt.date) -> Any:
    """The ``QueryDefinition`` for one cost type over the days [start, end] (inclusive)."""
    from azure.mgmt.costmanagement import models as m  # optional cloud SDK (xprof[azure])

    return m.QueryDefinition(
        type=cost_type, timeframe="Custom",
        time_period=m.QueryTimePeriod(
            from_property=dt.datetime.combine(start, dt.time(), dt.UTC),
            to=dt.datetime.combine(end, dt.time(23, 59, 59), dt.UTC)),
        dataset=m.QueryDataset(
            granularity="Daily",
            aggregation={"Cost": m.QueryAggregation(name="Cost", function="Sum"),
                         "UsageQuantity": m.QueryAggregation(name="UsageQuantity",
                                                             function="Sum")},
            grouping=[m.QueryGrouping(type="Dimension", name="ResourceId"),
                      m.QueryGrouping(type="Dimension", name="MeterCategory")]))


def _skiptoken(next_link: str) -> str | None:
    values = parse_qs(urlparse(next_link).query).get("$skiptoken")
    return values[0] if values else None


def query_rows(client: Any, scope: str, cost_type: str, start: dt.date,
               end: dt.date) -> list[dict[str, Any]]:
    """Every row of one query as ``{column name: value}``, following next links."""
    definition = query_definition(cost_type, start, end)
    rows: list[dict[str, Any]] = []
    params: dict[str, str] = {}
    for _ in range(10_000):
        result = client.query.usage(scope.lstrip("/"), definition, params=dict(params))
        if result is None:
            break
        names = [c.name for c in (result.columns or [])]
        rows.extend(dict(zip(names, row, strict=False)) for row in (result.rows or []))
        token = _skiptoken(result.next_link) if result.next_link else None
        if not token:
            break
        params = {"$skiptoken": token}
    return rows


def _pick(row: dict[str, Any], *names: str) -> Any:
    lower = {k.lower(): v for k, v in row.items()}
    for name in names:
        if name.lower() in lower:
            return lower[name.lower()]
    return None


def _day(value: Any) -> dt.date:
    text = str(value).strip()
    if text.isdigit() and len(text) == 8:  # UsageDate 20240901
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()


def merge_rows(actual: list[dict[str, Any]], amortized: list[dict[str, Any]],
               account: str) -> list[dict[str, Any]]:
    """One row per day, resource, meter category and currency with both cost types."""
    merged: dict[tuple, dict[str, Any]] = {}
    for kind, rows in (("actual", actual), ("amortized", amortized)):
        for row in rows:
            day = _day(_pick(row, "UsageDate", "Date", "BillingMonth"))
            resource = _pick(row, "ResourceId") or None
            category = _pick(row, "MeterCategory") or None
            currency = _pick(row, "Currency", "BillingCurrency")
            key = (day, (resource or "").lower(), (category or "").lower(), currency)
            entry = merged.setdefault(key, {
                "day": day.isoformat(), "day_end": (day + dt.timedelta(days=1)).isoformat(),
                "resource_id": resource, "meter_category": category, "actual": None,
                "amortized": None, "quantity": None, "currency": currency,
                "account": account})
            entry[kind] = _pick(row, "Cost", "PreTaxCost", "totalCost")
            quantity = _pick(row, "UsageQuantity")
            if quantity is not None and (kind == "actual" or entry["quantity"] is None):
                entry["quantity"] = quantity
    for entry in merged.values():
        if entry["actual"] is None:  # only amortized: a reservation's use, billed elsewhere
            entry["actual"] = 0
    return list(merged.values())


def make_client(credential: Any = None, **kwargs: Any) -> Any:
    """A CostManagementClient with DefaultAzureCredential unless ``credential`` is given."""
    from azure.mgmt.costmanagement import CostManagementClient  # optional SDK (xprof[azure])

    if credential is None:
        from azure.identity import DefaultAzureCredential  # optional SDK (xprof[azure])

        credential = DefaultAzureCredential()
    return CostManagementClient(credential, **kwargs)


def import_azure(store: Store, scope: str, *, client: Any = None, lookback_days: int = 31,
                 now: dt.datetime | None = None, echo: Callable[[str], None] | None = None,
                 force: bool = False) -> ImportResult:
    """Import daily costs per resource of ``scope`` (``/subscriptions/<id>``, a resource group
    or a billing account)."""
    source = f"{KIND}:{scope.rstrip('/')}"
    today = (now or utcnow()).astimezone(dt.UTC).date()
    start = today - dt.timedelta(days=lookback_days)
    cursor = None if force else read_cursor(store, source)
    if cursor:
        start = max(start, dt.date.fromisoformat(cursor) - dt.timedelta(days=RESTATE_DAYS))
    if echo:
        echo(f"billing: asking Azure Cost Management for {scope}, {start} to {today}")
    try:
        client = client or make_client()
        actual = query_rows(client, scope, "ActualCost", start, today)
        amortized = query_rows(client, scope, "AmortizedCost", start, today)
    except Exception as exc:
        if type(exc).__module__.startswith("azure"):
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BillingSourceError(f"Azure Cost Management {scope}: {text}") from exc
        raise
    rows = merge_rows(actual, amortized, scope.rstrip("/").rsplit("/", 1)[-1])
    window_start = dt.datetime.combine(start, dt.time(), dt.UTC)
    window_end = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), dt.UTC)
    normaliser = Normaliser(SPEC)
    try:
        normaliser.add_rows(rows, _ROW_COLUMNS, label=f"Azure query.usage {scope}")
        result = write_items(store, normaliser, "daily", source=source,
                             scope=Scope.window(window_start, window_end),
                             import_key=source, cursor=today.isoformat())
    finally:
        normaliser.con.close()
    result.groups_read = 1
    result.extra = {"window": [start.isoformat(), today.isoformat()]}
    return result
