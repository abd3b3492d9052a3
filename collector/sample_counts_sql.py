"""A run's :class:`~xprof.sample_counts.SampleCounts` built from its stored rows in SQL, for a
run whose agent kept none (an older agent, a crash before the run's end): the same buckets,
the same pairing of a host sample with its tick's GPU readings (same time), the same GPU-busy
value (GPUs touched so far; GPU-idle before the first touch), so advice from either is the
same. Three grouped queries, without joins (PostgreSQL planned the former join of host and
GPU ticks as a nested loop on fresh tables); no row is read back one by one."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from xprof import schema
from xprof.sample_counts import (
    BUCKET_EPS,
    CORES_STEP,
    GPU_IDLE_PCT,
    IOWAIT_STEP,
    SampleCounts,
    add_count,
    idle_share,
    util_bucket,
)
from xprof.store import Store


def _ceil(store: Store, x: Any) -> Any:
    """ceil(x) for x >= 0 (0 below), the same on SQLite (no math functions needed) and
    PostgreSQL (whose CAST rounds)."""
    if store.is_sqlite:
        whole = sa.cast(x, sa.Integer)
        up = whole + sa.case((x > whole, 1), else_=0)
    else:
        up = sa.cast(sa.func.ceil(x), sa.Integer)
    return sa.case((x <= 0, 0), else_=up)


def _bucket(store: Store, column: Any, step: float) -> Any:
    return sa.case((column.is_(None), None), else_=_ceil(store, column / step - BUCKET_EPS))


HOST_COLUMNS = ("cpu_cores", "rss_bytes", "host_iowait_pct", "host_mem_available_bytes")


def _first_touches(conn: Any, run: dict[str, Any]) -> dict[int, float]:
    """When the run first used each GPU (not in MIG mode): one small grouped query."""
    g = schema.gpu_samples
    return dict(conn.execute(
        sa.select(g.c.gpu_index, sa.func.min(g.c.ts))
        .where(g.c.run_id == run["id"], g.c.host == run["host"], g.c.mig_index == -1,
               g.c.used_by_run).group_by(g.c.gpu_index)).all())


def _gpu_ticks(run: dict[str, Any], firsts: dict[int, float]) -> Any:
    """Per GPU reading: its SM and memory utilisation where the run had touched its GPU by
    then (``firsts``, as literals: no join, so no plan of the database can turn it into a
    loop over the run's readings), and whether it gave a utilisation."""
    g = schema.gpu_samples
    mine = sa.and_(g.c.run_id == run["id"], g.c.host == run["host"])
    mig = sa.select(g.c.gpu_index).where(mine, g.c.mig_index >= 0).distinct()
    touched = sa.or_(sa.false(), *(sa.and_(g.c.gpu_index == index, g.c.ts >= first)
                                   for index, first in sorted(firsts.items())))
    return sa.select(
        g.c.ts, *(sa.null().label(c) for c in HOST_COLUMNS),
        sa.case((touched, g.c.util_gpu_pct)).label("sm_t"),
        sa.case((touched, g.c.util_mem_pct)).label("mem_t"),
        sa.case((touched, 1), else_=0).label("touched"),
        sa.case((g.c.util_gpu_pct.is_not(None), 1), else_=0).label("has_util"),
        sa.literal(0).label("is_host")).where(mine, g.c.mig_index == -1,
                                              g.c.gpu_index.not_in(mig))


def _ticks(run: dict[str, Any], firsts: dict[int, float]) -> Any:
    """Each host sample with its tick's GPU-busy value (``sm`` None: no GPU reading): the
    highest SM and memory utilisation among the GPUs touched so far, 0 where no GPU was
    touched but one gave a utilisation. One grouping of the host and GPU rows by time."""
    s = schema.samples
    host = sa.select(s.c.ts, *(s.c[c] for c in HOST_COLUMNS), sa.null().label("sm_t"),
                     sa.null().label("mem_t"), sa.literal(0).label("touched"),
                     sa.literal(0).label("has_util"), sa.literal(1).label("is_host")
                     ).where(s.c.run_id == run["id"], s.c.host == run["host"])
    rows = sa.union_all(host, _gpu_ticks(run, firsts)).subquery()
    sm = sa.case((sa.func.max(rows.c.touched) == 1, sa.func.max(rows.c.sm_t)),
                 (sa.func.max(rows.c.has_util) == 1, sa.literal(0.0)))
    mem = sa.case((sa.func.max(rows.c.touched) == 1, sa.func.max(rows.c.mem_t)))
    return (sa.select(rows.c.ts, *(sa.func.max(rows.c[c]).label(c) for c in HOST_COLUMNS),
                      sm.label("sm"), mem.label("mem"))
            .group_by(rows.c.ts).having(sa.func.max(rows.c.is_host) == 1).subquery())


def sample_counts_sql(store: Store, run: dict[str, Any]) -> SampleCounts:
    """The run's counts, from its ``samples`` and ``gpu_samples`` rows of its host."""
    with store.read() as conn:
        t = _ticks(run, _first_touches(conn, run))
    cores_k = _bucket(store, t.c.cpu_cores, CORES_STEP).label("cores_k")
    iowait_k = _bucket(store, t.c.host_iowait_pct, IOWAIT_STEP).label("iowait_k")
    groups = (sa.select(cores_k, iowait_k, t.c.sm, t.c.mem, sa.func.count())
              .group_by(cores_k, iowait_k, t.c.sm, t.c.mem))
    scalars = sa.select(sa.func.count(), sa.func.max(t.c.rss_bytes),
                        sa.func.min(t.c.host_mem_available_bytes),
                        sa.func.max(sa.case((t.c.sm > GPU_IDLE_PCT, t.c.ts))),
                        sa.func.max(sa.case((t.c.sm.is_not(None), t.c.ts))))
    counts = SampleCounts()
    with store.read() as conn:
        for cores, iowait, sm, mem, n in conn.execute(groups).all():
            util = util_bucket(sm)
            add_count(counts.cores_util, (cores, util), n)
            if iowait is not None:
                add_count(counts.iowait_util, (iowait, util), n)
            if sm is not None:
                add_count(counts.profile, (float(sm), None if mem is None else float(mem)), n)
                add_count(counts.idle_by_cores, cores, idle_share(sm) * n)
        samples, rss, available, active, last = conn.execute(scalars).one()
        tail = sa.select(sa.func.min(t.c.ts), sa.func.count()).where(t.c.sm.is_not(None))
        if active is not None:
            tail = tail.where(t.c.ts > active)
        first_after, after = conn.execute(tail).one()
    counts.host_samples, counts.rss_max, counts.mem_available_min = samples or 0, rss, available
    counts.last_active_ts, counts.last_tick_ts = active, last
    counts.tail_first_ts, counts.tail_ticks = first_after, int(after or 0)
    return counts

