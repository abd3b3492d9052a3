"""The billing step of ``xprof collect``: import every configured source, then allocate.

Sources and their settings (``~/.xprof/config.toml``, environment, or arguments here):

| source | setting | environment |
| --- | --- | --- |
| FOCUS files | ``billing.focus.paths`` | ``XPROF_FOCUS_PATHS`` |
| AWS CUR / Data Exports | ``billing.cur.paths`` | ``XPROF_CUR_PATHS`` |
| AWS Cost Explorer | ``billing.aws_ce.enabled`` | ``XPROF_AWS_CE`` |
| Azure Cost Management | ``billing.azure.scope`` | ``XPROF_AZURE_BILLING_SCOPE`` |
| GCP BigQuery export | ``billing.gcp.table`` | ``XPROF_GCP_BILLING_TABLE`` |

(``billing.gcp.project`` names the project that runs the query.) Then the resources whose
items changed, and those of runs still without a complete billed
cost, are allocated (:mod:`xprof.collector.allocate`). A source that cannot be reached
(credentials, permissions) is reported in ``errors`` and the others go on; bad data
(:class:`~xprof.collector.billing.BillingInputError`) stops the step with its one-line
message, after allocating what was already imported, and nothing of the bad file is stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import click

from xprof.collector.billing import BillingInputError, BillingSourceError
from xprof.money import format_money
from xprof.settings import Settings
from xprof.store import Store, utcnow

SOURCE_KINDS = ("focus", "aws-cur", "aws-ce", "azure", "gcp-bq")


def _stderr(message: str) -> None:
    click.echo(message, err=True)


def _money(amounts: Mapping[str, Decimal]) -> str:
    return " + ".join(format_money(v, c) for c, v in sorted(amounts.items())) or "$0.00"


def collect_billing(store: Store, settings: Settings, *,
                    sources: Iterable[str] | None = None,
                    focus_paths: Iterable[str] | None = None,
                    cur_paths: Iterable[str] | None = None,
                    aws_ce: bool | None = None,
                    azure_scope: str | None = None,
                    gcp_table: str | None = None,
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
    from xprof.collector.allocate import allocate_store, load_runs, runs_needing_allocation
    from xprof.collector.billing.store_items import ImportResult

    clients = dict(clients or {})
    wanted = set(sources) if sources is not None else set(SOURCE_KINDS)
    unknown = wanted - set(SOURCE_KINDS)
    if unknown:
        raise BillingInputError(f"unknown billing source {sorted(unknown)[0]!r} "
                                f"(choose from {', '.join(SOURCE_KINDS)})")
    focus_paths = list(focus_paths if focus_paths is not None
                       else settings.get("billing.focus.paths") or [])
    cur_paths = list(cur_paths if cur_paths is not None
                     else settings.get("billing.cur.paths") or [])
    aws_ce = settings.get("billing.aws_ce.enabled") if aws_ce is None else aws_ce
    azure_scope = azure_scope or settings.get("billing.azure.scope")
    gcp_table = gcp_table or settings.get("billing.gcp.table")
    lookback = int(settings.get("billing.lookback_days") or 31)
    now = now or utcnow()

    jobs: list[tuple[str, str, Callable[[], ImportResult]]] = []
    if "focus" in wanted:
        from xprof.collector.billing.focus import import_focus

        for path in focus_paths:
            jobs.append(("focus", path, lambda p=path: import_focus(
                store, p, s3_client=clients.get("s3"), force=force, echo=echo)))
    if "aws-cur" in wanted:
        from xprof.collector.billing.aws_cur import import_cur

        for path in cur_paths:
            jobs.append(("aws-cur", path, lambda p=path: import_cur(
                store, p, s3_client=clients.get("s3"), force=force, echo=echo)))
    if "aws-ce" in wanted and aws_ce:
        from xprof.collector.billing.aws_cost_explorer import import_cost_explorer

        def _ce() -> ImportResult:
            spans = [(key, s.start, s.end) for s in load_runs(store, now) for key in s.keys
                     if key.startswith("i-")]
            return import_cost_explorer(store, spans, client=clients.get("ce"), now=now,
                                        echo=echo, force=force)
        jobs.append(("aws-ce", "Cost Explorer", _ce))
    if "azure" in wanted and azure_scope:
        from xprof.collector.billing.azure_cost import import_azure

        jobs.append(("azure", azure_scope, lambda: import_azure(
            store, azure_scope, client=clients.get("azure"), lookback_days=lookback, now=now,
            echo=echo, force=force)))
    if "gcp-bq" in wanted and gcp_table:
        from xprof.collector.billing.gcp_bigquery import import_bigquery

        jobs.append(("gcp-bq", gcp_table, lambda: import_bigquery(
            store, gcp_table, client=clients.get("bigquery"),
            project=settings.get("billing.gcp.project"), lookback_days=lookback, now=now,
            echo=echo, force=force)))

    results: list[tuple[str, str, ImportResult]] = []
    errors: list[str] = []
    changed: set[str] = set()
    bad_input: BillingInputError | None = None
    for kind, where, job in jobs:
        try:
            result = job()
        except BillingSourceError as exc:
            errors.append(str(exc))
            continue
        except BillingInputError as exc:
            bad_input = exc
            break
        results.append((kind, where, result))
        changed |= result.keys

    keys = None if reallocate else changed | runs_needing_allocation(store, now)
    allocation = allocate_store(store, keys, echo=echo, now=now)
    if bad_input is not None:
        raise bad_input

    inserted = sum(r.inserted for _, _, r in results)
    updated = sum(r.updated for _, _, r in results)
    deleted = sum(r.deleted for _, _, r in results)
    skipped = sum(r.groups_skipped for _, _, r in results)
    parts = [f"billing: {inserted + updated:,} item(s) imported from {len(results)} "
             f"source(s) ({inserted:,} new, {updated:,} restated, {deleted:,} removed"
             + (f", {skipped} unchanged export(s) skipped)" if skipped else ")")]
    if not jobs:
        parts = ["billing: no source configured (billing.focus.paths, billing.cur.paths, "
                 "billing.aws_ce.enabled, billing.azure.scope, billing.gcp.table)"]
    parts.append(f"{allocation.runs_billed:,} run(s) billed ({_money(allocation.allocated)})")
    if allocation.runs_partial:
        parts.append(f"{allocation.runs_partial:,} billed in part so far (still estimated)")
    parts.append(f"idle {_money(allocation.idle)} on {allocation.resources:,} resource(s)")
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
        "errors": errors,
        "summary": "; ".join(parts),
    }


def collect_billing_step(db: Store, settings: Settings, options: dict[str, Any]) -> Any:
    """``COLLECT_STEPS`` adapter for ``xprof collect``.

    Reads these ``options`` when present (the command's flags): ``all`` (re-read every export
    and reallocate everything), ``billing_sources`` (only these kinds), ``focus_paths``,
    ``cur_paths``, ``aws_ce``, ``azure_scope``, ``gcp_table``. Bad billing data becomes
    ``BadInput`` (one line, exit 2).
    """
    from xprof.cli import BadInput
    from xprof.collector.cli import StepResult

    everything = bool(options.get("all"))
    try:
        summary = collect_billing(
            db, settings, sources=options.get("billing_sources") or None,
            focus_paths=options.get("focus_paths") or None,
            cur_paths=options.get("cur_paths") or None, aws_ce=options.get("aws_ce"),
            azure_scope=options.get("azure_scope"), gcp_table=options.get("gcp_table"),
            force=everything, reallocate=everything)
    except BillingInputError as exc:
        raise BadInput(str(exc)) from exc
    return StepResult("billing", summary["summary"], summary["errors"], summary)
