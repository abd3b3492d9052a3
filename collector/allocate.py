"""Where a run's billed cost comes from: billing line items split over the runs on a resource.

The cost model (DESIGN.md "Cost model"), applied to every line item billed to a resource that
runs ran on (instance-hours, and data transfer or storage billed to the same resource id):

1. **Matching.** An item's resource id and a run's ``instance_id`` / ``cloud.resource_id`` are
   compared as :func:`~xprof.collector.billing.normalise.resource_key` (an EC2 ARN matches its
   instance id; Azure ids compare case-insensitively).
2. **One source per resource and period.** If several sources bill the same resource for
   the same charge period (CUR and Cost Explorer, two copies of an export), only the best is
   used: CUR, then FOCUS / Azure / BigQuery exports, then Cost Explorer (then by name); an
   item that overlaps a better source's item of another length on the same day (a daily row
   against hourly ones) is dropped too. Nothing is counted twice.
3. **Split, interval by interval** (:mod:`~xprof.collector.machine_share`). The item's period
   is cut at every run's start and end; in each sub-interval the runs active in it hold the
   machine: GPU runs by GPUs held (used / machine GPUs from ``runs.hardware``, scaled to the
   machine if they claim more), CPU-only runs (no GPU used, or unknown) share the rest by
   time, weighted by their measured CPU/memory share where the summary has one. A run's
   held time is Σ sub-interval length × what it held; its fraction of the item is held time
   / the machine's running time in the period. The running time is the period, unless the
   bill states the usage: hours (0.3 Hours in an hour: the largest such figure), or seconds
   (GCP's ``usage.unit`` "seconds": the smallest figure no longer than the period; larger
   ones are several vCPUs' or GPUs' seconds and byte-seconds say nothing of time). So a run
   that covered all the running time pays all of it. If the held time exceeds the stated
   running time (inconsistent usage), the fractions are scaled to the whole item.
4. **Idle.** What no run occupied is idle cost, one row per resource, UTC day, currency and
   basis, ``kind='idle'``, ``run_id`` NULL. Machines billed with no run at all are idle too
   (resources that look like instances: an EC2 ``i-`` id, an Azure virtual machine, a GCP
   Compute instance, an OCI instance, or any item with an instance type).
5. **Rounding.** For every resource, day, currency and basis, the runs' exact shares and the
   idle rest are rounded to nano-units by largest remainder, so Σ run shares + idle = the
   bill exactly. Currencies are never mixed: each row keeps its item's currency.
6. **Bases.** list, billed and effective (amortised commitments) are allocated alike, each
   over the items that have that amount. ``store.run_costs`` takes the ``billed`` basis.
7. **Complete or partial.** A run whose time is fully covered by billed periods of its
   resource (and that has ended) gets ``source='billed'`` rows, which replace its estimate.
   A run billed only in part so far (billing arrives hours to days late) gets
   ``source='billed-partial'`` rows: visible, counted in the conservation sums, but the
   estimate stays its cost until the rest arrives.

The heavy lifting is one DuckDB query over Arrow tables (:func:`allocate_tables`), so the same
code allocates a handful of items in a test and ten million hourly items in the benchmark.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from xprof import schema
from xprof.collector.billing.normalise import (
    connect,
    oversize_as_blobs,
    oversize_nanos_sql,
    resource_key,
    to_arrow,
)
from xprof.collector.billing.store_items import fetch_batches, to_us
from xprof.collector.machine_share import gpu_share, measured_weight
from xprof.collector.writes import RAW_ITEMS, SQLITE_TIME, replace_billed_costs
from xprof.store import Store, effective_status, utcnow

if TYPE_CHECKING:  # pragma: no cover
    import duckdb
    import pyarrow as pa  # heavy, optional (xprof[billing]): only when allocating

DAY_US = 86_400_000_000
BILLED_SOURCES = ("billed", "billed-partial")
BASES = ("billed", "list", "effective")
HOUR_UNITS = ("hours", "hour", "hrs", "hr", "h", "1 hour")
SECOND_UNITS = ("seconds", "second", "secs", "sec", "s")
# Which source wins when several bill one resource on one day (lower is better).
SOURCE_RANK_SQL = """CASE
    WHEN source LIKE 'azure-export-amortized:%' THEN 4
    WHEN source LIKE 'aws-cur:%' THEN 0
    WHEN source LIKE 'focus:%' OR source LIKE 'azure:%' OR source LIKE 'gcp-bq:%' THEN 1
    WHEN source LIKE 'aws-ce:%' THEN 2 ELSE 3 END"""

RUN_COLUMNS = ("run_id", "key", "start_us", "end_us", "gpu_share", "weight", "ended",
               "share_text")
ITEM_COLUMNS = ("source", "resource_id", "period_start_us", "period_end_us", "usage_quantity",
                "usage_unit", "instance_type", "list_nanos", "billed_nanos", "effective_nanos",
                "currency")


# -- runs ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSpan:
    """A run as allocation sees it: when it held which resources, and what it claims of them
    (:mod:`~xprof.collector.machine_share`)."""

    run_id: str
    keys: tuple[str, ...]
    start: dt.datetime
    end: dt.datetime
    used_gpus: int | None  # None: a CPU-only run (no GPU used, or GPU use unknown)
    machine_gpus: int | None
    ended: bool
    weight: Fraction = Fraction(1)  # a CPU-only run's measured weight among CPU-only runs

    @property
    def gpu_share(self) -> Fraction | None:
        if not self.used_gpus or not self.machine_gpus:
            return None
        return Fraction(self.used_gpus, self.machine_gpus)

    @property
    def share_text(self) -> str:
        if self.gpu_share is None:
            return "CPU-only: the machine, time-sliced with overlapping runs"
        return f"{self.used_gpus}/{self.machine_gpus} GPUs"


def run_span(run: dict[str, Any], now: dt.datetime | None = None) -> RunSpan | None:
    """The span of a ``runs`` row, or None if it has no resource id or no time yet."""
    cloud = run.get("cloud") or {}
    keys = tuple(dict.fromkeys(k for k in (resource_key(run.get("instance_id")),
                                           resource_key(cloud.get("resource_id"))) if k))
    if not keys:
        return None
    start = run["started_at"]
    if run.get("ended_at") is not None:
        end, ended = run["ended_at"], True
    elif run.get("duration_s") is not None:
        end, ended = start + dt.timedelta(seconds=float(run["duration_s"])), True
    else:
        end = run.get("heartbeat_at") or start
        status = effective_status(run.get("status") or "running", run.get("heartbeat_at"),
                                  run.get("flush_interval_s") or 2.0, now)
        ended = status != "running"
    if end <= start:
        return None
    used, total = gpu_share(run.get("hardware"))
    return RunSpan(run["id"], keys, start, end, used, total, ended,
                   measured_weight(run.get("hardware"), run.get("summary")))


def load_runs(store: Store, now: dt.datetime | None = None) -> list[RunSpan]:
    """Every run with a resource id (instance id or cloud resource id)."""
    r = schema.runs
    query = sa.select(r.c.id, r.c.instance_id, r.c.cloud, r.c.hardware, r.c.started_at,
                      r.c.ended_at, r.c.duration_s, r.c.heartbeat_at, r.c.status,
                      r.c.flush_interval_s, r.c.summary).where(sa.or_(r.c.instance_id.is_not(None),
                                                         r.c.cloud.is_not(None)))
    with store.read() as conn:
        rows = [dict(m) for m in conn.execute(query).mappings()]
    now = now or utcnow()
    return [span for span in (run_span(row, now) for row in rows) if span is not None]


def runs_table(spans: Iterable[RunSpan]) -> pa.Table:
    """The runs input of :func:`allocate_tables`: one row per (run, resource key)."""
    import pyarrow as pa  # heavy, optional (xprof[billing]): only when allocating

    cols: dict[str, list] = {name: [] for name in RUN_COLUMNS}
    for span in spans:
        for key in span.keys:
            cols["run_id"].append(span.run_id)
            cols["key"].append(key)
            cols["start_us"].append(to_us(span.start))
            cols["end_us"].append(to_us(span.end))
            share = span.gpu_share
            cols["gpu_share"].append(None if share is None else float(share))
            cols["weight"].append(float(span.weight))
            cols["ended"].append(span.ended)
            cols["share_text"].append(span.share_text)
    return pa.table({
        "run_id": pa.array(cols["run_id"], pa.string()), "key": pa.array(cols["key"], pa.string()),
        "start_us": pa.array(cols["start_us"], pa.int64()),
        "end_us": pa.array(cols["end_us"], pa.int64()),
        "gpu_share": pa.array(cols["gpu_share"], pa.float64()),
        "weight": pa.array(cols["weight"], pa.float64()),
        "ended": pa.array(cols["ended"], pa.bool_()),
        "share_text": pa.array(cols["share_text"], pa.string())})


# -- items --------------------------------------------------------------------------------------
def items_table(store: Store, keys: set[str] | None = None) -> pa.Table:
    """The stored billing items with a resource id (only those of ``keys`` if given)."""
    import pyarrow as pa  # heavy, optional (xprof[billing]): only when allocating

    bi = RAW_ITEMS
    times = (bi.c.charge_period_start, bi.c.charge_period_end)
    if store.is_sqlite:  # the stored text, parsed by Arrow: far faster than datetime objects
        times = tuple(sa.type_coerce(c, sa.String) for c in times)
    query = sa.select(bi.c.source, bi.c.resource_id, *times, bi.c.usage_quantity,
                      bi.c.usage_unit, bi.c.instance_type, bi.c.list_cost, bi.c.billed_cost,
                      bi.c.effective_cost, bi.c.currency)
    rows: list[Any] = []
    with store.read() as conn:
        if keys is None:
            rows = conn.execute(query.where(bi.c.resource_id.is_not(None))).all()
        else:
            distinct = conn.execute(sa.select(bi.c.resource_id).where(
                bi.c.resource_id.is_not(None)).distinct()).scalars().all()
            ids = [rid for rid in distinct if resource_key(rid) in keys]
            for i in range(0, len(ids), 500):
                rows.extend(conn.execute(query.where(bi.c.resource_id.in_(ids[i:i + 500]))).all())
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in ITEM_COLUMNS]
    data = dict(zip(ITEM_COLUMNS, columns, strict=True))
    types = {"usage_quantity": pa.float64()}
    out = {}
    for name in ITEM_COLUMNS:
        values = list(data[name])
        if name in ("list_nanos", "billed_nanos", "effective_nanos"):
            out[name] = _nanos_array(values)
        elif name in ("period_start_us", "period_end_us"):
            if store.is_sqlite:
                out[name] = pa.array(values, pa.string()).cast(pa.timestamp("us")).cast(
                    pa.int64())
            else:
                out[name] = pa.array([to_us(v) for v in values], pa.int64())
        else:
            out[name] = pa.array(values, types.get(name, pa.string()))
    return pa.table(out)


def _nanos_array(values: list[Any]) -> pa.Array:
    """Stored nano-units as Arrow: int64 while every value fits (SQLite integers, the usual
    case), else 128-bit decimals (PostgreSQL NUMERIC, or amounts beyond ±9.2e9 units)."""
    import pyarrow as pa  # heavy, optional (xprof[billing]): only when allocating

    nanos = [None if v is None else schema.nanos_of(v) for v in values]
    if all(v is None or schema.fits_int64(v) for v in nanos):
        return pa.array(nanos, pa.int64())
    return pa.array([None if v is None else Decimal(v) for v in nanos], pa.decimal128(38, 0))


# -- the allocation query -----------------------------------------------------------------------
_ALLOCATION_SQL = """
CREATE OR REPLACE TEMP TABLE _res AS
SELECT resource_id, xkey(resource_id) AS key,
       xmachine(resource_id, NULL) OR bool_or(instance_type IS NOT NULL) AS machine
