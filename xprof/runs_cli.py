"""``xprof ls``, ``xprof show``, ``xprof rm``, ``xprof config``: reading what runs recorded."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import click

from xprof.cli import BadInput, parse_pairs
from xprof.money import currency_label, format_given, format_money
from xprof.numbers import number
from xprof.process_facts import failed_rows, failed_text, memory_text
from xprof.settings import ConfigError, Settings
from xprof.storeurl import StoreError, redact_url
from xprof.terminal import printable
from xprof.units import cores_text, cpu_seconds_text, human_duration

TAIL_LINES = 20  # output lines `xprof show` prints of a run that did not finish


def open_store(url: str | None):
    """The store named by --store / XPROF_STORE / the default; BadInput if it cannot open."""
    from xprof.store import Store  # lazy: SQLAlchemy, not for --help

    try:
        settings = Settings(flags={"store": url})
        return Store.open(settings.store_url)
    except (ConfigError, StoreError) as exc:
        raise BadInput(str(exc)) from exc


def store_option(func: Callable) -> Callable:
    return click.option("--store", metavar="URL",
                        help="Store URL (default: $XPROF_STORE, else $XPROF_HOME/xprof.db).")(func)


def output_options(func: Callable) -> Callable:
    """--json for pipes; a table for people (the default)."""

    @click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


def to_jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def parse_since(value: str | None) -> dt.datetime | None:
    """``2026-11-01``, an ISO time, or a span back from now: ``30m``, ``12h``, ``7d``."""
    if not value:
        return None
    match = re.fullmatch(r"(\d+)([mhdw])", value.strip())
    if match:
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match.group(2)]
        return dt.datetime.now(dt.UTC) - dt.timedelta(**{unit: int(match.group(1))})
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadInput(f"--since {value!r}: expected a date (2026-11-01), a time or a span "
                       "such as 12h or 7d") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def with_live_costs(db, runs: list[dict[str, Any]], costs: dict[str, dict]) -> dict[str, dict]:
    """Running runs' cost so far (catalog estimate up to now), next to the stored costs."""
    running = [r for r in runs if r["status"] == "running" and r["id"] not in costs]
    if not running:
        return costs
    from xprof.collector.estimate import live_estimate  # lazy: the catalog, only for ls

    costs = dict(costs)
    for run in running:
        try:
            estimate = live_estimate(db, run)
        except Exception:  # a listing never fails on a cost it cannot compute
            continue
        costs[run["id"]] = {"amount": estimate.amount, "currency": estimate.currency,
                            "source": "live", "upper_bound": estimate.upper_bound}
    return costs


def format_cost(cost: dict[str, Any] | None) -> str:
    """``~$1.20`` estimated, ``$1.20`` billed, ``≤`` an upper bound, ``… so far`` live."""
    if not cost:
        return "-"
    if cost["amount"] is None:
        return "unknown"
    money = format_money(Decimal(cost["amount"]), cost["currency"])
    if cost["source"] == "live":
        return f"~{money} so far"
    mark = "" if cost["source"] == "billed" else "~"
    bound = "≤" if cost.get("upper_bound") else ""
    return f"{bound}{mark}{money}"


def print_table(rows: list[list[str]], headers: list[str]) -> None:
    rows = [[printable(c) for c in row] for row in rows]  # stored user text: no escapes
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@click.command()
@click.option("--project", help="Only runs of this project.")
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="Only runs with this tag.")
@click.option("--status", type=click.Choice(["running", "finished", "failed", "killed",
                                             "crashed"]), help="Only runs in this state.")
@click.option("--since", metavar="WHEN", help="Only runs started since: 2026-11-01, 12h, 7d.")
@click.option("-n", "--limit", type=int, default=50, show_default=True, help="At most N runs.")
@click.option("--experiments", is_flag=True,
              help="One line per experiment (--experiment/--resume): attempts, summed "
                   "duration and cost.")
