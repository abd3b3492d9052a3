"""Billing for ``xprof collect``: import every configured source, then allocate.

Sources and their settings (``~/.xprof/config.toml``, environment, or arguments here):

| source | setting | environment |
| --- | --- | --- |
| FOCUS files | ``billing.focus.paths`` | ``XPROF_FOCUS_PATHS`` |
| AWS CUR / Data Exports | ``billing.cur.paths`` | ``XPROF_CUR_PATHS`` |
| AWS Cost Explorer | ``billing.aws_ce.enabled`` | ``XPROF_AWS_CE`` |
| Azure Cost Management | ``billing.azure.scope`` | ``XPROF_AZURE_BILLING_SCOPE`` |
| GCP BigQuery export | ``billing.gcp.table`` | ``XPROF_GCP_BILLING_TABLE`` |
| Azure cost details export files | ``billing.azure_export.paths`` | ``XPROF_AZURE_EXPORT_PATHS`` |
| GCP billing export files | ``billing.gcp_export.paths`` | ``XPROF_GCP_EXPORT_PATHS`` |

(``billing.gcp.project`` names the project that runs the query; the sources are
:data:`xprof.collector.billing.sources.SOURCES`.) Then the resources whose
items changed, and those of runs still without a complete billed
cost, are allocated (:mod:`xprof.collector.allocate`). The summary ends with the whole bill
(:mod:`xprof.collector.billing.bill`) of the months this collect imported items for, per
currency: billed total = runs + idle + other.
A source that cannot be reached (credentials, permissions) is reported in ``errors`` and the
others go on; bad data (:class:`~xprof.collector.billing.BillingInputError`) stops the step
with its one-line message, after allocating what was already imported, and nothing of the
bad file is stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import click

from xprof.collector.allocate import AllocationResult, allocate_store, runs_needing_allocation
from xprof.collector.billing import BillingInputError, BillingSourceError
from xprof.collector.billing.bill import (
    CurrencyBill,
    bill_line,
    imported_months,
    months_label,
    project_line,
    whole_bill,
)
from xprof.collector.billing.sources import SOURCE_KINDS, SOURCES, BillingSource, ImportJob
from xprof.collector.billing.store_items import ImportResult
from xprof.money import format_money
from xprof.settings import Settings
from xprof.store import Store, utcnow

__all__ = ["SOURCE_KINDS", "collect_billing"]

Imported = list[tuple[str, str, ImportResult]]


def _stderr(message: str) -> None:
    click.echo(message, err=True)


def _money(amounts: Mapping[str, Decimal]) -> str:
    return " + ".join(format_money(v, c) for c, v in sorted(amounts.items())) or "$0.00"


def _chosen(sources: Iterable[str] | None) -> list[BillingSource]:
    wanted = set(sources) if sources is not None else set(SOURCE_KINDS)
    unknown = wanted - set(SOURCE_KINDS)
    if unknown:
        raise BillingInputError(f"unknown billing source {sorted(unknown)[0]!r} "
                                f"(choose from {', '.join(SOURCE_KINDS)})")
    return [source for source in SOURCES if source.kind in wanted]


def _import_all(job: ImportJob, sources: list[BillingSource]
                ) -> tuple[int, Imported, list[str], BillingInputError | None]:
    """Import every location of every source: (locations tried, results, source errors, the
    bad input that stopped the imports or None)."""
    tried = 0
    results: Imported = []
    errors: list[str] = []
    for source in sources:
        for location in source.locations(job):
            tried += 1
            try:
                results.append((source.kind, location, source.import_from(job, location)))
            except BillingSourceError as exc:
                errors.append(str(exc))
            except BillingInputError as exc:
                return tried, results, errors, exc
    return tried, results, errors, None


def _plain_bill(bill: CurrencyBill) -> dict[str, Any]:
    data = bill.as_dict()
    return {k: ([{**r, "amount": str(r["amount"])} for r in v] if isinstance(v, list)
                else {n: str(x) if isinstance(x, Decimal) else x for n, x in v.items()}
                if isinstance(v, dict)
                else str(v) if isinstance(v, Decimal) else v) for k, v in data.items()}


def _imported_bill(store: Store, since: dt.datetime,
                   tag_keys: Iterable[str]) -> tuple[str, list[CurrencyBill]]:
    """The whole bill of the months this collect imported items for (label, bills)."""
    months = imported_months(store, since)
    if months is None:
        return "", []
    return months_label(*months), whole_bill(store, start=months[0], end=months[1],
                                             tag_keys=list(tag_keys))


def _summary(tried: int, results: Imported, allocation: AllocationResult,
             errors: list[str], bill: tuple[str, list[CurrencyBill]]) -> dict[str, Any]:
    inserted = sum(r.inserted for _, _, r in results)
    updated = sum(r.updated for _, _, r in results)
    deleted = sum(r.deleted for _, _, r in results)
    skipped = sum(r.groups_skipped for _, _, r in results)
    duplicates = sum(r.extra.get("duplicates", 0) for _, _, r in results)
    parts = [f"billing: {inserted + updated:,} item(s) imported from {len(results)} "
             f"source(s) ({inserted:,} new, {updated:,} restated, {deleted:,} removed"
             + (f", {skipped} unchanged export(s) skipped" if skipped else "")
             + (f", {duplicates:,} duplicate row(s) skipped)" if duplicates else ")")]
    if not tried:
        parts = ["billing: no source configured ("
                 + ", ".join(source.setting for source in SOURCES) + ")"]
    parts.append(f"{allocation.runs_billed:,} run(s) billed ({_money(allocation.allocated)})")
    if allocation.runs_partial:
        parts.append(f"{allocation.runs_partial:,} billed in part so far (still estimated)")
    parts.append(f"idle {_money(allocation.idle)} on {allocation.resources:,} resource(s)")
    label, bills = bill
    parts += [f"bill {label} {bill_line(b, format_money)}"
              + (f" ({project_line(b, format_money)})" if b.other_by_project else "")
              for b in bills]
    parts += [f"{b.skipped['items']:,} {b.currency} Azure amortized row(s) "
              f"({format_money(b.skipped['amount'], b.currency)}) skipped: an actual cost "
              "export covers the same days, and the bill counts actual cost (as invoiced)"
              for b in bills if b.skipped]
    parts += [r.extra["note"] for _, _, r in results if r.extra.get("note")]
    if errors:
        parts.append(f"{len(errors)} source(s) failed")
    return {
        "sources": [{"kind": kind, "location": where, **result.as_dict()}
                    for kind, where, result in results],
        "items_imported": inserted + updated,
        "inserted": inserted, "updated": updated, "deleted": deleted,
        "allocation": allocation.as_dict(),
        "runs_billed": allocation.runs_billed,
        "runs_partial": allocation.runs_partial,
        "billed": {c: str(v) for c, v in sorted(allocation.allocated.items())},
        "idle": {c: str(v) for c, v in sorted(allocation.idle.items())},
        "bill": {"months": label, "currencies": [_plain_bill(b) for b in bills]},
        "errors": errors,
        "summary": "; ".join(parts),
    }


def collect_billing(store: Store, settings: Settings, *,
                    sources: Iterable[str] | None = None,
                    focus_paths: Iterable[str] | None = None,
                    cur_paths: Iterable[str] | None = None,
                    aws_ce: bool | None = None,
                    azure_scope: str | None = None,
                    gcp_table: str | None = None,
                    azure_export_paths: Iterable[str] | None = None,
                    azure_cost_type: str | None = None,
                    gcp_export_paths: Iterable[str] | None = None,
                    clients: Mapping[str, Any] | None = None,
                    force: bool = False, reallocate: bool = False,
                    now: dt.datetime | None = None,
                    echo: Callable[[str], None] | None = _stderr) -> dict[str, Any]:
    """Import billing from the configured sources and allocate it; return a summary dict.

    ``sources`` limits the run to some of :data:`SOURCE_KINDS`; the other arguments override
    the settings. ``clients`` may hold ready clients (``s3``, ``ce``, ``azure``,
    ``bigquery``). ``force`` re-reads what is unchanged since the last import;
    ``reallocate`` recomputes every resource's allocation, not only the changed ones.
    Progress goes to ``echo`` (stderr by default).
    """
    chosen = _chosen(sources)
    now = now or utcnow()
    overrides = {"billing.focus.paths": None if focus_paths is None else list(focus_paths),
                 "billing.cur.paths": None if cur_paths is None else list(cur_paths),
                 "billing.aws_ce.enabled": aws_ce, "billing.azure.scope": azure_scope or None,
                 "billing.gcp.table": gcp_table or None,
                 "billing.azure_export.paths":
                     None if azure_export_paths is None else list(azure_export_paths),
                 "billing.azure_export.cost_type": azure_cost_type or None,
                 "billing.gcp_export.paths":
                     None if gcp_export_paths is None else list(gcp_export_paths)}
    job = ImportJob(store, settings, now, overrides, dict(clients or {}), force, echo)
    tried, results, errors, bad_input = _import_all(job, chosen)
    changed = set().union(*(result.keys for _, _, result in results))
    keys = None if reallocate else changed | runs_needing_allocation(store, now)
    allocation = allocate_store(store, keys, echo=echo, now=now)
    if bad_input is not None:
        raise bad_input
    return _summary(tried, results, allocation, errors,
                    _imported_bill(store, now, settings.get("billing.project_tag_keys") or ()))
