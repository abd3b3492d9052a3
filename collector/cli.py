"""``xprof prices ls|update`` and ``xprof collect``: thin commands over the collector."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import click

from xprof.cli import BadInput
from xprof.collector import catalog
from xprof.money import format_money
from xprof.runs_cli import open_store, output_options, print_table, store_option
from xprof.settings import ConfigError, Settings
from xprof.store import Store


@click.group()
def prices() -> None:
    """Show and refresh the price catalog (list prices per instance-hour).

    \b
    Examples:
      xprof prices ls --provider aws --gpu A100
      xprof prices update --provider azure --region eastus
    """


def _gpu_text(p: catalog.Price) -> str:
    if not p.gpu_count or not p.gpu_model:
        return "-"
    memory = f" {p.gpu_memory_gib:g}GB" if p.gpu_memory_gib else ""
    return f"{p.gpu_count}× {p.gpu_model}{memory}"


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value.normalize():f}"


@prices.command("ls")
@click.option("--provider", type=click.Choice(catalog.PROVIDERS), help="Only this provider.")
@click.option("--region", help="Only this region (us-east-1, us-central1, eastus).")
@click.option("--gpu", metavar="MODEL",
              help="Only instances with this GPU: A100, 'A100 80GB', T4, or an NVML name.")
@click.option("--type", "instance_type", metavar="TYPE", help="Only this instance type.")
@store_option
@output_options
def ls(provider: str | None, region: str | None, gpu: str | None, instance_type: str | None,
       store: str | None, as_json: bool) -> None:
    """List catalog prices, cheapest first within each region and GPU model.

    \b
    Examples:
      xprof prices ls --provider gcp --region us-central1 --gpu L4
      xprof prices ls --gpu "NVIDIA A100-SXM4-80GB" --json | jq '.[0]'
    """
    from xprof.collector.gpu_names import normalise_gpu

    wanted_gpu = normalise_gpu(gpu) if gpu else None
    if gpu is not None and wanted_gpu is None:
        raise BadInput("--gpu: give a GPU model such as A100 or T4")
    db = open_store(store)
    rows = catalog.list_prices(db, provider=provider, region=region, gpu=wanted_gpu,
                               instance_type=instance_type)
    if as_json:
        click.echo(json.dumps([p.to_json() for p in rows], indent=2))
        return
    if not rows:
        hint = "" if wanted_gpu is None or wanted_gpu.known else \
            f" ({wanted_gpu.model} is not a GPU model the catalog knows)"
        click.echo(f"No catalog prices match{hint}.", err=True)
        return
    print_table([[p.provider, p.instance_type, p.region, str(p.vcpus), f"{p.memory_gib:g}",
                  _gpu_text(p), _money(p.on_demand), _money(p.spot), p.as_of.isoformat(),
                  p.source] for p in rows],
                ["PROVIDER", "INSTANCE TYPE", "REGION", "VCPU", "MEM GIB", "GPUS",
                 "ON-DEMAND $/H", "SPOT $/H", "AS OF", "SOURCE"])


@prices.command("update")
@click.option("--provider", type=click.Choice(catalog.PROVIDERS), required=True,
              help="Which provider's prices to fetch.")
@click.option("--region", "regions", multiple=True, metavar="REGION",
              help="Only this region (repeatable); default: the catalog's regions.")
@store_option
def update(provider: str, regions: tuple[str, ...], store: str | None) -> None:
    """Fetch current prices from the provider's price API into the store's catalog.

    AWS uses the Price List and spot price history APIs (boto3 credentials), GCP the Cloud
    Billing Catalog API (application default credentials), Azure the public Retail Prices
    API. One transaction: if anything fails, the catalog stays as it was.

    \b
    Examples:
      xprof prices update --provider aws --region us-east-1 --region us-west-2
      xprof prices update --provider gcp
    """
    db = open_store(store)
    module = __import__(f"xprof.collector.refresh_{provider}", fromlist=["_"])
    refresh: Callable[..., catalog.RefreshResult] = getattr(module, f"refresh_{provider}")
    try:
        result = refresh(db, list(regions) or None)
    except catalog.RefreshError as exc:
        raise click.ClickException(f"{exc}; the catalog is unchanged") from exc
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc
    click.echo(result.summary_line())


# -- collect ---------------------------------------------------------------------------------
@dataclass
class StepResult:
    """What one ``collect`` step did: a one-line summary and the runs it could not handle."""

    name: str
    summary: str
    errors: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def collect_estimates(db: Store, settings: Settings, options: dict[str, Any]) -> StepResult:
    """(Re)compute the estimate of every ended run that lacks one (all runs with --all)."""
    from xprof.collector.estimate import estimate_run, runs_needing_estimate

    priced, unknown, bounds = 0, 0, 0
    total: dict[str, Decimal] = {}
    reasons: dict[str, int] = {}
    errors = []
    for run_id in runs_needing_estimate(db, everything=options.get("all", False)):
        try:
            estimate = estimate_run(db, run_id, settings)
        except Exception as exc:  # one bad run must not stop the others
            errors.append(f"run {run_id[:8]}: {type(exc).__name__}: {exc}")
            continue
        if estimate.amount is None:
            unknown += 1
            reasons[estimate.reason or "?"] = reasons.get(estimate.reason or "?", 0) + 1
            continue
        priced += 1
        bounds += estimate.upper_bound
        total[estimate.currency] = total.get(estimate.currency, Decimal(0)) + estimate.amount
    money = " + ".join(format_money(v, c) for c, v in sorted(total.items())) or "$0.00"
    summary = f"estimates: {priced} run(s) priced ({money} in all"
    summary += f", {bounds} upper bound(s))" if bounds else ")"
    if unknown:
        top = max(reasons, key=lambda r: reasons[r])
        summary += f", {unknown} unknown (e.g. {top})"
    if errors:
        summary += f", {len(errors)} failed"
    return StepResult("estimates", summary, errors,
                      {"priced": priced, "unknown": unknown, "upper_bounds": bounds,
                       "failed": len(errors),
                       "total": {c: str(v) for c, v in total.items()}})


def _collect_billing(db: Store, settings: Settings, options: dict[str, Any]) -> StepResult:
    from xprof.collector.billing_step import collect_billing_step

    return collect_billing_step(db, settings, options)


def _collect_advice(db: Store, settings: Settings, options: dict[str, Any]) -> StepResult:
    from xprof.collector.advise_cli import collect_advice

    return collect_advice(db, settings, options)


def _collect_alerts(db: Store, settings: Settings, options: dict[str, Any]) -> StepResult:
    from xprof.collector.alerts_step import collect_alerts

    return collect_alerts(db, settings, options)


# Steps run in this order: bills first (advice measures savings against billed cost).
COLLECT_STEPS: list[tuple[str, Callable[[Store, Settings, dict[str, Any]], StepResult]]] = [
    ("billing", _collect_billing),
    ("estimates", collect_estimates),
    ("advice", _collect_advice),
    ("alerts", _collect_alerts),  # last: budgets and cost alerts read the costs above
]


@click.command()
@click.option("--all", "recompute_all", is_flag=True,
              help="Re-read every billing export, reallocate everything and recompute every "
                   "run's estimate (after `xprof prices update`).")
@click.option("--focus", "focus_paths", multiple=True, metavar="PATH",
              help="FOCUS 1.0-1.2 export (CSV or Parquet file or folder; repeatable); "
                   "default: setting billing.focus.paths.")
@click.option("--cur", "cur_paths", multiple=True, metavar="PATH",
              help="AWS CUR 2.0 / Data Exports or legacy CUR folder or s3:// prefix "
                   "(repeatable); default: setting billing.cur.paths.")
@click.option("--aws-ce/--no-aws-ce", "aws_ce", default=None,
              help="Ask AWS Cost Explorer for the runs' instances (setting "
                   "billing.aws_ce.enabled).")
@click.option("--azure-scope", metavar="SCOPE",
              help="Azure Cost Management scope, e.g. /subscriptions/ID (setting "
                   "billing.azure.scope).")
@click.option("--gcp-table", metavar="PROJECT.DATASET.TABLE",
              help="BigQuery detailed billing export table (setting billing.gcp.table).")
@click.option("--source", "billing_sources", multiple=True,
              type=click.Choice(["focus", "aws-cur", "aws-ce", "azure", "gcp-bq"]),
              help="Only these billing sources (repeatable).")
@store_option
@output_options
def collect(recompute_all: bool, focus_paths: tuple[str, ...], cur_paths: tuple[str, ...],
            aws_ce: bool | None, azure_scope: str | None, gcp_table: str | None,
            billing_sources: tuple[str, ...], store: str | None, as_json: bool) -> None:
    """Price runs: import billing, allocate it to runs and idle, estimate runs with no bill
    yet, advise, and check alert rules.

    Each step prints one line, then a closing summary; a run or source that fails is named
    and the others go on (exit 1 if any failed; exit 2 for a malformed billing file).

    \b
    Examples:
      xprof collect
      xprof collect --focus exports/focus-2026-11.parquet
      xprof collect --cur s3://billing-bucket/cur2/ --aws-ce
      xprof prices update --provider aws && xprof collect --all
    """
    try:
        settings = Settings(flags={"store": store})
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc
    db = open_store(store)
    options = {"all": recompute_all, "focus_paths": list(focus_paths),
               "cur_paths": list(cur_paths), "aws_ce": aws_ce, "azure_scope": azure_scope,
               "gcp_table": gcp_table, "billing_sources": list(billing_sources)}
    results = [step(db, settings, options) for _name, step in COLLECT_STEPS]
    failed = [error for result in results for error in result.errors]
    if as_json:
        click.echo(json.dumps({r.name: {**r.data, "summary": r.summary, "errors": r.errors}
                               for r in results}, indent=2))
    else:
        for result in results:
            click.echo(result.summary)
            for error in result.errors:
                click.echo(f"  {error}", err=True)
        click.echo(f"collect: {len(results)} step(s) done"
                   + (f", {len(failed)} problem(s) (listed above)" if failed else ", no problems"))
    if failed:
        raise SystemExit(1)