@store_option
@output_options
def ls(project, tags, status, since, limit, experiments, store, as_json) -> None:
    """List recent runs, newest first.

    \b
    Examples:
      xprof ls --project digits --since 7d
      xprof ls --status crashed --json | jq '.[].id'
    """
    tag_map = parse_pairs(tags, "--tag")
    since_at = parse_since(since)
    db = open_store(store)
    if experiments:
        _list_experiments(db, project, limit, as_json)
        return
    runs = db.list_runs(project=project, status=status, since=since_at, tags=tag_map,
                        limit=limit)
    costs = with_live_costs(db, runs, db.run_costs([r["id"] for r in runs]))
    scored = objective_scores(db, runs, costs)
    if as_json:
        click.echo(json.dumps([to_jsonable({
            k: r[k] for k in ("id", "name", "project", "status", "exit_code", "started_at",
                              "ended_at", "duration_s", "instance_type", "cloud_provider")}
            | {"cost": costs.get(r["id"])} | _objective_json(scored, r["id"]))
            for r in runs], indent=2))
        return
    if not runs:
        click.echo("No runs yet. Record one with: xprof run -- python train.py", err=True)
        return
    headers = ["ID", "NAME", "PROJECT", "STATUS", "STARTED (UTC)", "DURATION", "COST"]
    rows = [[r["id"][:8], r["name"], r["project"], r["status"],
             r["started_at"].strftime("%Y-%m-%d %H:%M"),
             human_duration(r["duration_s"]) if r["duration_s"] is not None else "-",
             format_cost(costs.get(r["id"]))] for r in runs]
    if scored:
        name, _mode, values, scores, per = scored

        def score_text(run_id: str) -> str:
            if run_id not in scores:
                return "—"
            if per == "per money":  # several currencies: each cell says its own
                return f"{number(scores[run_id])} per {currency_label(costs[run_id]['currency'])}"
            return number(scores[run_id])

        headers += [name.upper(), f"{name.upper()} {per.upper()}"]
        rows = [[*row, number(values.get(r["id"])), score_text(r["id"])]
                for row, r in zip(rows, runs, strict=True)]
    print_table(rows, headers)


def declared_objective(runs: list[dict[str, Any]]) -> tuple[str, str] | None:
    """The ``--objective`` (name, mode) most of the runs declared; None when none did."""
    declared = Counter((r["objective_name"], r["objective_mode"] or "max") for r in runs
                       if r.get("objective_name"))
    return declared.most_common(1)[0][0] if declared else None


def objective_scores(db, runs: list[dict[str, Any]], costs: dict[str, dict]
                     ) -> tuple[str, str, dict[str, float], dict[str, float], str] | None:
    """For runs of one project with an objective: its name and mode, each run's last value,
    each run's metric per unit of money (:mod:`xprof.efficiency`, the dashboard's rule: a
    minimised objective's baseline is the project's worst value) and the "per $" label
    ("per money" when the runs' costs are in several currencies); None otherwise. Without
    pandas (the dashboard extra) the scores are left out."""
    projects = {r["project"] for r in runs}
    objective = declared_objective(runs) if len(projects) == 1 else None
    if objective is None:
        return None
    name, mode = objective
    values = db.last_metric_values(name, project=projects.pop())
    currencies = {c["currency"] for c in costs.values() if c.get("currency")}
    try:
        import pandas as pd  # lazy and optional: the score needs the dashboard extra

        from xprof.efficiency import default_baseline, efficiency
    except ImportError:
        return name, mode, values, {}, "per money"
    ids = [r["id"] for r in runs]
    baseline = default_baseline(pd.Series(list(values.values()), dtype="float64"), mode)
    money = pd.Series([(costs.get(i) or {}).get("amount") for i in ids], dtype=object)
    score = efficiency(pd.Series([values.get(i, float("nan")) for i in ids], dtype="float64"),
                       money, mode, baseline)
    per = ("per money" if len(currencies) > 1
           else f"per {currency_label(currencies.pop())}" if currencies else "per $")
    return name, mode, values, {i: float(s) for i, s in zip(ids, score, strict=True)
                                if s == s}, per


def _objective_json(scored: tuple | None, run_id: str) -> dict[str, Any]:
    """``xprof ls --json``: the objective's name, mode, value and metric per unit of money
    (in the run's cost currency) where the project declared one."""
    if not scored:
        return {}
    name, mode, values, scores, _per = scored
    return {"objective": {"name": name, "mode": mode, "value": values.get(run_id),
                          "per_money": scores.get(run_id)}}


