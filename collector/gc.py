"""Retention: raw samples older than a horizon become one-minute aggregates.

``downsample`` folds the ``samples`` and ``gpu_samples`` of ended runs (finished, failed,
killed or crashed) that are older than the horizon into ``samples_1m`` / ``gpu_samples_1m``:
one row per run, host (and device) and UTC minute, with the count of raw samples and the
min, mean, max and p95 of every numeric field (the last uuid and attribution of the minute,
and whether the run used the device at all in it). Nothing else changes: the runs' rows
(summary, cpu_seconds, peak_rss_bytes), costs, recommendations and metrics stay as they
were, so every figure computed at a run's end stays exact. Running runs are left alone.

Minutes are whole: the horizon is rounded down to a minute, so a later pass never splits a
minute an earlier pass folded. Should raw samples of an already folded minute arrive later
(a late ``xprof sync``), the two are merged: min and max exactly, the mean weighted by
sample counts, p95 as the larger of the two (an upper bound).

Work is done one run, host and hour of samples at a time, each in its own transaction, so
agents writing meanwhile wait a moment at most and memory stays small. SQLite stores are
then VACUUMed to give the space back to the file system (VACUUM needs free disk space about
the size of the store while it runs).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from xprof import schema
from xprof.collector.writes import fold_into_rollups, repair_rollups
from xprof.records import GPU_FIELDS, SAMPLE_FIELDS, Field
from xprof.stats import percentile
from xprof.store import Store, effective_status, utcnow
from xprof.storeurl import sqlite_path

MINUTE = schema.ROLLUP_SECONDS
WINDOW_S = 3_600.0  # one transaction per run, host and hour of samples
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_keep(text: str) -> dt.timedelta:
    """``30d``, ``12h``, ``2w``, ``90m`` as a timedelta; ValueError otherwise."""
    match = _SPAN.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r}: expected a span such as 30d, 12h, 2w or 90m")
    return dt.timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


@dataclass(frozen=True)
class Series:
    """A raw series, its rollup table, and the columns that identify one device."""

    raw: sa.Table
    rollup: sa.Table
    fields: tuple[Field, ...]  # numeric fields folded into min/mean/max/p95
    keys: tuple[str, ...]  # besides run_id and ts: host (and gpu_index, mig_index)


SERIES = (
    Series(schema.samples, schema.samples_1m, schema.rollup_fields(SAMPLE_FIELDS), ("host",)),
    Series(schema.gpu_samples, schema.gpu_samples_1m, schema.rollup_fields(GPU_FIELDS),
           ("host", "gpu_index", "mig_index")),
)


@dataclass
class GcResult:
    """What a pass did (or, with dry_run, would do)."""

    cutoff: dt.datetime
    dry_run: bool
    runs: int = 0
    skipped_running: int = 0
    raw_before: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    rollups_added: dict[str, int] = field(default_factory=dict)
    bytes_before: int | None = None
    bytes_after: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff.isoformat(), "dry_run": self.dry_run, "runs": self.runs,
                "skipped_running": self.skipped_running, "raw_before": self.raw_before,
                "removed": self.removed, "rollups_added": self.rollups_added,
                "bytes_before": self.bytes_before, "bytes_after": self.bytes_after}


# -- aggregation (pure) ------------------------------------------------------------------------
def fold_minute(rows: Sequence[dict[str, Any]], fields: Sequence[Field]) -> dict[str, Any]:
    """One minute's raw rows (in time order) as a rollup row's values (without its keys)."""
    out: dict[str, Any] = {"samples": len(rows)}
    for f in fields:
        values = [r[f.name] for r in rows if r[f.name] is not None
                  and not (isinstance(r[f.name], float) and math.isnan(r[f.name]))]
        if not values:
            out.update({f"{f.name}_min": None, f"{f.name}_mean": None, f"{f.name}_max": None,
                        f"{f.name}_p95": None})
            continue
        out[f"{f.name}_min"] = min(values)
        out[f"{f.name}_max"] = max(values)
        out[f"{f.name}_mean"] = math.fsum(values) / len(values)
        out[f"{f.name}_p95"] = percentile(values, 95)
    if "uuid" in rows[0]:  # gpu_samples: the device's text columns
        for name in ("uuid", "attribution"):
            out[name] = next((r[name] for r in reversed(rows) if r[name] is not None), None)
        used = [r["used_by_run"] for r in rows if r["used_by_run"] is not None]
        out["used_by_run"] = any(used) if used else None
    return out


def merge_rollups(old: dict[str, Any], new: dict[str, Any], fields: Sequence[Field]
                  ) -> dict[str, Any]:
    """Two rollups of one minute as one (see the module's note on late samples)."""
    merged = dict(old)
    n_old, n_new = old["samples"], new["samples"]
    merged["samples"] = n_old + n_new
    for f in fields:
        pairs = {stat: (old[f"{f.name}_{stat}"], new[f"{f.name}_{stat}"])
                 for stat in schema.ROLLUP_STATS}
        for stat, pick in (("min", min), ("max", max), ("p95", max)):
            known = [v for v in pairs[stat] if v is not None]
            merged[f"{f.name}_{stat}"] = pick(known) if known else None
        a, b = pairs["mean"]
        merged[f"{f.name}_mean"] = (a if b is None else b if a is None
                                    else (a * n_old + b * n_new) / (n_old + n_new))
    if "uuid" in new:
        for name in ("uuid", "attribution"):
            merged[name] = new[name] if new[name] is not None else old[name]
        used = [v for v in (old["used_by_run"], new["used_by_run"]) if v is not None]
        merged["used_by_run"] = any(used) if used else None
    return merged


def _minutes(rows: Iterable[dict[str, Any]], keys: Sequence[str]
             ) -> dict[tuple, list[dict[str, Any]]]:
    """Rows in time order grouped by (keys..., minute start), each group in time order."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        ident = (*(row[k] for k in keys), math.floor(row["ts"] / MINUTE) * MINUTE)
        groups.setdefault(ident, []).append(row)
    return groups


# -- the pass ----------------------------------------------------------------------------------
def store_bytes(store: Store) -> int | None:
    """Bytes of a SQLite store on disk (with its WAL); None for other engines."""
    path = sqlite_path(store.url)
    if path is None:
        return None
    return sum(os.path.getsize(p) for p in (path, f"{path}-wal") if os.path.exists(p))


def _eligible_runs(store: Store, cutoff_ts: float, now: dt.datetime
                   ) -> tuple[list[str], int]:
    """Ids of ended runs with raw samples older than the cutoff, and how many running
    runs were skipped."""
    ids: set[str] = set()
    with store.read() as conn:
        for series in SERIES:
            ids |= set(conn.execute(sa.select(series.raw.c.run_id).where(
                series.raw.c.ts < cutoff_ts).distinct()).scalars())
        if not ids:
            return [], 0
        r = schema.runs
        rows = conn.execute(sa.select(r.c.id, r.c.status, r.c.heartbeat_at,
                                      r.c.flush_interval_s).where(r.c.id.in_(sorted(ids)))
                            ).all()
    running = [row.id for row in rows if effective_status(
        row.status, row.heartbeat_at, row.flush_interval_s, now) == "running"]
    return sorted({row.id for row in rows} - set(running)), len(running)


def _count_raw(store: Store) -> dict[str, int]:
    with store.read() as conn:
        return {s.raw.name: conn.execute(sa.select(sa.func.count()).select_from(s.raw)).scalar()
                for s in SERIES}


def _fold_window(conn: sa.Connection, series: Series, run_id: str, host: str, lo: float,
                 hi: float, write: bool) -> tuple[int, int]:
    """Fold one run's and host's raw rows with lo <= ts < hi; (raw rows removed, rollup rows
    added)."""
    raw, rollup = series.raw, series.rollup
    where = (raw.c.run_id == run_id, raw.c.host == host, raw.c.ts >= lo, raw.c.ts < hi)
    found = conn.execute(sa.select(raw).where(*where).order_by(*raw.primary_key.columns))
    names = list(found.keys())
    rows = [dict(zip(names, row, strict=True)) for row in found]
    if not rows:
        return 0, 0
    ident_keys = (*series.keys, "ts")
    folded = [{"run_id": run_id, **dict(zip(ident_keys, ident, strict=True)),
               **fold_minute(group, series.fields)}
              for ident, group in _minutes(rows, series.keys).items()]
    mine = (rollup.c.run_id == run_id, rollup.c.host == host, rollup.c.ts >= lo,
            rollup.c.ts < hi)
    existing = {tuple(m[k] for k in ident_keys): dict(m) for m in conn.execute(
        sa.select(rollup).where(*mine)).mappings()}
    added = 0
    for row in folded:
        ident = tuple(row[k] for k in ident_keys)
        if ident in existing:
            row.update(merge_rollups(existing.pop(ident), row, series.fields))
        else:
            added += 1
    if write:
        merged = len(folded) > added  # some minutes were merged: rewrite the hour's rollups
        if merged:
            folded += existing.values()
        fold_into_rollups(conn, raw, where, rollup, mine if merged else None, folded)
    return len(rows), added


def _fold_run(store: Store, series: Series, run_id: str, cutoff_ts: float,
              result: GcResult) -> None:
    """Fold a run's rows older than the cutoff, host by host and hour by hour, on one
    connection (each hour its own transaction; a dry run only reads)."""
    raw = series.raw
    with store.read() as conn:
        hosts = conn.execute(sa.select(raw.c.host, sa.func.min(raw.c.ts), sa.func.max(raw.c.ts))
                             .where(raw.c.run_id == run_id, raw.c.ts < cutoff_ts)
                             .group_by(raw.c.host)).all()
    options = {"xprof_read": True} if result.dry_run else {}
    with store.engine.connect() as conn:
        conn = conn.execution_options(**options)
        for host, first, last in hosts:
            lo = math.floor(first / MINUTE) * MINUTE
            while lo <= last:
                hi = min(lo + WINDOW_S, cutoff_ts)
                with conn.begin():
                    removed, added = _fold_window(conn, series, run_id, host, lo, hi,
                                                  not result.dry_run)
                result.removed[raw.name] += removed
                result.rollups_added[series.rollup.name] += added
                lo = hi


def downsample(store: Store, keep_raw: dt.timedelta, *, dry_run: bool = False,
               now: dt.datetime | None = None, vacuum: bool = True,
               progress: Callable[[str], None] | None = None) -> GcResult:
    """Fold raw samples older than ``now - keep_raw`` into one-minute rollups (see above)."""
    now = now or utcnow()
    cutoff_ts = math.floor((now - keep_raw).timestamp() / MINUTE) * MINUTE
    result = GcResult(cutoff=dt.datetime.fromtimestamp(cutoff_ts, dt.UTC), dry_run=dry_run)
    result.bytes_before = store_bytes(store)
    result.raw_before = _count_raw(store)
    result.removed = {s.raw.name: 0 for s in SERIES}
    result.rollups_added = {s.rollup.name: 0 for s in SERIES}
    run_ids, result.skipped_running = _eligible_runs(store, cutoff_ts, now)
    result.runs = len(run_ids)
    for index, run_id in enumerate(run_ids, 1):
        if progress:
            progress(f"[{index}/{len(run_ids)}] run {run_id[:8]}")
        for series in SERIES:
            _fold_run(store, series, run_id, cutoff_ts, result)
    if not dry_run:  # the per-run rollups of runs whose agent never wrote its end
        repair_rollups(store)
    if not dry_run and vacuum and sum(result.removed.values()):
        vacuum_sqlite(store)
    result.bytes_after = store_bytes(store) if not dry_run else result.bytes_before
    return result


def vacuum_sqlite(store: Store) -> None:
    """Give a SQLite store's free pages back to the file system (no-op elsewhere)."""
    if not store.is_sqlite:
        return
    raw = store.engine.raw_connection()
    try:
        conn = raw.driver_connection
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


# -- what a run's series still tell, raw and folded together ---------------------------------
def series_totals(store: Store, run_id: str) -> dict[str, Any]:
    """Exact figures over a run's whole series, the same before and after ``gc``: sample
    count, peak RSS, CPU cores max, last cumulative CPU seconds, and per GPU its peak
    utilisation and memory. (Percentiles are not among them: a run's p95 is kept in its
    summary, computed from every raw sample at its end.)"""
    s, m = schema.samples, schema.samples_1m
    g, gm = schema.gpu_samples, schema.gpu_samples_1m

    def top(*values: Any) -> Any:
        known = [v for v in values if v is not None]
        return max(known) if known else None

    with store.read() as conn:
        raw = conn.execute(sa.select(
            sa.func.count(), sa.func.max(s.c.rss_bytes), sa.func.max(s.c.cpu_cores),
            sa.func.max(s.c.cpu_seconds_total)).where(s.c.run_id == run_id)).one()
        folded = conn.execute(sa.select(
            sa.func.coalesce(sa.func.sum(m.c.samples), 0), sa.func.max(m.c.rss_bytes_max),
            sa.func.max(m.c.cpu_cores_max), sa.func.max(m.c.cpu_seconds_total_max))
            .where(m.c.run_id == run_id)).one()
        gpus: dict[int, dict[str, Any]] = {}
        for table, util, mem, own, count in (
                (g, g.c.util_gpu_pct, g.c.mem_used_bytes, g.c.run_mem_used_bytes,
                 sa.func.count()),
                (gm, gm.c.util_gpu_pct_max, gm.c.mem_used_bytes_max, gm.c.run_mem_used_bytes_max,
                 sa.func.sum(gm.c.samples))):
            for index, n, u, b, o in conn.execute(sa.select(
                    table.c.gpu_index, count, sa.func.max(util), sa.func.max(mem),
                    sa.func.max(own)).where(table.c.run_id == run_id, table.c.mig_index == -1)
                    .group_by(table.c.gpu_index)):
                known = gpus.setdefault(index, {"samples": 0, "util_max": None,
                                                "mem_used_max": None, "run_mem_max": None})
                known["samples"] += int(n or 0)
                known["util_max"] = top(known["util_max"], u)
                known["mem_used_max"] = top(known["mem_used_max"], b)
                known["run_mem_max"] = top(known["run_mem_max"], o)
    return {"samples": raw[0] + int(folded[0]),
            "rss_peak_bytes": top(raw[1], folded[1]),
            "cpu_cores_max": top(raw[2], folded[2]),
            "cpu_seconds_total": top(raw[3], folded[3]),
            "gpus": {i: gpus[i] for i in sorted(gpus)}}

