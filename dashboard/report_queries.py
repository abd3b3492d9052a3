"""The SQL the weekly report needs beyond :mod:`xprof.dashboard.queries` (which it also uses).

Same counting rule as the dashboard: a run's cost is :func:`xprof.store.counted_costs` (billed
replaces the estimate), idle cost is the ``kind = 'idle'`` rows of the chosen basis. A cost
belongs to a period by its ``period_start`` (start inclusive, end exclusive), as in
:func:`queries.spend`. Sums happen in SQL; pandas receives one row per run or per group.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from xprof import schema
from xprof.dashboard.sql_frames import sql_frame, with_effective_status
from xprof.store import Store, counted_costs

_r = schema.runs
_h = schema.run_hosts
_c = schema.costs


def _idle_in(basis: str, start: dt.datetime, end: dt.datetime) -> sa.ColumnElement[bool]:
    """Idle cost rows of ``basis`` whose period starts in [start, end)."""
    return sa.and_(_c.c.kind == "idle", _c.c.basis == basis, _c.c.period_start >= start,
                   _c.c.period_start < end)


def _counted(basis: str, start: dt.datetime, end: dt.datetime) -> sa.Subquery:
    cc = counted_costs(basis).subquery("counted")
    return (sa.select(cc).where(cc.c.period_start >= start, cc.c.period_start < end)
            .subquery("in_period"))


def period_totals(store: Store, start: dt.datetime, end: dt.datetime, *,
                  basis: str = "billed", project: str | None = None) -> pd.DataFrame:
    """Spend in [start, end) per kind (run | idle), source (billed | estimate) and currency:
    amount (Decimal sum of known amounts), rows, unknown (rows without an amount), runs.

    With ``project``, only that project's run cost (idle cost belongs to no project).
    """
    cc = _counted(basis, start, end)
    runs_q = (sa.select(sa.literal("run").label("kind"), cc.c.source, cc.c.currency,
                        schema.money_sum(cc.c.amount).label("amount"),
                        sa.func.count().label("rows"),
                        (sa.func.count() - sa.func.count(cc.c.amount)).label("unknown"),
                        sa.func.count(sa.distinct(cc.c.run_id)).label("runs"))
              .group_by(cc.c.source, cc.c.currency))
    if project is not None:
        runs_q = runs_q.join_from(cc, _r, _r.c.id == cc.c.run_id).where(_r.c.project == project)
    idle_q = (sa.select(sa.literal("idle").label("kind"), _c.c.source, _c.c.currency,
                        schema.money_sum(_c.c.amount).label("amount"),
                        sa.func.count().label("rows"),
                        (sa.func.count() - sa.func.count(_c.c.amount)).label("unknown"),
                        sa.literal(0).label("runs"))
              .where(_idle_in(basis, start, end))
              .group_by(_c.c.source, _c.c.currency))
    with store.read() as conn:
        frames = [sql_frame(conn, runs_q)]
        if project is None:
            frames.append(sql_frame(conn, idle_q))
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=["kind", "source", "currency", "amount", "rows", "unknown",
                                     "runs"])
    return pd.concat(frames, ignore_index=True)


def spend_by_start(store: Store, start: dt.datetime, end: dt.datetime, *,
                   basis: str = "billed", project: str | None = None) -> pd.DataFrame:
    """Run and idle cost in [start, end) per period start, currency and source (Decimal sums),
    for days in any time zone: the caller buckets ``period_start`` into local days."""
    cc = _counted(basis, start, end)
    runs_q = (sa.select(cc.c.period_start, cc.c.currency, cc.c.source,
                        schema.money_sum(cc.c.amount).label("amount"))
              .group_by(cc.c.period_start, cc.c.currency, cc.c.source))
    if project is not None:
        runs_q = runs_q.join_from(cc, _r, _r.c.id == cc.c.run_id).where(_r.c.project == project)
    idle_q = (sa.select(_c.c.period_start, _c.c.currency, sa.literal("idle").label("source"),
                        schema.money_sum(_c.c.amount).label("amount"))
              .where(_idle_in(basis, start, end))
              .group_by(_c.c.period_start, _c.c.currency))
    with store.read() as conn:
        frames = [sql_frame(conn, runs_q)]
        if project is None:
            frames.append(sql_frame(conn, idle_q))
    return pd.concat(frames, ignore_index=True)


def run_spend(store: Store, start: dt.datetime, end: dt.datetime, *, basis: str = "billed",
              project: str | None = None) -> pd.DataFrame:
    """One row per run and currency with cost in [start, end): the run's fields (effective
    status) and amount (Decimal sum, None when no row of it is known), source, rows, known,
    reason (why an amount is unknown)."""
    cc = _counted(basis, start, end)
    per_run = (sa.select(cc.c.run_id, cc.c.currency,
                         sa.func.max(cc.c.source).label("source"),
                         schema.money_sum(cc.c.amount).label("amount"),
                         sa.func.count().label("rows"),
                         sa.func.count(cc.c.amount).label("known"),
                         sa.func.max(cc.c.detail["reason"].as_string()).label("reason"))
               .group_by(cc.c.run_id, cc.c.currency).subquery("per_run"))
    query = (sa.select(
        _r.c.id.label("run_id"), _r.c.name, _r.c.project, _r.c.user, _r.c.status,
        sa.case((_r.c.status == "running", _r.c.heartbeat_at)).label("heartbeat_at"),
        _r.c.flush_interval_s, _r.c.instance_type, _r.c.cloud_provider.label("provider"),
        _r.c.started_at, _r.c.duration_s, per_run.c.currency, per_run.c.source,
        per_run.c.amount, per_run.c.rows, per_run.c.known, per_run.c.reason)
        .select_from(per_run.join(_r, _r.c.id == per_run.c.run_id)))
    if project is not None:
        query = query.where(_r.c.project == project)
    with store.read() as conn:
        frame = sql_frame(conn, query)
    return with_effective_status(frame)


def unpriced_run_list(store: Store, start: dt.datetime, end: dt.datetime, *,
                      basis: str = "billed", project: str | None = None) -> pd.DataFrame:
    """Runs started in [start, end) with no counted cost row at all: not priced yet."""
    cc = counted_costs(basis).subquery("counted")
    query = (sa.select(_r.c.id.label("run_id"), _r.c.name, _r.c.project, _r.c.user,
                       _r.c.status,
                       sa.case((_r.c.status == "running", _r.c.heartbeat_at)).label(
                           "heartbeat_at"),
                       _r.c.flush_interval_s, _r.c.instance_type,
                       _r.c.cloud_provider.label("provider"), _r.c.started_at, _r.c.duration_s)
             .where(_r.c.started_at >= start, _r.c.started_at < end,
                    ~sa.exists().where(cc.c.run_id == _r.c.id))
             .order_by(_r.c.started_at))
    if project is not None:
        query = query.where(_r.c.project == project)
    with store.read() as conn:
        return with_effective_status(sql_frame(conn, query))


def run_status_counts(store: Store, start: dt.datetime, end: dt.datetime, *,
                      project: str | None = None) -> pd.DataFrame:
    """Runs started in [start, end) per stored status (a stale `running` one is counted by
    the caller as crashed): status, runs; plus the running rows' heartbeats."""
    query = (sa.select(_r.c.status, sa.func.count().label("runs"))
             .where(_r.c.started_at >= start, _r.c.started_at < end)
             .group_by(_r.c.status))
    running = (sa.select(_r.c.status, _r.c.heartbeat_at, _r.c.flush_interval_s)
               .where(_r.c.started_at >= start, _r.c.started_at < end,
                      _r.c.status == "running"))
    if project is not None:
        query = query.where(_r.c.project == project)
        running = running.where(_r.c.project == project)
    with store.read() as conn:
        counts = sql_frame(conn, query)
        live = with_effective_status(sql_frame(conn, running))
    out = {s: int(n) for s, n in zip(counts["status"], counts["runs"], strict=True)}
    crashed = int((live["status"] == "crashed").sum()) if len(live) else 0
    if crashed:
        out["running"] = out.get("running", 0) - crashed
        out["crashed"] = out.get("crashed", 0) + crashed
        if not out["running"]:
            del out["running"]
    return pd.DataFrame({"status": list(out), "runs": list(out.values())})


