"""``xprof run``: the command line of the agent. Validates everything before the child starts."""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

import click

from xprof.cli import BadInput, parse_pairs
from xprof.settings import ConfigError, Settings
from xprof.storeurl import StoreError, check_store


def parse_objective(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    name, sep, mode = value.rpartition(":")
    if not sep or not name or mode not in ("max", "min"):
        raise BadInput(f"--objective {value!r}: expected NAME:max or NAME:min")
    return name, mode


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("xprof: %(levelname)s: %(message)s"))
    logger = logging.getLogger("xprof")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING)
    logger.propagate = False


def resolve_resume(ref: str, store_url: str) -> dict:
    """The run that --resume names: opens the store before the child starts (a bad RUN is
    an error, exit 2). Returns {id, experiment, attempt}."""
    from xprof.store import Store, StoreError

    try:
        run = Store.open(store_url).find_run(ref)
    except StoreError as exc:
        raise BadInput(f"--resume {ref}: {exc}") from exc
    return {"id": run["id"], "experiment": run["experiment"] or run["name"],
            "attempt": run["attempt"] or 1}


@click.command(context_settings={"allow_interspersed_args": False,
                                 "help_option_names": ["-h", "--help"]})
@click.option("--name", help="Run name (default: a generated one such as brisk-otter-17).")
@click.option("--project", help="Project (default: the git repository's name, else the folder's).")
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="Tag the run (repeatable).")
@click.option("--param", "params", multiple=True, metavar="K=V",
              help="Record a parameter (repeatable); --flag value pairs of the command are "
                   "recorded too.")
@click.option("--objective", metavar="NAME:max|min",
              help="The metric that ranks this run, e.g. val_acc:max.")
@click.option("--interval", type=float, metavar="SECONDS",
              help="Seconds between samples (default 1, setting `interval`).")
@click.option("--store", metavar="URL", help="Store URL (default: $XPROF_STORE, else SQLite "
                                             "at $XPROF_HOME/xprof.db).")
@click.option("--metric-pattern", metavar="REGEX",
              help="Also read metrics from output lines matching REGEX: named groups are "
                   "metrics (a group named step is the step), or groups key and value.")
@click.option("--metrics-file", type=click.Path(dir_okay=False, path_type=Path),
              help="A JSON file the command writes ({name: value} or a list of them), read "
                   "when it ends.")
@click.option("--provider", type=click.Choice(["aws", "gcp", "azure", "none"]),
              help="Cloud provider of this machine, instead of asking its metadata service.")
@click.option("--instance-type", help="Instance type to record and price, e.g. p3.2xlarge "
                                      "(the metadata service is still asked for the rest).")
@click.option("--instance-id", help="Instance id billing joins on, for machines without a "
                                    "metadata service (EC2 i-…, GCP id, Azure resource id).")
@click.option("--region", help="Region to record and price, e.g. us-east-1.")
@click.option("--lifecycle", type=click.Choice(["on-demand", "spot"]),
              help="On-demand or spot, instead of asking the metadata service.")
@click.option("--run-id", metavar="ID",
              help="Join the run with this id (multi-node: every host's agent gives the same "
                   "id; default: $XPROF_RUN_ID, else derived from SLURM/torchrun, else new).")
@click.option("--hypothesis", metavar="TEXT",
              help="What this run should show, recorded before it starts.")
@click.option("--expect", metavar="METRIC OP NUMBER",
              help="How to judge the hypothesis from the final metrics: val_acc>=0.92, "
                   "'val_acc >= 0.92' or val_acc '>=' 0.92 (quote the operator for the "
                   "shell); the run ends confirmed, refuted or inconclusive.")
@click.option("--experiment", metavar="NAME",
              help="Group this attempt with earlier attempts of the same training job.")
@click.option("--resume", "resume_ref", metavar="RUN",
              help="This run resumes RUN (after a crash or a spot interruption): same "
                   "experiment, next attempt.")
@click.option("--budget", metavar="AMOUNT",
              help="Cost limit of the run in the catalog's currency (USD), from its live "
                   "estimate.")
@click.option("--on-budget", type=click.Choice(["warn", "stop"]), default="warn",
              show_default=True,
              help="At the budget: warn, or stop the command (SIGTERM, SIGKILL after a grace "
                   "period).")
@click.option("-q", "--quiet", is_flag=True, help="Print no summary at the end.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="[--] COMMAND [ARGS]...")
def run(name, project, tags, params, objective, interval, store, metric_pattern, metrics_file,
        provider, instance_type, instance_id, region, lifecycle, run_id, hypothesis, expect,
        experiment, resume_ref, budget, on_budget, quiet, command) -> None:
    """Run COMMAND, sample its whole process tree and GPUs, record it, and print what it cost.

    \b
    Examples:
      xprof run -- python train.py --lr 3e-4 --epochs 5
      xprof run --objective val_acc:max --tag team=vision python train.py
      xprof run --metric-pattern 'loss=(?P<loss>[0-9.]+)' -- ./train.sh

    xprof's own options end at the first word of COMMAND (or at --). xprof exits with the
    command's exit code (128+N if signal N killed it, 127 if it was not found, 126 if it is
    not executable). Scripts log metrics with `import xprof; xprof.log(step=i, loss=x)` or by
    printing lines such as `xprof: {"val_acc": 0.91}`.
    """
    from xprof.agent.guard_rails import Expectation, parse_budget

    try:  # --expect val_acc '>=' 0.9: the help's three words, the last two before COMMAND
        expectation, command = (Expectation.from_words(expect, list(command)) if expect
                                else (None, list(command)))
    except ValueError as exc:
        raise BadInput(f"--expect {exc}") from exc
    if not command:
        raise BadInput("no command given; e.g. xprof run -- python train.py")
    if metric_pattern:
        try:
            re.compile(metric_pattern)
        except re.error as exc:
            raise BadInput(f"--metric-pattern {metric_pattern!r}: {exc}") from exc
    try:
        budget_amount = parse_budget(budget) if budget else None
    except ValueError as exc:
        raise BadInput(f"--budget {exc}") from exc
    tag_map = parse_pairs(tags, "--tag")
    param_map = parse_pairs(params, "--param")
    objective_pair = parse_objective(objective)
    try:
        settings = Settings(flags={"store": store, "interval": interval, "provider": provider,
                                   "instance_type": instance_type, "instance_id": instance_id,
                                   "region": region, "lifecycle": lifecycle})
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc
    try:
        check_store(settings.store_url)
    except StoreError as exc:
        raise BadInput(str(exc)) from exc
    resumed = resolve_resume(resume_ref, settings.store_url) if resume_ref else None
    setup_logging()
    from xprof.agent.runner import RunOptions
    from xprof.agent.runner import run as run_command

    code = run_command(RunOptions(
        command=list(command), settings=settings, name=name, project=project, tags=tag_map,
        params=param_map, objective=objective_pair, metric_pattern=metric_pattern,
        metrics_file=metrics_file, quiet=quiet, run_id=run_id, hypothesis=hypothesis,
        expectation=expectation, experiment=experiment, resumed=resumed, budget=budget_amount,
        on_budget=on_budget))
    # Everything is stored; skip the interpreter's teardown of SQLAlchemy & co (tens of ms
    # on the child-exit-to-xprof-exit budget). Daemon helpers still running are abandoned.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