def _list_experiments(db, project: str | None, limit: int, as_json: bool) -> None:
    rows = db.experiments(project)[:limit]
    if as_json:
        click.echo(json.dumps(to_jsonable(rows), indent=2))
        return
    if not rows:
        click.echo("No experiments yet: group attempts with `xprof run --experiment NAME` "
                   "or `--resume RUN`.", err=True)
        return

    def cost_text(row) -> str:
        text = " + ".join(format_cost({"amount": a, "currency": c, "source": "billed"})
                          for c, a in sorted(row["cost"].items())) or "-"
        return text + (f" ({row['unpriced']} unpriced)" if row["unpriced"] else "")

    print_table([[r["experiment"], r["project"], str(len(r["attempts"])), r["status"],
                  human_duration(r["duration_s"]), cost_text(r),
                  str(r["interruptions"]) if r["interruptions"] else "-"] for r in rows],
                ["EXPERIMENT", "PROJECT", "ATTEMPTS", "LAST STATUS", "DURATION", "COST",
                 "SPOT INTERRUPTIONS"])


@click.command()
@click.argument("run_ref", metavar="RUN")
@store_option
@output_options
def show(run_ref, store, as_json) -> None:
    """Show everything recorded about RUN (an id, a unique id prefix, or a name).

    \b
    Example:
      xprof show brisk-otter-17
    """
    db = open_store(store)
    try:
        run = db.find_run(run_ref)
    except StoreError as exc:
        raise BadInput(str(exc)) from exc
    details = db.run_details(run["id"])
    record = {**run, **details,
              "cost": with_live_costs(db, [run], db.run_costs([run["id"]])).get(run["id"])}
    if as_json:
        click.echo(json.dumps(to_jsonable(record), indent=2))
        return
    imported = "mlflow.experiment_id" in details["tags"]  # xprof import mlflow: not measured
    click.echo(printable("\n".join(_identity_lines(run, record["cost"], details["costs"],
                                                   imported)
                                   + _story_lines(run, (record["cost"] or {}).get("currency")
                                                  or "USD")
                                   + _detail_lines(details) + _tail_lines(run)), lines=True))


def _tail_lines(run: dict[str, Any], last: int = TAIL_LINES) -> list[str]:
    """``xprof show`` of a run that did not finish: the last lines of its output (where a
    traceback ends)."""
    tail = run.get("output_tail")
    if not tail or run["status"] == "finished":
        return []
    lines = tail.rstrip("\n").splitlines()[-last:]
    return [f"  output     last {len(lines)} lines:"] + [f"    {line}" for line in lines]


def _estimate_note(cost: dict[str, Any] | None, rows: list[dict[str, Any]]) -> str:
    """What an estimate's cost line adds: a stale catalog price (with its date), or why the
    cost is unknown."""
    if not cost or cost.get("source") != "estimate":
        return ""
    details = [r.get("detail") or {} for r in rows
               if r.get("source") == "estimate" and r.get("kind") == "run"]
    reason = next((d["reason"] for d in details if d.get("reason")), None)
    if cost.get("amount") is None and reason:
        return f" ({reason})"
    stale = next((d for d in details if d.get("price_stale")), None)
    if stale:
        return f" (price as of {stale.get('price_as_of')}, stale: `xprof prices update`)"
    return ""


def _identity_lines(run: dict[str, Any], cost: dict[str, Any] | None,
                    cost_rows: list[dict[str, Any]] = (), imported: bool = False) -> list[str]:
    """``xprof show``: who, where, when, what it used and cost (an unknown figure as "—",
    "imported" where the run was imported, not measured)."""
    summary = run.get("summary") or {}
    unknown = "imported" if imported else "—"

    def shown(value: Any) -> Any:
        return unknown if value is None else value

    cores = "imported" if imported and summary.get("cpu_cores_p50") is None else None
    cpu_s = "imported CPU-s" if imported and run["cpu_seconds"] is None else None
    memory = {**summary, "rss_peak_bytes": summary.get("rss_peak_bytes", run["peak_rss_bytes"])}
    mem_text = unknown if imported and memory["rss_peak_bytes"] is None else memory_text(memory)
    lines = [
        f"{run['name']}  ({run['id']})",
        f"  project    {run['project']}",
        f"  status     {run['status']}  exit {shown(run['exit_code'])}",
        f"  started    {run['started_at']:%Y-%m-%d %H:%M:%S} UTC  duration "
        f"{human_duration(run['duration_s'])}",
        f"  command    {' '.join(run['command'])}",
        f"  host       {run['host']}  user {run['user'] or '—'}  {run['os'] or '—'}  "
        f"Python {run['python'] or '—'}",
        f"  cloud      {run['cloud_provider'] or '-'} {run['instance_type'] or ''} "
        f"{run['cloud_region'] or ''} {run['lifecycle'] or ''}".rstrip(),
        f"  cpu        p50 {cores or cores_text(summary.get('cpu_cores_p50'))} · p95 "
        f"{cores or cores_text(summary.get('cpu_cores_p95'))} cores · "
        f"{cpu_s or cpu_seconds_text(run['cpu_seconds'])}",
        f"  memory     {mem_text}",
        f"  cost       {format_cost(cost)}{_estimate_note(cost, list(cost_rows))}",
    ]
    failed = failed_text(summary, shown=0)
    if failed:
        lines.append(f"  warning    {failed.split(':')[0]}:")
        lines += [f"    pid {row['pid']:<7} {row['ended']:<9} {row['command']}"
                  for row in failed_rows(summary)]
    return lines


