"""GCP Cloud Billing export as files: the BigQuery table exported to Parquet, JSON or CSV.

The same rows :mod:`gcp_bigquery` queries, read from files (``bq extract`` / "Export" of the
table ``gcp_billing_export_resource_v1_<ACCOUNT>`` — detailed — or
``gcp_billing_export_v1_<ACCOUNT>`` — standard). Columns as Google's "Structure of Detailed
data export" names them: ``billing_account_id``, ``service.description``, ``sku.id``,
``sku.description``, ``usage_start_time``, ``usage_end_time``, ``project.id``,
``location.region``, ``resource.name``, ``resource.global_name``, ``cost``,
``cost_at_list``, ``currency``, ``usage.amount``, ``usage.unit``, ``credits``
(``[{name, amount, …}]``), ``cost_type``, ``invoice.month``, ``export_time``, ``labels``
(``[{key, value}]``: the resource's labels, kept as the items' tags).

Parquet and newline-delimited JSON keep the records (``service`` is a struct, ``credits`` a
list); BigQuery cannot write nested or repeated fields to CSV, so a CSV comes from a query
that flattens them: ``service.description`` or ``service_description`` are both read, and
``credits`` must then be a number (the credits' sum). Each row is one usage item plus, when
it has credits, one credit item (as :mod:`gcp_bigquery` does).

The **standard** export has no ``resource`` columns: its rows count in the bill (other
spend by service), but no run can be billed from it, because runs are matched on the VM's
instance id that only the detailed export carries; the import says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xprof.collector.billing import BillingInputError
from xprof.collector.billing.file_import import Echo, import_location
from xprof.collector.billing.gcp_bigquery import SPEC
from xprof.collector.billing.locations import SUFFIXES
from xprof.collector.billing.normalise import Normaliser, quote_ident, quote_literal
from xprof.collector.billing.store_items import ImportResult
from xprof.store import Store

KIND = "gcp-export"
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")
STANDARD_NOTE = ("is the standard usage cost export (no resource.name): its amounts count in "
                 "the bill, but no run can be billed from it, since runs are matched on the "
                 "VM instance id only the detailed export has (enable 'Detailed usage cost' "
                 "export)")
# flat name -> where it is: (struct column, field) pairs, then flat column names
_WHERE: dict[str, tuple[str, ...]] = {
    "billing_account_id": ("billing_account_id",),
    "service": ("service.description", "service_description"),
    "sku_id": ("sku.id", "sku_id"),
    "sku_description": ("sku.description", "sku_description"),
    "usage_start_time": ("usage_start_time",), "usage_end_time": ("usage_end_time",),
    "project_id": ("project.id", "project_id"),
    "region": ("location.region", "location_region", "region"),
    "resource_name": ("resource.name", "resource_name"),
    "resource_global_name": ("resource.global_name", "resource_global_name"),
    "cost": ("cost",), "cost_at_list": ("cost_at_list",), "currency": ("currency",),
    "usage_amount": ("usage.amount", "usage_amount"), "usage_unit": ("usage.unit", "usage_unit"),
    "cost_type": ("cost_type",), "invoice_month": ("invoice.month", "invoice_month"),
    "export_time": ("export_time",), "labels": ("labels",),
}


def _reader(path: str) -> str:
    lower = path.lower()
    if lower.endswith((".parquet", ".parq")):
        return f"read_parquet({quote_literal(path)})"
    if lower.endswith(JSON_SUFFIXES):
        return f"read_json_auto({quote_literal(path)}, format='newline_delimited')"
    return f"read_csv({quote_literal(path)}, header=true, all_varchar=true, auto_detect=true)"


def _expression(name: str, columns: dict[str, tuple[str, str]]) -> str:
    """SQL for flat ``name`` over the file's columns (struct field or flat column), or NULL."""
    for where in _WHERE[name]:
        if where.lower() in columns:  # a flat column, possibly named with a dot
            return quote_ident(columns[where.lower()][0])
        head, _, field = where.partition(".")
        found = columns.get(head.lower())
        if field and found and found[1].upper().startswith("STRUCT(") and re.search(
                rf'[(,]\s*"?{field}"?\s', found[1], re.IGNORECASE):
            return f"{quote_ident(found[0])}.{quote_ident(field)}"
    return "NULL"


