"""``xprof prices ls|update`` and ``xprof collect``: thin commands over the collector
(:mod:`xprof.collector.collect` runs the collect steps)."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

import click

from xprof.cli import BadInput
from xprof.collector import catalog
from xprof.collector.billing import BillingInputError
from xprof.collector.billing.sources import SOURCE_KINDS
from xprof.collector.collect import run_collect
from xprof.collector.gpu_names import normalise_gpu
from xprof.runs_cli import open_store, output_options, print_table, store_option
from xprof.settings import ConfigError, Settings


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
@click.option("--azure-export", "azure_export_paths", multiple=True, metavar="PATH",
              help="Azure cost details export (CSV or Parquet file or folder; repeatable); "
                   "default: setting billing.azure_export.paths.")
@click.option("--azure-cost-type", type=click.Choice(["actual", "amortized"]), default=None,
              help="What the Azure exports hold (setting billing.azure_export.cost_type, "
                   "default actual).")
@click.option("--gcp-export", "gcp_export_paths", multiple=True, metavar="PATH",
              help="GCP billing export table exported to files (Parquet, JSON or CSV; "
                   "repeatable); default: setting billing.gcp_export.paths.")
@click.option("--source", "billing_sources", multiple=True,
              type=click.Choice(SOURCE_KINDS),
              help="Only these billing sources (repeatable).")
@store_option
@output_options
def collect(recompute_all: bool, focus_paths: tuple[str, ...], cur_paths: tuple[str, ...],
            aws_ce: bool | None, azure_scope: str | None, gcp_table: str | None,
            azure_export_paths: tuple[str, ...], azure_cost_type: str | None,
            gcp_export_paths: tuple[str, ...], billing_sources: tuple[str, ...],
            store: str | None, as_json: bool) -> None:
    """Price runs: import billing, allocate it to runs and idle, estimate runs with no bill
    yet, advise, and check alert rules.

    Each step prints one line, then a closing summary; a run or source that fails is named
    and the others go on (exit 1 if any failed; exit 2 for a malformed billing file).

    \b
    Examples:
      xprof collect
      xprof collect --focus exports/focus-2026-11.parquet
      xprof collect --cur s3://billing-bucket/cur2/ --aws-ce
      xprof collect --azure-export exports/costdetails.csv --gcp-export billing.parquet
      xprof prices update --provider aws && xprof collect --all
    """
    try:
        settings = Settings(flags={"store": store})
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc
    db = open_store(store)
    options = {"all": recompute_all, "focus_paths": list(focus_paths),
               "cur_paths": list(cur_paths), "aws_ce": aws_ce, "azure_scope": azure_scope,
               "gcp_table": gcp_table, "billing_sources": list(billing_sources),
               "azure_export_paths": list(azure_export_paths),
               "azure_cost_type": azure_cost_type,
               "gcp_export_paths": list(gcp_export_paths)}
    try:
        results = run_collect(db, settings, options)
    except BillingInputError as exc:
        raise BadInput(str(exc)) from exc
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