FROM {items} WHERE resource_id IS NOT NULL GROUP BY resource_id;

CREATE OR REPLACE TEMP TABLE _keys AS
SELECT key FROM _res WHERE key IS NOT NULL GROUP BY key HAVING bool_or(machine)
UNION SELECT DISTINCT key FROM {runs};

CREATE OR REPLACE TEMP TABLE _it0 AS
SELECT r.key, i.source, {rank} AS src_rank,
       i.period_start_us AS ps, i.period_end_us AS pe, i.period_start_us // {day} AS day,
       i.usage_quantity AS qty, lower(trim(coalesce(i.usage_unit, ''))) AS unit,
       i.list_nanos AS ln, i.billed_nanos AS bn, i.effective_nanos AS en, i.currency
FROM {items} i JOIN _res r USING (resource_id)
WHERE r.key IN (SELECT key FROM _keys);
{choose}
CREATE OR REPLACE TEMP TABLE _cap AS
SELECT key, ps, pe, least(pe - ps, coalesce(
           max(CASE WHEN unit IN ({hour_units}) AND qty > 0 THEN qty * 3600000000.0 END),
           min(CASE WHEN unit IN ({second_units}) AND qty > 0
                         AND qty * 1000000.0 <= pe - ps THEN qty * 1000000.0 END),
           pe - ps))::DOUBLE AS cap