def _money(name: str, columns: dict[str, tuple[str, str]]) -> str:
    """A money column as exact decimal text (binary floats via DECIMAL, not repr)."""
    found = columns.get(name)
    if found is None:
        return "NULL"
    if found[1].upper() in ("DOUBLE", "FLOAT", "REAL"):
        return f"CAST(CAST({quote_ident(found[0])} AS DECIMAL(38, 12)) AS VARCHAR)"
    return f"CAST({quote_ident(found[0])} AS VARCHAR)"


def _credits(columns: dict[str, tuple[str, str]]) -> str:
    found = columns.get("credits")
    if found is None:
        return "NULL"
    name, kind = quote_ident(found[0]), found[1].upper()
    if kind.startswith("STRUCT") and kind.endswith("[]"):
        return (f"(SELECT sum(TRY_CAST(c.amount AS DECIMAL(38, 12))) "
                f"FROM (SELECT unnest({name}) AS c))")
    return name


def add_export_file(normaliser: Normaliser, path: Path, label: str,
                    standard: Callable[[str], None] | None = None) -> None:
    """Read one export file: one usage item per row and one credit item per row with credits.
    ``standard(label)`` is called when the file is a standard export (no resource columns)."""
    source = _reader(str(path))
    try:
        described = normaliser.con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    except Exception as exc:  # duckdb.Error: unreadable file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BillingInputError(f"{label}: cannot read: {first}") from exc
    columns = {str(n).lower(): (str(n), str(t)) for n, t, *_ in described}
    flat = {name: _expression(name, columns) for name in _WHERE}
    if flat["cost"] == "NULL" and "costinbillingcurrency" in columns:
        raise BillingInputError(f"{label}: an Azure cost details export, not a GCP billing "
                                "export: import it with --azure-export")
    for required in ("cost", "currency", "usage_start_time", "usage_end_time"):
        if flat[required] == "NULL":
            raise BillingInputError(f"{label}: header row: missing column {required} "
                                    "(not a GCP billing export?)")
    if standard and flat["resource_name"] == "NULL" and flat["resource_global_name"] == "NULL":
        standard(label)
    labels = columns.get("labels")
    if labels and (labels[1].upper().startswith(("STRUCT", "MAP")) or labels[1].endswith("]")):
        flat["labels"] = f"to_json({flat['labels']})"  # nested (Parquet, JSON): as JSON text
    select = ", ".join(f"CAST({sql} AS VARCHAR) AS {quote_ident(name)}"
                       for name, sql in flat.items() if name not in ("cost", "cost_at_list"))
    rows = (f"SELECT row_number() OVER () AS _src_row, {select}, "
            f"{_money('cost', columns)} AS cost, "
            f"{_money('cost_at_list', columns)} AS cost_at_list, "
            f"CAST({_credits(columns)} AS VARCHAR) AS credits FROM {source}")
    others = ", ".join(quote_ident(name) for name in _WHERE
                       if name not in ("cost", "cost_at_list"))
    relation = (f"SELECT _src_row, 'usage' AS item, {others}, cost AS amount, "
                f"cost_at_list AS list_amount FROM ({rows}) UNION ALL "
                f"SELECT _src_row, 'credit' AS item, {others}, credits AS amount, "
                f"NULL AS list_amount FROM ({rows}) "
                "WHERE coalesce(TRY_CAST(credits AS DOUBLE), 0) <> 0")
    normaliser.add_relation(relation, label, row_sql="_src_row", header="header row",
                            hidden={"_src_row"})


def import_gcp_export(store: Store, location: str, *, s3_client: Any = None,
                      force: bool = False, echo: Echo | None = None) -> ImportResult:
    """Import the GCP billing export files at ``location`` (a file, folder or s3:// prefix)."""
    standard: list[str] = []
    result = import_location(
        store, kind=KIND, location=location, spec=SPEC, s3_client=s3_client, force=force,
        echo=echo, suffixes=SUFFIXES + JSON_SUFFIXES,
        add_file=lambda n, p, label: add_export_file(n, p, label, standard.append))
    if standard:
        note = f"gcp-export: {standard[0]} {STANDARD_NOTE}"
        result.extra["note"] = note
        if echo:
            echo(note)
    return result
