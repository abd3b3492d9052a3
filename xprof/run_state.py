"""A run's status from its heartbeat, a finished run's fields from its hosts' rows, and a new
run's ``run_rollups`` row.

Standard library only: the store (:mod:`xprof.store`) and the agent's light SQLite writer
(:mod:`xprof.agent.sqlite_writer`) both create runs and decide their end with these.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

BASES = ("billed", "effective", "list")  # the cost bases, in the order pages offer them


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def effective_status(status: str, heartbeat_at: dt.datetime | None, flush_interval_s: float,
                     now: dt.datetime | None = None) -> str:
    """A `running` run whose heartbeat is older than three flush intervals has crashed."""
    if status != "running" or heartbeat_at is None:
        return status
    now = now or dt.datetime.now(dt.UTC)
    stale = (now - heartbeat_at).total_seconds() > 3 * flush_interval_s
    return "crashed" if stale else status


def run_from_hosts(hosts: list[dict[str, Any]], states: list[str], started_at: dt.datetime
                   ) -> dict[str, Any]:
    """A finished run's status, end, duration and totals from its hosts' rows (one host: its
    own hardware, summary and cloud too)."""
    status = next((s for s in ("failed", "killed", "crashed") if s in states), "finished")
    ended = [x["ended_at"] or x["heartbeat_at"] for x in hosts]
    started = min([started_at, *(x["started_at"] for x in hosts)])
    codes = [x["exit_code"] for x in hosts if x["exit_code"]]
    first = hosts[0]
    update: dict[str, Any] = {
        "status": status, "exit_code": codes[0] if codes else first["exit_code"],
        "signal": next((x["signal"] for x in hosts if x["signal"]), None),
        "started_at": started, "ended_at": max(ended),
        "duration_s": (max(ended) - started).total_seconds(),
        "cpu_seconds": sum(x["cpu_seconds"] or 0 for x in hosts),
        "peak_rss_bytes": max((x["peak_rss_bytes"] or 0 for x in hosts), default=None),
    }
    if len(hosts) == 1:
        update.update({k: first[k] for k in (
            "hardware", "summary", "cloud_provider", "cloud_account", "cloud_region",
            "cloud_zone", "instance_id", "instance_type", "lifecycle", "cloud")})
    else:
        update["summary"] = {**(first["summary"] or {}), "hosts": len(hosts)}
    return update


def new_rollup(run: dict[str, Any]) -> dict[str, Any]:
    """The ``run_rollups`` row of a run just created: no metric, no cost yet (the full
    recomputation, :func:`xprof.rollups.refresh`, runs at its end)."""
    row = {k: run.get(k) for k in ("project", "name", "status", "started_at", "ended_at",
                                   "duration_s", "instance_type", "user", "objective_name",
                                   "objective_mode")}
    row |= {"run_id": run["id"], "provider": run.get("cloud_provider"),
            "computed_at": utcnow()}
    for basis in BASES:
        row |= {f"cost_state_{basis}": "not priced", f"upper_bound_{basis}": False}
    return row


def new_rollup_counts(project: str) -> list[tuple[str, str, str, str, int, int]]:
    """The ``rollup_counts`` a run's first rollup adds, as rows (project, basis, currency ''
    for none, cost state, runs, priced): one run, not priced, per basis."""
    return [(project, basis, "", "not priced", 1, 0) for basis in BASES]
