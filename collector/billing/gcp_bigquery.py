"""GCP: the Cloud Billing detailed usage cost export in BigQuery.

Reads ``project.dataset.gcp_billing_export_resource_v1_<ACCOUNT>`` (the detailed export has
``resource.name`` and ``resource.global_name``) with google-cloud-bigquery. Each export row
becomes one usage item (``cost``, list ``cost_at_list``) and, when it has credits (sustained
use, committed use, free tier, promotions), one credit item holding their negative sum, on
the same resource and hour. Runs are matched on the instance id at the end of
``resource.global_name`` (``//compute.googleapis.com/projects/P/zones/Z/instances/ID``).

The export only ever appends (late corrections arrive as new rows), so imports are
incremental on ``export_time``: each asks only for rows exported since the last one seen
(rows seen before are recognised and left alone).
It is a full export: VMs billed with no run are idle cost.

google-cloud-bigquery is imported here only (extra ``xprof[gcp]``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from xprof.collector.billing import BillingInputError, BillingSourceError
from xprof.collector.billing.normalise import Column, Normaliser, Spec
from xprof.collector.billing.store_items import ImportResult, Scope, read_cursor, write_items
from xprof.store import Store, utcnow

KIND = "gcp-bq"

QUERY = """
SELECT billing_account_id, service.description AS service, sku.id AS sku_id,
       sku.description AS sku_description, usage_start_time, usage_end_time,
       project.id AS project_id, location.region AS region, resource.name AS resource_name,
       resource.global_name AS resource_global_name, cost, {list_cost} AS cost_at_list,
       currency, usage.amount AS usage_amount, usage.unit AS usage_unit, cost_type,
       invoice.month AS invoice_month, export_time, TO_JSON_STRING(labels) AS labels,
       IFNULL((SELECT SUM(c.amount) FROM UNNEST(credits) AS c), 0) AS credits
FROM `{table}`
WHERE export_time >= @since
ORDER BY export_time
"""
_CATEGORY = """CASE lower(coalesce("cost_type", 'regular'))
    WHEN 'regular' THEN 'usage' WHEN 'tax' THEN 'tax' ELSE 'adjustment' END"""

SPEC = Spec(
    name="GCP billing export",
    columns={"item": Column("text", required=True),
             "billing_account_id": Column("text"), "service": Column("text"),
             "sku_id": Column("text"), "sku_description": Column("text"),
             "usage_start_time": Column("time", required=True, not_null=True),
             "usage_end_time": Column("time", required=True, not_null=True),
             "project_id": Column("text"), "region": Column("text"),
             "resource_name": Column("text"), "resource_global_name": Column("text"),
             "amount": Column("money", required=True, not_null=True),
             "list_amount": Column("money"),
             "currency": Column("currency", required=True, not_null=True),
             "usage_amount": Column("number"), "usage_unit": Column("text"),
             "cost_type": Column("text"), "invoice_month": Column("text"),
             "export_time": Column("text"), "labels": Column("tags")},
    fields={"provider": "'gcp'", "account_id": 'coalesce("project_id", "billing_account_id")',
            "resource_id": 'coalesce("resource_global_name", "resource_name")',
            "region": '"region"', "service": '"service"', "sku": '"sku_id"',
            "charge_category":
                f"""CASE WHEN "item" = 'credit' THEN 'credit' ELSE {_CATEGORY} END""",
            "charge_description": '"sku_description"',
            "period_start_us": '"usage_start_time"', "period_end_us": '"usage_end_time"',
            "usage_quantity": """CASE WHEN "item" = 'usage' THEN "usage_amount" END""",
            "usage_unit": """CASE WHEN "item" = 'usage' THEN "usage_unit" END""",
            "list_nanos": '"list_amount"', "billed_nanos": '"amount"',
            "effective_nanos": '"amount"', "currency": '"currency"',
            "tags": """xtags("labels", '^user:')"""},
    identity=('"item"', '"billing_account_id"', '"project_id"', '"service"', '"sku_id"',
              '"usage_start_time"', '"usage_end_time"', '"resource_global_name"',
              '"resource_name"', '"region"', '"cost_type"', '"invoice_month"', '"export_time"',
              '"amount"', '"usage_amount"', '"currency"'),
    field_columns={"period_start_us": "usage_start_time", "period_end_us": "usage_end_time",
                   "billed_nanos": "cost", "currency": "currency"},
)
_ROW_COLUMNS = tuple(SPEC.columns)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def export_items(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The usage item, and the credit item if any, of each export row."""
    items = []
    for row in rows:
        base = {name: _text(row.get(name)) for name in _ROW_COLUMNS
                if name not in ("item", "amount", "list_amount")}
        items.append({**base, "item": "usage", "amount": _text(row.get("cost")),
                      "list_amount": _text(row.get("cost_at_list"))})
        credits = row.get("credits")
        if credits not in (None, 0, 0.0, "0"):
            items.append({**base, "item": "credit", "amount": _text(credits),
                          "list_amount": None})
    return items