FROM _it GROUP BY key, ps, pe;

CREATE OR REPLACE TEMP TABLE _seg AS
WITH r AS (
    SELECT run_id, key, start_us AS rs, end_us AS re, gpu_share AS g,
           CASE WHEN gpu_share IS NULL THEN coalesce(weight, 1.0) END AS w
    FROM {runs} WHERE end_us > start_us AND key IN (SELECT DISTINCT key FROM _it)
), cuts AS (
    SELECT DISTINCT key, t FROM (SELECT key, rs AS t FROM r UNION ALL SELECT key, re FROM r)
), seg AS (
    SELECT key, t AS s0, lead(t) OVER (PARTITION BY key ORDER BY t) AS s1 FROM cuts
), active AS (
    SELECT r.run_id, r.key, s.s0, s.s1, r.g, r.w
    FROM seg s JOIN r ON r.key = s.key AND r.rs <= s.s0 AND r.re >= s.s1
    WHERE s.s1 IS NOT NULL
), tot AS (
    SELECT key, s0, coalesce(sum(g), 0) AS g, sum(w) AS w FROM active GROUP BY key, s0
)
SELECT a.run_id, a.key, a.s0, a.s1,
       CASE WHEN a.g IS NOT NULL THEN a.g / greatest(1.0, t.g)
            ELSE (1.0 - least(1.0, t.g)) * a.w / t.w END AS h,
       unnest(generate_series(a.s0 // {day}, (a.s1 - 1) // {day})) AS bucket
FROM active a JOIN tot t USING (key, s0);

CREATE OR REPLACE TEMP TABLE _pf AS
WITH ib AS (
    SELECT iid, key, ps, pe, ps // {day} AS bucket FROM _it WHERE (pe - 1) // {day} = ps // {day}
    UNION ALL
    SELECT iid, key, ps, pe, unnest(generate_series(ps // {day}, (pe - 1) // {day})) AS bucket
    FROM _it WHERE (pe - 1) // {day} > ps // {day}
), pairs AS (
    SELECT b.iid, b.key, b.ps, b.pe, s.run_id,
           sum((least(b.pe, s.s1, (b.bucket + 1) * {day})
                - greatest(b.ps, s.s0, b.bucket * {day})) * s.h) AS held,
           min(greatest(b.ps, s.s0)) AS p0, max(least(b.pe, s.s1)) AS p1
    FROM ib b JOIN _seg s ON b.key = s.key AND b.bucket = s.bucket
    WHERE least(b.pe, s.s1, (b.bucket + 1) * {day}) > greatest(b.ps, s.s0, b.bucket * {day})
    GROUP BY b.iid, b.key, b.ps, b.pe, s.run_id
)
SELECT p.iid, p.run_id, p.p0, p.p1,
       p.held / greatest(c.cap, sum(p.held) OVER (PARTITION BY p.iid)) AS f
FROM pairs p JOIN _cap c ON c.key = p.key AND c.ps = p.ps AND c.pe = p.pe;
DROP TABLE _seg;

CREATE OR REPLACE TEMP TABLE _tot AS
SELECT key, day, currency, string_agg(DISTINCT source, ' | ' ORDER BY source) AS source,
       sum(bn)::HUGEINT AS tb, sum(ln)::HUGEINT AS tl, sum(en)::HUGEINT AS te,
       count(ln) AS nl, count(en) AS ne, min(ps) AS p0, max(pe) AS p1, count(*) AS n
FROM _it GROUP BY key, day, currency;

CREATE OR REPLACE TEMP TABLE _ra AS
SELECT pf.run_id, i.key, i.day, i.currency,
       sum(i.bn * pf.f) AS xb, coalesce(sum(i.ln * pf.f), 0) AS xl,
       coalesce(sum(i.en * pf.f), 0) AS xe,
       min(pf.p0) AS p0, max(pf.p1) AS p1, count(*) AS n
FROM _pf pf JOIN _it i USING (iid) GROUP BY pf.run_id, i.key, i.day, i.currency;

CREATE OR REPLACE TEMP TABLE _cov AS
SELECT key, min(ps) FILTER (WHERE pe - ps <= {day}) AS c0,
       max(pe) FILTER (WHERE pe - ps <= {day}) AS c1
FROM _it GROUP BY key;

CREATE OR REPLACE TEMP TABLE _complete AS
SELECT r.run_id, bool_and(r.ended AND c.c0 IS NOT NULL AND c.c0 <= r.start_us
                          AND c.c1 >= r.end_us) AS complete
FROM {runs} r LEFT JOIN _cov c USING (key)
WHERE r.run_id IN (SELECT DISTINCT run_id FROM _ra) GROUP BY r.run_id;

CREATE OR REPLACE TEMP TABLE _parts AS
WITH totals AS (
    SELECT key, day, currency, source, 'billed' AS basis, tb AS t, p0, p1, n FROM _tot
    UNION ALL SELECT key, day, currency, source, 'list', tl, p0, p1, n FROM _tot WHERE nl > 0
    UNION ALL SELECT key, day, currency, source, 'effective', te, p0, p1, n FROM _tot WHERE ne > 0
), shares AS (
    SELECT run_id, key, day, currency, 'billed' AS basis, xb AS x, p0, p1, n FROM _ra
    UNION ALL SELECT run_id, key, day, currency, 'list', xl, p0, p1, n FROM _ra
    UNION ALL SELECT run_id, key, day, currency, 'effective', xe, p0, p1, n FROM _ra
), run_parts AS (
    SELECT s.*, t.t, t.source FROM shares s
    JOIN totals t USING (key, day, currency, basis)
), idle_parts AS (
    SELECT NULL::VARCHAR AS run_id, t.key, t.day, t.currency, t.basis,
           (t.t - coalesce(s.sx, 0))::DOUBLE AS x, t.p0, t.p1, t.n, t.t, t.source
    FROM totals t LEFT JOIN (SELECT key, day, currency, basis, sum(x) AS sx FROM run_parts
                             GROUP BY key, day, currency, basis) s
    USING (key, day, currency, basis)
)
SELECT run_id, key, day, currency, basis, x, p0, p1, n, t, source FROM run_parts
UNION ALL SELECT run_id, key, day, currency, basis, x, p0, p1, n, t, source FROM idle_parts;

CREATE OR REPLACE TEMP TABLE _alloc AS
WITH f AS (
    SELECT *, floor(x) AS fl, x - floor(x) AS fr FROM _parts
), r AS (
    SELECT *, (t - sum(fl::HUGEINT) OVER g)::DOUBLE AS rest, count(*) OVER g AS cnt,
           row_number() OVER (PARTITION BY key, day, currency, basis
                              ORDER BY fr DESC, run_id NULLS LAST) AS rk
    FROM f WINDOW g AS (PARTITION BY key, day, currency, basis)
)
SELECT CASE WHEN r.run_id IS NULL THEN 'idle' ELSE 'run' END AS kind, r.run_id, r.key,
       r.basis, r.day, r.currency,
       r.fl::HUGEINT + (floor(r.rest / r.cnt) + CASE WHEN r.rk <= r.rest - floor(r.rest / r.cnt)
                                          * r.cnt THEN 1 ELSE 0 END)::HUGEINT AS amount_nanos,
       r.p0 AS period_start_us, r.p1 AS period_end_us, r.n AS items, r.source,
       coalesce(c.complete, true) AS complete
FROM r LEFT JOIN _complete c ON c.run_id = r.run_id;
"""

# One source per resource and period: the best source of each charge period, and no item
# that overlaps a better source's item of another length on the same day.
_CHOOSE_SOURCES = """
CREATE OR REPLACE TEMP TABLE _it1 AS
WITH chosen AS (
    SELECT key, ps, pe, first(source ORDER BY src_rank, source) AS source
    FROM _it0 GROUP BY key, ps, pe)
SELECT i.* FROM _it0 i
SEMI JOIN chosen c ON i.key = c.key AND i.ps = c.ps AND i.pe = c.pe AND i.source = c.source;
DROP TABLE _it0;

CREATE OR REPLACE TEMP TABLE _it AS
SELECT row_number() OVER () AS iid, i.* FROM _it1 i
ANTI JOIN _it1 b ON b.key = i.key AND b.day = i.day AND b.source <> i.source
    AND (b.src_rank < i.src_rank OR (b.src_rank = i.src_rank AND b.source < i.source))
    AND b.ps < i.pe AND b.pe > i.ps;
DROP TABLE _it1;
"""
_ONE_SOURCE = """
CREATE OR REPLACE TEMP TABLE _it AS SELECT row_number() OVER () AS iid, * FROM _it0;
DROP TABLE _it0;
"""

ALLOC_TABLES = ("_res", "_it", "_keys", "_cap", "_pf", "_tot", "_ra", "_cov", "_complete", "_parts")


def run_allocation(con: duckdb.DuckDBPyConnection, items: str, runs: str) -> str:
    """Allocate the items of relation ``items`` over the runs of relation ``runs`` on ``con``.

    ``items`` has :data:`ITEM_COLUMNS`, ``runs`` :data:`RUN_COLUMNS` (views, tables or
    registered Arrow tables). Returns the name of the result table (``_alloc``): one row per
    (kind, run, resource key, basis, UTC day, currency) with ``amount_nanos``.
    """
    several = con.execute(f"SELECT count(DISTINCT source) > 1 FROM {items}").fetchall()[0][0]
    sql = _ALLOCATION_SQL.format(rank=SOURCE_RANK_SQL, day=DAY_US, items=items, runs=runs,
                                 hour_units=", ".join(f"'{u}'" for u in HOUR_UNITS),
                                 second_units=", ".join(f"'{u}'" for u in SECOND_UNITS),
                                 choose=_CHOOSE_SOURCES if several else _ONE_SOURCE)
    con.execute(sql)
    for table in ALLOC_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return "_alloc"


def allocate_tables(items: pa.Table, runs: pa.Table,
                    con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
    """The allocation of Arrow ``items`` over Arrow ``runs``, as an Arrow table (pure);
    ``amount_nanos`` is int64 unless an amount is beyond it (then 128-bit decimals)."""
    con = con or connect()
    con.register("_items_in", items)
    con.register("_runs_in", runs)
    try:
        name = run_allocation(con, "_items_in", "_runs_in")
        oversize = con.execute(f"SELECT count(*) FROM {name} WHERE "
                               f"{oversize_nanos_sql('amount_nanos')}").fetchall()[0][0]
        columns = "*" if oversize else "* REPLACE (amount_nanos::BIGINT AS amount_nanos)"
        return to_arrow(con, f"SELECT {columns} FROM {name} ORDER BY key, day, currency, "
                             "basis, kind, run_id")
    finally:
        con.unregister("_items_in")
        con.unregister("_runs_in")


# -- storing ------------------------------------------------------------------------------------
@dataclass
class AllocationResult:
    """What an allocation wrote, with billed-basis totals per currency."""

    resources: int = 0
    items: int = 0
    runs_billed: int = 0
    runs_partial: int = 0
    rows: int = 0
    allocated: dict[str, Decimal] = field(default_factory=dict)  # billed basis, to runs
    idle: dict[str, Decimal] = field(default_factory=dict)       # billed basis, idle

    def as_dict(self) -> dict[str, Any]:
        return {"resources": self.resources, "items": self.items,
                "runs_billed": self.runs_billed, "runs_partial": self.runs_partial,
                "rows": self.rows,
                "allocated": {c: str(v) for c, v in sorted(self.allocated.items())},
                "idle": {c: str(v) for c, v in sorted(self.idle.items())}}


def _nanos(value: int) -> Decimal:
    return (Decimal(int(value)) * schema.NANO).normalize()


COST_COLUMNS = ("kind", "run_id", "resource_id", "source", "basis", "period_start",
                "period_end", "amount", "currency", "upper_bound", "detail", "computed_at")

_COST_ROWS_SQL = """
SELECT a.kind, a.run_id, a.key AS resource_id,
       CASE WHEN a.run_id IS NULL OR a.complete THEN 'billed' ELSE 'billed-partial' END AS source,
       a.basis, strftime(make_timestamp(a.period_start_us), '{fmt}') AS period_start,
       strftime(make_timestamp(a.period_end_us), '{fmt}') AS period_end,
       a.amount_nanos AS amount, a.currency, false AS upper_bound,
       CASE WHEN a.run_id IS NULL THEN json_object(
                'method', 'idle: billed time no run occupied',
                'day', strftime(DATE '1970-01-01' + a.day::INTEGER, '%Y-%m-%d'),
                'billing_source', a.source, 'items', a.items)
            ELSE json_object(
                'method', 'held time (interval rule) / running time',
                'day', strftime(DATE '1970-01-01' + a.day::INTEGER, '%Y-%m-%d'),
                'share', s.share_text, 'billing_source', a.source, 'items', a.items,
                'coverage', CASE WHEN a.complete THEN 'complete' ELSE 'partial' END)
       END::VARCHAR AS detail,
       '{now}' AS computed_at
FROM {alloc} a
LEFT JOIN (SELECT run_id, any_value(share_text) AS share_text FROM {runs} GROUP BY run_id) s
    ON s.run_id = a.run_id
"""

_TOTALS_SQL = """
SELECT count(DISTINCT key) AS resources,
       count(DISTINCT run_id) FILTER (WHERE complete) AS runs_billed,
       count(DISTINCT run_id) FILTER (WHERE NOT complete) AS runs_partial,
       count(*) AS rows
FROM {alloc}
"""


def allocation_totals(con: duckdb.DuckDBPyConnection, alloc: str) -> AllocationResult:
    """Counts, and the billed-basis sums per currency of runs and of idle, of an allocation."""
    resources, billed, partial, rows = con.execute(_TOTALS_SQL.format(alloc=alloc)).fetchall()[0]
    result = AllocationResult(resources=resources, runs_billed=billed, runs_partial=partial,
                              rows=rows)
    for kind, currency, amount in con.execute(
            f"SELECT kind, currency, sum(amount_nanos)::VARCHAR FROM {alloc} "
            "WHERE basis = 'billed' GROUP BY kind, currency").fetchall():
        target = result.idle if kind == "idle" else result.allocated
        target[currency] = _nanos(int(amount))
    return result


def write_costs(store: Store, con: duckdb.DuckDBPyConnection, alloc: str, runs: str,
                keys: set[str] | None, now: dt.datetime) -> None:
    """Replace the billed cost rows of ``keys`` (all of them if None) by the allocation's.

    Rows are encoded by DuckDB and streamed in batches (:func:`insert_encoded`). One
    transaction.
    """
    sql = _COST_ROWS_SQL.format(fmt=SQLITE_TIME, alloc=alloc, runs=runs,
                                now=now.astimezone(dt.UTC).strftime(SQLITE_TIME))
    oversize = store.is_sqlite and con.execute(
        f"SELECT count(*) FROM {alloc} WHERE {oversize_nanos_sql('amount_nanos')}").fetchall()[0][0]
    batches = fetch_batches(con.execute(sql))
    replace_billed_costs(store, BILLED_SOURCES, keys, COST_COLUMNS,
                         oversize_as_blobs(batches) if oversize else batches)


def allocate_store(store: Store, keys: set[str] | None = None, *,
                   echo: Callable[[str], None] | None = None,
                   now: dt.datetime | None = None) -> AllocationResult:
    """Allocate the stored billing items of resource ``keys`` (all if None) over the runs.

    The billed cost rows of those resources are replaced in one transaction; estimates are
    left alone (``store.run_costs`` prefers a complete billed cost).
    """
    now = now or utcnow()
    if keys is not None and not keys:
        return AllocationResult()
    spans = load_runs(store, now)
    if keys is not None:
        spans = [s for s in spans if keys.intersection(s.keys)]
    items = items_table(store, keys)
    if echo and items.num_rows >= 100_000:
        echo(f"billing: allocating {items.num_rows:,} line items over {len(spans):,} runs")
    con = connect()
    con.register("_items_in", items)
    con.register("_runs_in", runs_table(spans))
    alloc = run_allocation(con, "_items_in", "_runs_in")
    result = allocation_totals(con, alloc)
    result.items = items.num_rows
    write_costs(store, con, alloc, "_runs_in", keys, now)
    con.close()
    return result


def runs_needing_allocation(store: Store, now: dt.datetime | None = None) -> set[str]:
    """Resource keys of runs without a complete billed cost yet (they may be billed now)."""
    c = schema.costs
    with store.read() as conn:
        done = set(conn.execute(sa.select(c.c.run_id).where(
            c.c.source == "billed", c.c.kind == "run").distinct()).scalars())
    keys: set[str] = set()
    for span in load_runs(store, now):
        if span.run_id not in done:
            keys.update(span.keys)
    return keys

