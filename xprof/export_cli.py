"""``xprof export`` (files, MLflow) and ``xprof import`` (MLflow): thin commands over
:mod:`xprof.frames` and :mod:`xprof.collector.mlflow_bridge`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from xprof.cli import BadInput, parse_pairs
from xprof.runs_cli import open_store, parse_since, store_option
from xprof.storeurl import StoreError


def file_options(func: Callable) -> Callable:
    """--format and --output, shared by every file export."""
    func = click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                        help="File to write (default: standard output, CSV only).")(func)
    return click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]),
                        help="File format (default: from the --output suffix, else csv).")(func)


def _write(kind: str, frame, fmt: str | None, output: Path | None, what: str) -> None:
    from xprof.frames import write_csv, write_frame  # lazy: pandas, not for --help

    if fmt is None:
        fmt = "parquet" if output is not None and output.suffix == ".parquet" else "csv"
    if output is None or str(output) == "-":
        if fmt == "parquet":
            raise BadInput("--format parquet writes a file: give -o FILE.parquet")
        write_csv(frame, sys.stdout)
        return
    if not output.parent.exists():
        raise BadInput(f"--output {output}: folder {output.parent} does not exist")
    write_frame(frame, output, fmt, kind)
    click.echo(f"wrote {len(frame)} {what} to {output} ({fmt})", err=True)


def _resolve(db, refs: tuple[str, ...]) -> list[str]:
    try:
        return [db.find_run(ref)["id"] for ref in refs]
    except StoreError as exc:
        raise BadInput(str(exc)) from exc


@click.group()
def export() -> None:
    """Write runs, samples, metrics or costs to CSV/Parquet, or onto MLflow runs.

    \b
    Examples:
      xprof export runs --project nlp -o runs.parquet
      xprof export samples a1b2c3d4 --gpu --format csv > gpu.csv
      xprof export costs --project nlp -o costs.csv
      xprof export mlflow --project nlp --tracking-uri sqlite:///mlflow.db

    Files keep their types: read them back with xprof.frames.read_frame(path, kind).
    """


@export.command("runs")
@click.option("--project", help="Only runs of this project.")
@click.option("--status", type=click.Choice(["running", "finished", "failed", "killed",
                                             "crashed"]), help="Only runs in this state.")
@click.option("--since", metavar="WHEN", help="Only runs started since: 2026-11-01, 12h, 7d.")
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="Only runs with this tag.")
@file_options
@store_option
def export_runs(project, status, since, tags, fmt, output, store) -> None:
    """One row a run: params, final metrics, usage, energy, cost and efficiency.

    Example: xprof export runs --project nlp -o runs.parquet
    """
    from xprof.frames import runs  # lazy: pandas

    tag_map = parse_pairs(tags, "--tag")
    since_at = parse_since(since)
    db = open_store(store)
    frame = runs(project, status=status, since=since_at, tags=tag_map or None, store=db)
    _write("runs", frame, fmt, output, "runs")


@export.command("samples")
@click.argument("runs", nargs=-1, required=True, metavar="RUN...")
@click.option("--gpu", is_flag=True, help="GPU samples (per device) instead of the process "
                                          "tree's.")
@file_options
@store_option
def export_samples(runs, gpu, fmt, output, store) -> None:
    """Every sample of the runs, in time order.

    Example: xprof export samples a1b2c3d4 --gpu -o gpu.parquet
    """
    from xprof.frames import samples  # lazy: pandas

    db = open_store(store)
    frame = samples(_resolve(db, runs), gpu=gpu, store=db)
    _write("gpu_samples" if gpu else "samples", frame, fmt, output, "samples")


@export.command("metrics")
@click.argument("runs", nargs=-1, required=True, metavar="RUN...")
@file_options
@store_option
def export_metrics(runs, fmt, output, store) -> None:
    """Every logged metric value of the runs (key, value, step, time).

    Example: xprof export metrics a1b2c3d4 -o metrics.csv
    """
    from xprof.frames import metrics  # lazy: pandas

    db = open_store(store)
    frame = metrics(_resolve(db, runs), store=db)
    _write("metrics", frame, fmt, output, "metric values")


@export.command("costs")
@click.option("--project", help="Only costs of this project's runs.")
@click.option("--run", "run_ref", metavar="RUN", help="Only this run's costs.")
@file_options
@store_option
def export_costs(project, run_ref, fmt, output, store) -> None:
    """Cost rows: estimates and billed amounts per run, and idle cost.

    Example: xprof export costs --project nlp -o costs.parquet
    """
    from xprof.frames import costs  # lazy: pandas

    db = open_store(store)
    run_id = _resolve(db, (run_ref,))[0] if run_ref else None
    frame = costs(project, run=run_id, store=db)
    _write("costs", frame, fmt, output, "cost rows")


@export.command("mlflow")
@click.argument("run_ref", required=False, metavar="[RUN]")
@click.option("--project", help="Every run of this project.")
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", required=True,
              help="MLflow tracking URI, e.g. sqlite:///mlflow.db or http://host:5000 "
                   "(default: $MLFLOW_TRACKING_URI).")
@click.option("--experiment", help="MLflow experiment for runs not yet in MLflow "
                                   "(default: the run's project).")
@store_option
def export_mlflow(run_ref, project, tracking_uri, experiment, store) -> None:
    """Write cost, usage summaries and open advice onto the matching MLflow runs.

    \b
    Examples:
      xprof export mlflow a1b2c3d4 --tracking-uri sqlite:///mlflow.db
      xprof export mlflow --project nlp --tracking-uri http://mlflow:5000

    A run is matched by the MLflow run id stored with it, or an MLflow run tagged
    xprof.run_id; otherwise an MLflow run is created (params and metric history included).
    """
    from xprof.collector.mlflow_bridge import (  # lazy: mlflow (optional)
        MlflowBridgeError,
        export_runs,
    )

    if bool(run_ref) == bool(project):
        raise BadInput("give one RUN or --project P")
    db = open_store(store)
    if run_ref:
        ids = _resolve(db, (run_ref,))
    else:
        ids = [r["id"] for r in db.list_runs(project=project, limit=None)]
        if not ids:
            raise BadInput(f"--project {project!r}: no runs (see `xprof ls`)")
    try:
        done = export_runs(db, ids, tracking_uri, experiment)
    except MlflowBridgeError as exc:
        raise BadInput(str(exc)) from exc
    for item in done:
        how = "created" if item.created else "updated"
        click.echo(f"{item.run_id[:8]} -> MLflow run {item.mlflow_run_id[:8]} ({how}, "
                   f"experiment {item.experiment!r}): {item.values} values")


@click.group("import")
def import_() -> None:
    """Bring runs recorded elsewhere into the store, to be costed and ranked.

    \b
    Example:
      xprof import mlflow --tracking-uri sqlite:///mlflow.db --experiment bert
    """


@import_.command("mlflow")
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", required=True,
              help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI).")
@click.option("--experiment", help="Only this experiment (name or id); default: all.")
@click.option("--project", help="Project of the imported runs (default: the experiment name).")
@store_option
def import_mlflow(tracking_uri, experiment, project, store) -> None:
    """Import ended MLflow runs: params, metric history, times and instance tags.

    \b
    Example:
      xprof import mlflow --tracking-uri sqlite:///mlflow.db --experiment bert

    Running twice imports nothing twice. Tags such as instance_type, cloud_provider, region
    and lifecycle name the machine, so the runs are estimated at once.
    """
    from xprof.collector.mlflow_bridge import (  # lazy: mlflow (optional)
        MlflowBridgeError,
        import_runs,
    )

    db = open_store(store)
    try:
        done = import_runs(db, tracking_uri, experiment, project=project)
    except MlflowBridgeError as exc:
        raise BadInput(str(exc)) from exc
    parts = [f"imported {len(done.run_ids)} runs ({done.priced} priced)"]
    parts += [f"not priced: {run}: {why}" for run, why in done.unpriced.items()]
    if done.existing:
        parts.append(f"{done.existing} already in the store")
    if done.unfinished:
        parts.append(f"{done.unfinished} still running (import them once they end)")
    click.echo("; ".join(parts))