def make_client(project: str | None = None) -> Any:
    """A BigQuery client with application default credentials."""
    from google.cloud import bigquery  # optional cloud SDK (xprof[gcp])

    return bigquery.Client(project=project)


def query_export(client: Any, table: str, since: dt.datetime) -> list[dict[str, Any]]:
    """Rows of the export table exported after ``since`` (without ``cost_at_list`` on exports
    that predate it)."""
    from google.api_core import exceptions as gexc  # optional cloud SDK (xprof[gcp])
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(query_parameters=[
        bigquery.ScalarQueryParameter("since", "TIMESTAMP", since)])
    for list_cost in ("cost_at_list", "CAST(NULL AS FLOAT64)"):
        sql = QUERY.format(table=table, list_cost=list_cost)
        try:
            return [dict(row.items()) for row in client.query_and_wait(sql, job_config=config)]
        except gexc.BadRequest as exc:
            if list_cost != "cost_at_list" or "cost_at_list" not in str(exc):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def import_bigquery(store: Store, table: str, *, client: Any = None, project: str | None = None,
                    lookback_days: int = 31, now: dt.datetime | None = None,
                    echo: Callable[[str], None] | None = None,
                    force: bool = False) -> ImportResult:
    """Import the export rows of ``table`` exported since the last import."""
    if table.count(".") != 2 or any(c in table for c in "`;' "):
        raise BillingInputError(f"billing.gcp.table: expected project.dataset.table, got "
                                f"{table!r}")
    source = f"{KIND}:{table}"
    now = now or utcnow()
    cursor = None if force else read_cursor(store, source)
    since = dt.datetime.fromisoformat(cursor) if cursor else now - dt.timedelta(days=lookback_days)
    if echo:
        echo(f"billing: querying BigQuery {table} for rows exported after {since.isoformat()}")
    try:
        client = client or make_client(project)
        rows = query_export(client, table, since)
    except Exception as exc:
        if type(exc).__module__.startswith(("google", "requests")):
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BillingSourceError(f"BigQuery {table}: {text}") from exc
        raise
    result = ImportResult(source=source, groups_read=1)
    if not rows:
        return result
    latest = max(_as_utc(r["export_time"]) for r in rows if r.get("export_time") is not None)
    normaliser = Normaliser(SPEC)
    try:
        normaliser.add_rows(export_items(rows), _ROW_COLUMNS, label=f"BigQuery {table}")
        result = write_items(store, normaliser, "export", source=source, scope=Scope.append(),
                             import_key=source, cursor=latest.isoformat())
    finally:
        normaliser.con.close()
    result.groups_read = 1
    result.extra = {"exported_after": since.isoformat(), "export_rows": len(rows)}
    return result


def _as_utc(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
