"""The SQL the weekly report needs beyond :mod:`xprof.dashboard.queries` (which it also uses).

Same counting rule as the dashboard: a run's cost is :func:`xprof.store.counted_costs` (billed
replaces the estimate), idle cost is the ``kind = 'idle'`` rows of the chosen basis. A cost
belongs to a period by its ``period_start`` (start inclusive, end exclusive), as in
:func:`queries.spend`. Sums happen in SQL; pandas receives one row per run or per group.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

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


def period_totals(store: Store, start: dt.datetime, end: dt.datetime, *,
                  basis: str = "billed", project: str | None = None,
                  runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Spend in [start, end) per kind (run | idle), source (billed | estimate) and currency:
    amount (Decimal sum of known amounts), rows, unknown (rows without an amount), runs.

    With ``project``, only that project's run cost (idle cost belongs to no project).
    ``runs``: the run part when the caller has it (:func:`spend_groups`' ``total``).
    """
    pr = per_run_costs(basis, start, end, project=project)
    runs_q = (sa.select(sa.literal("run").label("kind"), pr.c.source, pr.c.currency,
                        schema.money_sum(pr.c.amount).label("amount"),
                        _count(pr.c.rows).label("rows"),
                        _count(pr.c.rows - pr.c.known).label("unknown"),
                        sa.func.count(sa.distinct(pr.c.run_id)).label("runs"))
              .group_by(pr.c.source, pr.c.currency))
    idle_q = (sa.select(sa.literal("idle").label("kind"), _c.c.source, _c.c.currency,
                        schema.money_sum(_c.c.amount).label("amount"),
                        sa.func.count().label("rows"),
                        (sa.func.count() - sa.func.count(_c.c.amount)).label("unknown"),
                        sa.literal(0).label("runs"))
              .where(_idle_in(basis, start, end))
              .group_by(_c.c.source, _c.c.currency))
    with store.read() as conn:
        frames = [sql_frame(conn, runs_q) if runs is None else runs.assign(kind="run")]
        if project is None:
            frames.append(sql_frame(conn, idle_q))
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=["kind", "source", "currency", "amount", "rows", "unknown",
                                     "runs"])
    return pd.concat(frames, ignore_index=True)


_EXACT_NANOS = 9 * 10**18  # nano-units a rollup's cost holds exactly on SQLite (64 bits)


def _no_affinity(money: sa.ColumnElement) -> sa.ColumnElement:
    """A Money column as an expression: SQLite gives the column of a UNION the affinity of its
    first SELECT's column, which would turn a sum beyond 64 bits (text) into a float."""
    return sa.type_coerce(sa.type_coerce(money, sa.BigInteger) + 0, schema.Money)


def _exact(money: sa.ColumnElement) -> sa.ColumnElement:
    """The rollup's cost is exact (within what a SQLite rollup keeps). The column is wrapped
    (``coalesce(cost, NULL)``: the same value) so that SQLite scans the rollups once rather
    than skip-scanning the leaderboard's (project, objective, currency, cost) index for the
    range: 0.2 s instead of 0.03 s at 100 k runs, and the report reads them six times."""
    value = sa.func.coalesce(money, sa.null(), type_=money.type)
    return sa.type_coerce(value, sa.BigInteger).between(-_EXACT_NANOS, _EXACT_NANOS)


def _day_of(column: sa.ColumnElement, bounds: Sequence[dt.datetime]) -> sa.ColumnElement:
    """Which of the period's days (0, 1, ...) the instant ``column`` falls in, given the
    first instant of every day after the first (local midnights, UTC)."""
    if not bounds:
        return sa.literal(0)
    return sa.case(*((column < b, i) for i, b in enumerate(bounds)), else_=len(bounds))