def _story_lines(run: dict[str, Any], currency: str = "USD") -> list[str]:
    """``xprof show``: experiment, hypothesis, budget and git, where recorded."""
    lines: list[str] = []
    if run.get("experiment"):
        lines.append(f"  experiment {run['experiment']} attempt {run['attempt']}"
                     + (f" (resumes {run['resumed_from'][:8]})" if run.get("resumed_from") else ""))
    if run.get("hypothesis") or run.get("expectation"):
        reason = (run.get("summary") or {}).get("outcome_reason")
        lines.append(f"  hypothesis {run.get('hypothesis') or ''} [{run.get('expectation') or '-'}]"
                     f" -> {run.get('outcome') or 'pending'}" + (f": {reason}" if reason else ""))
    if run.get("budget") is not None:
        lines.append(f"  budget     {format_given(Decimal(run['budget']), currency)}"
                     + (" (stopped by budget)" if run.get("stopped_by") == "budget" else ""))
    if run.get("git"):
        git = run["git"]
        lines.append(f"  git        {git.get('repo')} {git.get('branch')} "
                     f"{(git.get('commit') or '')[:12]}{' dirty' if git.get('dirty') else ''}")
    return lines


def _detail_lines(details: dict[str, Any]) -> list[str]:
    """``xprof show``: params, tags, last metrics, sample counts and advice."""
    lines: list[str] = []
    for title, mapping in (("params", details["params"]), ("tags", details["tags"])):
        if mapping:
            lines.append(f"  {title:<10} " + " ".join(f"{k}={v}" for k, v in mapping.items()))
    if details["metrics"]:
        lines.append("  metrics    " + " ".join(
            f"{k}={m['value']:g}" for k, m in details["metrics"].items()))
    counts = details["counts"]
    lines.append(f"  recorded   {counts['samples']} samples, {counts['gpu_samples']} GPU samples,"
                 f" {counts['metrics']} metric values")
    for rec in details["recommendations"]:
        lines.append(f"  advice     [{rec['status']}] {rec['title']}")
    return lines


@click.command()
@click.argument("run_refs", nargs=-1, required=True, metavar="RUN...")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@store_option
def rm(run_refs, yes, store) -> None:
    """Delete runs (ids, unique id prefixes or names) with their samples, metrics and costs.

    \b
    Example:
      xprof rm brisk-otter-17 -y
    """
    db = open_store(store)
    try:
        runs = [db.find_run(ref) for ref in run_refs]
    except StoreError as exc:
        raise BadInput(str(exc)) from exc
    names = printable(", ".join(f"{r['name']} ({r['id'][:8]})" for r in runs))
    if not yes:
        click.confirm(f"Delete {names}?", abort=True, err=True)
    count = db.delete_runs(r["id"] for r in runs)
    click.echo(f"Deleted {count} run{'s' if count != 1 else ''}: {names}", err=True)


@click.command()
@store_option
@output_options
def config(store, as_json) -> None:
    """Show every setting: its value, where it came from, its environment variable and meaning.

    Settings come from flags, then environment variables, then $XPROF_HOME/config.toml
    (keys as listed here), then defaults; FROM names the one that gave each value.

    \b
    Example:
      xprof config --json
    """
    try:
        settings = Settings(flags={"store": store})
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc
    items = [(s, "(secret)" if s.secret and v is not None else
              redact_url(v) if isinstance(v, str) else v) for s, v in settings.items()]
    if as_json:
        click.echo(json.dumps({s.key: {"value": v, "from": settings.source(s.key)}
                               for s, v in items}, indent=2, default=str))
        return
    print_table([[s.key, repr(v), settings.source(s.key), s.env or "", s.doc] for s, v in items],
                ["KEY", "VALUE", "FROM", "ENV", "MEANING"])