def projects_started(store: Store, start: dt.datetime, end: dt.datetime) -> set[str]:
    """Projects with a run started in [start, end)."""
    query = (sa.select(_r.c.project).distinct()
             .where(_r.c.started_at >= start, _r.c.started_at < end))
    with store.read() as conn:
        return {row.project for row in conn.execute(query)}


def gpu_runs(store: Store, start: dt.datetime, end: dt.datetime, *, basis: str = "billed",
             project: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """What GPU-hours need, for runs on a GPU machine whose time overlaps [start, end).

    Returns (runs, hosts, costs): runs has run_id, host, instance_id, started_at, ended_at
    (end or last heartbeat), duration_s, hardware, summary; hosts has the run_hosts rows
    (run_id, host, instance_id, started_at, ended_at, hardware, summary) of those runs;
    costs has each run's whole cost per currency (run_id, currency, amount, rows, known).
    """
    gpu_count = _r.c.hardware["gpu_count"].as_integer()
    host_gpus = _h.c.hardware["gpu_count"].as_integer()
    run_end = sa.func.coalesce(_r.c.ended_at, _r.c.heartbeat_at)
    has_gpu_host = sa.exists().where(_h.c.run_id == _r.c.id, host_gpus > 0)
    selected = (sa.select(_r.c.id).where(_r.c.started_at < end, run_end > start,
                                         sa.or_(gpu_count > 0, has_gpu_host)))
    if project is not None:
        selected = selected.where(_r.c.project == project)
    selected_ids = selected.scalar_subquery()
    runs_q = sa.select(_r.c.id.label("run_id"), _r.c.host, _r.c.instance_id, _r.c.started_at,
                       run_end.label("ended_at"), _r.c.duration_s, _r.c.hardware,
                       _r.c.summary).where(_r.c.id.in_(selected_ids))
    hosts_q = sa.select(_h.c.run_id, _h.c.host, _h.c.instance_id, _h.c.started_at,
                        sa.func.coalesce(_h.c.ended_at, _h.c.heartbeat_at).label("ended_at"),
                        _h.c.hardware, _h.c.summary).where(_h.c.run_id.in_(selected_ids))
    cc = counted_costs(basis).subquery("counted")
    costs_q = (sa.select(cc.c.run_id, cc.c.currency, schema.money_sum(cc.c.amount).label("amount"),
                         sa.func.count().label("rows"),
                         sa.func.count(cc.c.amount).label("known"))
               .where(cc.c.run_id.in_(selected_ids)).group_by(cc.c.run_id, cc.c.currency))
    with store.read() as conn:
        return sql_frame(conn, runs_q), sql_frame(conn, hosts_q), sql_frame(conn, costs_q)


def runs_started(store: Store, start: dt.datetime, end: dt.datetime, project: str) -> int:
    """How many runs of ``project`` started in [start, end)."""
    query = (sa.select(sa.func.count()).select_from(_r)
             .where(_r.c.project == project, _r.c.started_at >= start, _r.c.started_at < end))
    with store.read() as conn:
        return int(conn.execute(query).scalar())