def per_run_costs(basis: str, start: dt.datetime, end: dt.datetime, *,
                  project: str | None = None, days: Sequence[dt.datetime] | None = None,
                  whole_runs: bool = True) -> sa.Subquery:
    """Each run's cost in [start, end): one row per run, currency (and day, with ``days``,
    the first instant of every day after the first): run_id, project, user, instance_type,
    provider, status (the rollup's: stored), day, currency, source, amount (Decimal sum,
    None when no row is known), rows, known (rows with an amount), reason (why an amount is
    unknown).

    A run whose counted rows all lie in the period (in one day, with ``days``), all known, in
    one currency, under 9e9 units (a SQLite rollup keeps no more exactly), is read from its
    rollup (:mod:`xprof.rollups`: the sum by the one rule,
    :func:`counted_costs`); the others (a run whose cost crosses the period's edge, an unknown
    price, two currencies) from their counted cost rows in the period.
    """
    ro = schema.run_rollups
    cost, first, last = (ro.c[f"{what}_{basis}"] for what in ("cost", "cost_first", "cost_last"))
    exact = _exact(cost)
    whole = sa.and_(ro.c[f"cost_state_{basis}"].in_(("billed", "estimate")), first >= start,
                    last < end, exact)
    if days:
        whole = sa.and_(whole, _day_of(first, days) == _day_of(last, days))
    keys = [ro.c.run_id, ro.c.project, ro.c.user, ro.c.instance_type, ro.c.provider,
            ro.c.status]
    own = [] if project is None else [ro.c.project == project]
    from_rollups = sa.select(
        *keys, _day_of(first, days or ()).label("day"),
        ro.c[f"currency_{basis}"].label("currency"),
        ro.c[f"cost_source_{basis}"].label("source"), _no_affinity(cost).label("amount"),
        ro.c[f"cost_rows_{basis}"].label("rows"), ro.c[f"cost_rows_{basis}"].label("known"),
        ro.c[f"cost_reason_{basis}"].label("reason")).where(whole, *own)
    cc = counted_costs(basis).subquery("counted")
    rows = (sa.select(cc, _day_of(cc.c.period_start, days or ()).label("day"))
            .where(cc.c.period_start >= start, cc.c.period_start < end).subquery("in_period"))
    # the few runs read from their rows, found first (one scan of the rollups; MATERIALIZED
    # keeps SQLite from walking the rollups in run_id order, a lookup per row)
    edge = (sa.select(*keys).where(first < end, last >= start, ~whole, *own)
            .cte(f"edge_{basis}").prefix_with("MATERIALIZED"))
    keys = [edge.c[k.key] for k in keys]
    from_rows = (sa.select(
        *keys, rows.c.day, rows.c.currency, sa.func.max(rows.c.source).label("source"),
        schema.money_sum(rows.c.amount).label("amount"), sa.func.count().label("rows"),
        sa.func.count(rows.c.amount).label("known"),
        sa.func.max(rows.c.detail["reason"].as_string()).label("reason"))
        .select_from(edge.join(rows, rows.c.run_id == edge.c.run_id))
        .group_by(*keys, rows.c.day, rows.c.currency))
    if not whole_runs:  # only the runs read from their rows (an unknown amount is one)
        return from_rows.subquery("per_run")
    return sa.union_all(from_rollups, from_rows).subquery("per_run")


def _count(column: sa.ColumnElement) -> sa.ColumnElement:
    """A sum of counts, as an integer on both engines (0 when there is no row)."""
    return sa.cast(sa.func.coalesce(sa.func.sum(column), 0), sa.BigInteger)


SPEND_BY = ("project", "user", "instance_type", "provider")


def spend_groups(store: Store, start: dt.datetime, end: dt.datetime, *, basis: str = "billed",
                 project: str | None = None) -> dict[str, pd.DataFrame]:
    """Run cost in [start, end), summed in one statement over :func:`per_run_costs`:

    - per ``by`` in SPEND_BY: what :func:`queries.spend` gives (``by``, currency, source,
      amount, runs, unknown), ordered by ``by`` and currency;
    - ``total``: per source and currency: amount, rows, unknown, runs (as
      :func:`period_totals`);
    - ``status``: per stored status and currency: amount, runs, unknown (the caller reads
      runs stored as `running` again: :func:`running_spend`).
    """
    pr = per_run_costs(basis, start, end, project=project)
    cells = [pr.c.project, pr.c.user, pr.c.instance_type, pr.c.provider, pr.c.status,
             pr.c.currency, pr.c.source]
    cube = (sa.select(*cells, schema.money_sum(pr.c.amount).label("amount"),
                      sa.func.count().label("runs"), _count(pr.c.rows).label("rows"),
                      _count(pr.c.rows - pr.c.known).label("unknown"))
            .group_by(*cells).cte("cube").prefix_with("MATERIALIZED"))

    def part(name: str, key: sa.ColumnElement | None, source: sa.ColumnElement) -> sa.Select:
        keys = [] if key is None else [key]
        return (sa.select(sa.literal(name).label("grouping"),
                          (sa.cast(sa.null(), sa.String) if key is None else key).label("key"),
                          cube.c.currency, source.label("source"),
                          schema.money_sum(cube.c.amount).label("amount"),
                          _count(cube.c.runs).label("runs"), _count(cube.c.rows).label("rows"),
                          _count(cube.c.unknown).label("unknown"))
                .group_by(*keys, cube.c.currency, *([] if name == "status" else [source])))

    parts = [part(by, cube.c[by], cube.c.source) for by in SPEND_BY]
    parts += [part("total", None, cube.c.source),
              part("status", cube.c.status, sa.cast(sa.null(), sa.String))]
    query = sa.union_all(*parts).order_by("grouping", "key", "currency")
    with store.read() as conn:
        frame = sql_frame(conn, query)
    out = {}
    for name in (*SPEND_BY, "total", "status"):
        mine = frame[frame["grouping"] == name].drop(columns="grouping").reset_index(drop=True)
        out[name] = mine.rename(columns={"key": name})
    out["total"] = out["total"].drop(columns="total")
    out["status"] = out["status"].drop(columns="source")
    return out


