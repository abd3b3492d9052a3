"""``xprof advise``: compute, store and show rightsizing advice."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import click

from xprof.cli import BadInput
from xprof.collector.advise import ADVICE_WINDOW, advise_runs, runs_to_advise
from xprof.money import format_money
from xprof.runs_cli import open_store, output_options, parse_since, print_table, store_option
from xprof.settings import ConfigError, Settings
from xprof.store import Store, StoreError
from xprof.units import duration_text


def _money(value: Decimal | None, currency: str | None) -> str:
    return "-" if value is None else format_money(Decimal(value), currency or "USD")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _rec_json(run_id: str | None, rec: Any) -> dict[str, Any]:
    return {"run_id": run_id, "resource_id": rec.resource_id, "rule": rec.rule,
            "severity": rec.severity, "status": rec.status, "title": rec.title,
            "current_instance": rec.current_instance,
            "suggested_instance": rec.suggested_instance,
            "predicted_duration_s": rec.predicted_duration_s,
            "predicted_cost": _text(rec.predicted_cost), "confidence": rec.confidence,
            "saving_per_run": _text(rec.saving_per_run),
            "saving_per_month": _text(rec.saving_per_month),
            "currency": rec.currency, "evidence": rec.evidence}


@click.command()
@click.argument("run_ref", metavar="[RUN]", required=False)
@click.option("--project", help="Advise every ended run of this project.")
@click.option("--since", metavar="WHEN",
              help="Advise runs started since: 2026-11-01, 12h, 7d (default: 30d).")
@store_option
@output_options
def advise(run_ref: str | None, project: str | None, since: str | None, store: str | None,
           as_json: bool) -> None:
    """Rightsizing advice from each run's own samples: idle or underused GPUs, GPU memory
    headroom, CPU and I/O bottlenecks, memory, spot, idle tails, and billed resources no
    run used.

    Advice is computed, stored (a dismissed or done status is kept) and shown, highest
    saving first. Savings are per run and per month at the project's run cadence.

    \b
    Examples:
      xprof advise brisk-otter-17
      xprof advise --project digits --since 7d --json | jq '.[].title'
    """
    if run_ref and (project or since):
        raise BadInput("give a RUN, or --project / --since, not both")
    since_at = parse_since(since)
    try:
        settings = Settings(flags={"store": store})
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc
    db = open_store(store)
    run_ids = _run_ids(db, run_ref, project, since_at)
    result = advise_runs(db, run_ids, settings, abandoned=not run_ref and not project)
    rows = [(run_id, rec) for run_id, recs in result.advised.items() for rec in recs]
    rows += [(None, rec) for rec in result.abandoned]
    if as_json:
        click.echo(json.dumps([_rec_json(run_id, rec) for run_id, rec in rows], indent=2))
    elif rows:
        print_table([[(run_id or "-")[:8], rec.rule, rec.severity, rec.status,
                      _instances(rec), _predicted(rec), _money(rec.saving_per_run, rec.currency),
                      _money(rec.saving_per_month, rec.currency), rec.title]
                     for run_id, rec in rows],
                    ["RUN", "RULE", "SEVERITY", "STATUS", "INSTANCE", "PREDICTED",
                     "SAVING/RUN", "SAVING/MONTH", "ADVICE"])
        click.echo(result.summary_line())
    else:
        click.echo(no_advice_message(db, run_ids, settings))
    for error in result.errors:
        click.echo(f"xprof advise: {error}", err=True)
    if result.errors:
        raise SystemExit(1)


def _run_ids(db: Store, run_ref: str | None, project: str | None,
             since_at: dt.datetime | None) -> list[str]:
    """The run named, else the project's runs and/or those since a time (default: 30 days)."""
    if run_ref:
        try:
            return [db.find_run(run_ref)["id"]]
        except StoreError as exc:
            raise BadInput(str(exc)) from exc
    if since_at is None and not project:
        since_at = dt.datetime.now(dt.UTC) - ADVICE_WINDOW
    return runs_to_advise(db, project=project, since=since_at)


def _instances(rec: Any) -> str:
    current = rec.current_instance or "this machine"
    if rec.evidence.get("current_is_equivalent"):
        current = f"≈ {current}"
    if rec.suggested_instance and rec.suggested_instance != rec.current_instance:
        return f"{current} → {rec.suggested_instance}"
    if rec.rule == "spot_candidate":
        return f"{current} → spot"
    return rec.current_instance or rec.resource_id or "-"


def _predicted(rec: Any) -> str:
    """``1.2 h, $3.40 (medium)`` for advice that suggests another machine, else ``-``."""
    if rec.predicted_duration_s is None or rec.predicted_cost is None:
        return "-"
    return (f"{duration_text(rec.predicted_duration_s)}, "
            f"{_money(rec.predicted_cost, rec.currency)} ({rec.confidence})")


def no_advice_message(db: Store, run_ids: list[str], settings: Settings) -> str:
    """Why no run got advice, naming the thresholds and the settings that set them."""
    if not run_ids:
        return "No advice for 0 run(s): no ended run matched."
    return (f"No advice for {len(run_ids)} run(s) (nothing to improve, or too little data): "
            f"runs shorter than "
            f"{settings['advise.preliminary_s']:g} s get none (setting advise.preliminary_s, "
            f"XPROF_ADVISE_PRELIMINARY_S), runs shorter than "
            f"{settings['advise.min_duration_s']:g} s preliminary advice only "
            f"(advise.min_duration_s), and rules over samples need "
            f"{settings['advise.min_samples']} samples (advise.min_samples); "
            f"see `xprof config`.")

