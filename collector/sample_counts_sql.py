"""A run's :class:`~xprof.sample_counts.SampleCounts` built from its stored rows in SQL, for a
run whose agent kept none (an older agent, a crash before the run's end): the same buckets,
the same pairing of a host sample with its tick's GPU readings (same time), the same GPU-busy
value (GPUs touched so far; GPU-idle before the first touch), so advice from either is the
same. Three grouped queries; no row is read back one by one."""

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


def _busy(run: dict[str, Any]) -> Any:
    """Per GPU tick: the highest SM and memory utilisation among the GPUs touched so far
    (``any_touched``), and whether any GPU gave a utilisation (``any_util``)."""
    g = schema.gpu_samples
    mine = sa.and_(g.c.run_id == run["id"], g.c.host == run["host"])
    mig = sa.select(g.c.gpu_index).where(mine, g.c.mig_index >= 0).distinct()
    firsts = (sa.select(g.c.gpu_index.label("gpu_index"), sa.func.min(g.c.ts).label("first"))
              .where(mine, g.c.mig_index == -1, g.c.used_by_run).group_by(g.c.gpu_index)
              .subquery())
    touched = sa.and_(firsts.c.first.is_not(None), g.c.ts >= firsts.c.first)
    return (sa.select(g.c.ts.label("ts"),
                      sa.func.max(sa.case((touched, g.c.util_gpu_pct))).label("sm"),
                      sa.func.max(sa.case((touched, g.c.util_mem_pct))).label("mem"),
                      sa.func.max(sa.case((touched, 1), else_=0)).label("any_touched"),
                      sa.func.max(sa.case((g.c.util_gpu_pct.is_not(None), 1), else_=0))
                      .label("any_util"))
            .select_from(g.outerjoin(firsts, firsts.c.gpu_index == g.c.gpu_index))
            .where(mine, g.c.mig_index == -1, g.c.gpu_index.not_in(mig))
            .group_by(g.c.ts).subquery())


def _ticks(run: dict[str, Any]) -> Any:
    """Each host sample with its tick's GPU-busy value (``sm`` None: no GPU reading)."""
    s = schema.samples
    busy = _busy(run)
    sm = sa.case((busy.c.any_touched == 1, busy.c.sm), (busy.c.any_util == 1, 0.0))
    mem = sa.case((busy.c.any_touched == 1, busy.c.mem))
    return (sa.select(s.c.ts, s.c.cpu_cores, s.c.rss_bytes, s.c.host_iowait_pct,
                      s.c.host_mem_available_bytes, sm.label("sm"), mem.label("mem"))
            .select_from(s.outerjoin(busy, busy.c.ts == s.c.ts))
            .where(s.c.run_id == run["id"], s.c.host == run["host"]).subquery())


def sample_counts_sql(store: Store, run: dict[str, Any]) -> SampleCounts:
    """The run's counts, from its ``samples`` and ``gpu_samples`` rows of its host."""
    t = _ticks(run)
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