def running_spend(store: Store, start: dt.datetime, end: dt.datetime, *,
                  basis: str = "billed", project: str | None = None) -> pd.DataFrame:
    """Per run whose rollup says `running`, with cost in [start, end): its effective status
    now, currency, amount, runs (1), unknown (rows without an amount)."""
    pr = per_run_costs(basis, start, end, project=project)
    query = (sa.select(_r.c.status, _r.c.heartbeat_at, _r.c.flush_interval_s, pr.c.currency,
                       pr.c.amount, sa.literal(1).label("runs"),
                       (pr.c.rows - pr.c.known).label("unknown"))
             .select_from(pr.join(_r, _r.c.id == pr.c.run_id)).where(pr.c.status == "running"))
    with store.read() as conn:
        return with_effective_status(sql_frame(conn, query))


def spend_by_day(store: Store, start: dt.datetime, end: dt.datetime,
                 days: Sequence[dt.datetime], *, basis: str = "billed",
                 project: str | None = None) -> pd.DataFrame:
    """Run and idle cost in [start, end) per day of the period (0, 1, ...: ``days`` holds the
    first instant of every day after the first), currency and source (billed | estimate |
    idle): amount (Decimal sums)."""
    pr = per_run_costs(basis, start, end, project=project, days=days)
    runs_q = (sa.select(pr.c.day, pr.c.currency, pr.c.source,
                        schema.money_sum(pr.c.amount).label("amount"))
              .group_by(pr.c.day, pr.c.currency, pr.c.source))
    idle = (sa.select(_c.c.currency, _c.c.amount,
                      _day_of(_c.c.period_start, days).label("day"))
            .where(_idle_in(basis, start, end)).subquery("idle"))
    idle_q = (sa.select(idle.c.day, idle.c.currency, sa.literal("idle").label("source"),
                        schema.money_sum(idle.c.amount).label("amount"))
              .group_by(idle.c.day, idle.c.currency))
    with store.read() as conn:
        frames = [sql_frame(conn, runs_q)]
        if project is None:
            frames.append(sql_frame(conn, idle_q))
    return pd.concat(frames, ignore_index=True)


def _run_columns() -> list[sa.ColumnElement]:
    """The run's fields a report entry shows, with what its effective status needs."""
    return [_r.c.id.label("run_id"), _r.c.name, _r.c.project, _r.c.user, _r.c.status,
            sa.case((_r.c.status == "running", _r.c.heartbeat_at)).label("heartbeat_at"),
            _r.c.flush_interval_s, _r.c.instance_type, _r.c.cloud_provider.label("provider"),
            _r.c.started_at, _r.c.duration_s]


def _spent(pr: sa.Subquery) -> list[sa.ColumnElement]:
    return [pr.c.currency, pr.c.source, pr.c.amount, pr.c.rows, pr.c.known, pr.c.reason]


def run_spend_top(store: Store, start: dt.datetime, end: dt.datetime, top: int, *,
                  basis: str = "billed", project: str | None = None) -> pd.DataFrame:
    """Per currency, the runs whose known cost in [start, end) is among the ``top`` largest
    (every run tied with the last of them included): the run's fields (effective status),
    currency, source, amount, rows, known, reason. The caller orders and cuts."""
    pr = per_run_costs(basis, start, end, project=project)
    place = sa.func.rank().over(partition_by=pr.c.currency, order_by=pr.c.amount.desc())
    ranked = (sa.select(pr, place.label("place"))
              .where(pr.c.amount.is_not(None), pr.c.known == pr.c.rows).subquery("ranked"))
    query = (sa.select(*_run_columns(), *_spent(ranked))
             .select_from(ranked.join(_r, _r.c.id == ranked.c.run_id))
             .where(ranked.c.place <= top))
    with store.read() as conn:
        return with_effective_status(sql_frame(conn, query))


def run_spend_unknown(store: Store, start: dt.datetime, end: dt.datetime, *,
                      basis: str = "billed", project: str | None = None) -> pd.DataFrame:
    """Runs with cost rows in [start, end) whose amount is unknown: the run's fields
    (effective status), currency, source, amount, rows, known, reason. (A run whose rollup
    holds its cost has none unknown: only the others are read.)"""
    pr = per_run_costs(basis, start, end, project=project, whole_runs=False)
    query = (sa.select(*_run_columns(), *_spent(pr))
             .select_from(pr.join(_r, _r.c.id == pr.c.run_id))
             .where(pr.c.known < pr.c.rows))
    with store.read() as conn:
        return with_effective_status(sql_frame(conn, query))


def unpriced_run_list(store: Store, start: dt.datetime, end: dt.datetime, *,
                      basis: str = "billed", project: str | None = None) -> pd.DataFrame:
    """Runs started in [start, end) with no counted cost row at all: not priced yet (their
    rollup says so)."""
    ro = schema.run_rollups
    query = (sa.select(*_run_columns()).select_from(ro.join(_r, _r.c.id == ro.c.run_id))
             .where(ro.c.started_at >= start, ro.c.started_at < end,
                    ro.c[f"cost_state_{basis}"] == "not priced")
             .order_by(_r.c.started_at))
    if project is not None:
        query = query.where(ro.c.project == project)
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
    (run_id, host, instance_id, started_at, ended_at, hardware, summary) of those runs that
    ran on several hosts or whose own row has no GPU count (the others need none);
    costs has the whole cost of each run with one known cost in one currency (run_id,
    currency, amount, rows, known: its rollup, read with the run, or its cost rows where the
    rollup cannot hold the amount exactly; the others have no price per GPU-hour).
    """
    gpu_count = _r.c.hardware["gpu_count"].as_integer()
    host_gpus = _h.c.hardware["gpu_count"].as_integer()
    run_end = sa.func.coalesce(_r.c.ended_at, _r.c.heartbeat_at)
    has_gpu_host = sa.exists().where(_h.c.run_id == _r.c.id, host_gpus > 0)
    overlaps = [_r.c.started_at < end, run_end > start]
    if project is not None:
        overlaps.append(_r.c.project == project)
    ro = schema.run_rollups
    cost = ro.c[f"cost_{basis}"]
    runs_q = (sa.select(_r.c.id.label("run_id"), _r.c.host, _r.c.instance_id, _r.c.started_at,
                        run_end.label("ended_at"), _r.c.duration_s, _r.c.hardware,
                        _r.c.summary, ro.c[f"currency_{basis}"].label("currency"),
                        _no_affinity(cost).label("amount"),
                        ro.c[f"cost_rows_{basis}"].label("rows"),
                        _exact(cost).label("exact"))
              .select_from(_r.outerjoin(ro, ro.c.run_id == _r.c.id))
              .where(*overlaps, sa.or_(gpu_count > 0, has_gpu_host)))
    # a run's host rows matter when it ran on several hosts or its own row has no GPU count
    several = (sa.select(_h.c.run_id).group_by(_h.c.run_id)
               .having(sa.func.count(sa.distinct(_h.c.host)) > 1))
    no_gpus = sa.select(_r.c.id).where(*overlaps, sa.func.coalesce(gpu_count, 0) <= 0,
                                       has_gpu_host)
    hosts_q = sa.select(_h.c.run_id, _h.c.host, _h.c.instance_id, _h.c.started_at,
                        sa.func.coalesce(_h.c.ended_at, _h.c.heartbeat_at).label("ended_at"),
                        _h.c.hardware, _h.c.summary).where(
        sa.or_(_h.c.run_id.in_(several.scalar_subquery()),
               _h.c.run_id.in_(no_gpus.scalar_subquery())))
    with store.read() as conn:
        found = sql_frame(conn, runs_q)
        hosts = sql_frame(conn, hosts_q)
        priced = found[found["amount"].notna()]
        exact = priced["exact"].map(bool).astype(bool)
        beyond = priced.loc[~exact, "run_id"].tolist()
        mine = priced.loc[exact, ["run_id", "currency", "amount", "rows"]]
        costs = [mine.assign(known=mine["rows"])]
        if beyond:
            cc = counted_costs(basis).subquery("counted")
            costs.append(sql_frame(conn, sa.select(
                cc.c.run_id, cc.c.currency, schema.money_sum(cc.c.amount).label("amount"),
                sa.func.count().label("rows"), sa.func.count(cc.c.amount).label("known"))
                .where(cc.c.run_id.in_(beyond)).group_by(cc.c.run_id, cc.c.currency)))
    hosts = hosts[hosts["run_id"].isin(found["run_id"])].reset_index(drop=True)
    runs = found.drop(columns=["currency", "amount", "rows", "exact"])
    return runs, hosts, pd.concat(costs, ignore_index=True)


def runs_started(store: Store, start: dt.datetime, end: dt.datetime, project: str) -> int:
    """How many runs of ``project`` started in [start, end)."""
    query = (sa.select(sa.func.count()).select_from(_r)
             .where(_r.c.project == project, _r.c.started_at >= start, _r.c.started_at < end))
    with store.read() as conn:
        return int(conn.execute(query).scalar())
