"""Per-run rollups (``run_rollups``): one row per run with what the leaderboard, ``xprof ls``
and the report read, recomputed from the raw tables whenever they change.

:func:`refresh` recomputes the rows of a set of runs in one ``DELETE`` and one
``INSERT ... SELECT`` (set-based, the same statement the migration backfills with), inside
the caller's transaction. Everything that changes what a run's rollup says calls it: the
agent's last flush, the collector's cost writes, ``xprof gc`` and ``xprof sync``; a new run
gets its first row from :meth:`Store.create_run` and ``xprof rm`` deletes rows with their
run (:func:`xprof.rollup_counts.forget`). Costs count by the one rule,
:func:`xprof.store.counted_costs`.

Each ``refresh`` keeps :mod:`xprof.rollup_counts` (the rows counted per project, basis,
currency and cost state: what the leaderboard's counts read) in the same transaction.

Light on purpose (SQLAlchemy Core only): the agent imports it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from xprof import rollup_counts, schema
from xprof.store import BASES, Store, counted_costs

_CHUNK = rollup_counts.CHUNK  # run ids per statement (bind-parameter limits)


class json_list_length(FunctionElement):
    """Length of the JSON list at ``column[key]``; NULL when that is absent or not a list."""

    type = sa.Integer()
    name = "json_list_length"
    inherit_cache = True


@compiles(json_list_length, "sqlite")
def _json_list_length_sqlite(element, compiler, **kw):
    column, key = (compiler.process(c, **kw) for c in element.clauses)
    path = f"'$.' || {key}"
    return (f"CASE WHEN json_type({column}, {path}) = 'array' "
            f"THEN json_array_length({column}, {path}) END")


@compiles(json_list_length, "postgresql")
def _json_list_length_pg(element, compiler, **kw):
    column, key = (compiler.process(c, **kw) for c in element.clauses)
    value = f"(({column})::jsonb -> {key})"
    return f"CASE WHEN jsonb_typeof({value}) = 'array' THEN jsonb_array_length({value}) END"


def _cost_totals(basis: str, run_ids: Any) -> sa.Subquery:
    """Per run: its counted cost rows of ``basis`` summed, with what decides its state."""
    counted = counted_costs(basis)
    if run_ids is not None:
        counted = counted.where(schema.costs.c.run_id.in_(run_ids))
    cc = counted.subquery(f"counted_{basis}")
    return (sa.select(
        cc.c.run_id,
        sa.func.max(cc.c.source).label("source"),
        sa.func.count().label("rows"),
        sa.func.count(cc.c.amount).label("known"),
        schema.money_sum(cc.c.amount).label("total"),
        sa.func.min(cc.c.currency).label("currency_min"),
        sa.func.max(cc.c.currency).label("currency_max"),
        sa.func.max(sa.case((cc.c.upper_bound, 1), else_=0)).label("upper"),
        sa.func.max(cc.c.detail["reason"].as_string()).label("reason"),
        sa.func.min(cc.c.period_start).label("first"),
        sa.func.max(cc.c.period_start).label("last"),
    ).group_by(cc.c.run_id).subquery(f"cost_{basis}"))


def _objective(run: sa.Table) -> tuple[sa.ColumnElement, sa.ColumnElement]:
    """The declared objective's last logged value and its best one (by the run's mode)."""
    m = schema.metrics
    own = (m.c.run_id == run.c.id, m.c.key == run.c.objective_name)
    last = (sa.select(m.c.value).where(*own).order_by(m.c.seq.desc(), m.c.ts.desc())
            .limit(1).scalar_subquery())
    best = sa.case(
        (run.c.objective_mode == "min",
         sa.select(sa.func.min(m.c.value)).where(*own).scalar_subquery()),
        else_=sa.select(sa.func.max(m.c.value)).where(*own).scalar_subquery())
    return last, best


def rollup_select(run_ids: Any = None) -> tuple[list[str], sa.Select]:
    """The rollup rows of ``run_ids`` (every run when None; a list, or an expanding bind
    parameter), as (column names, SELECT); ``computed_at`` is a bind parameter."""
    r = schema.runs
    last, best = _objective(r)
    summary, hardware = r.c.summary, r.c.hardware
    gpus_used = sa.func.coalesce(json_list_length(hardware, sa.literal("gpus_used")),
                                 json_list_length(summary, sa.literal("gpus_used")))
    columns: dict[str, Any] = {
        "run_id": r.c.id, "project": r.c.project, "name": r.c.name, "status": r.c.status,
        "started_at": r.c.started_at, "ended_at": r.c.ended_at, "duration_s": r.c.duration_s,
        "instance_type": r.c.instance_type, "provider": r.c.cloud_provider, "user": r.c.user,
        "cpu_cores_p50": summary["cpu_cores_p50"].as_float(),
        "gpu_util_p50": summary["gpu_util_p50"].as_float(),
        "rss_peak_bytes": sa.func.coalesce(summary["rss_peak_bytes"].as_float(),
                                           r.c.peak_rss_bytes),
        "gpu_hours": gpus_used * r.c.duration_s / 3600.0,
        "objective_name": r.c.objective_name, "objective_mode": r.c.objective_mode,
        "objective_last": last, "objective_best": best,
    }
    source = r
    for basis in BASES:
        t = _cost_totals(basis, run_ids)
        source = source.outerjoin(t, t.c.run_id == r.c.id)
        ok = sa.and_(t.c.rows.is_not(None), t.c.known == t.c.rows,
                     t.c.currency_min == t.c.currency_max)
        value = sa.case((ok, sa.cast(t.c.total, sa.Float) / 1e9))
        columns |= {
            f"cost_{basis}": sa.case((ok, t.c.total)),
            f"currency_{basis}": sa.case((ok, t.c.currency_min)),
            f"cost_source_{basis}": t.c.source,
            f"cost_state_{basis}": sa.case(
                (t.c.rows.is_(None), "not priced"), (t.c.known < t.c.rows, "unknown"),
                (t.c.currency_min != t.c.currency_max, "mixed currencies"),
                else_=t.c.source),
            f"upper_bound_{basis}": sa.func.coalesce(t.c.upper, 0) > 0,
            f"cost_reason_{basis}": t.c.reason,
            f"cost_value_{basis}": value,
            f"cost_rows_{basis}": t.c.rows,
            f"cost_first_{basis}": t.c.first,
            f"cost_last_{basis}": t.c.last,
        }
    columns["computed_at"] = sa.bindparam("computed_at", type_=schema.UTCDateTime)
    query = sa.select(*(c.label(k) for k, c in columns.items())).select_from(source)
    if run_ids is not None:
        query = query.where(r.c.id.in_(run_ids))
    return list(columns), query


@functools.cache
def _statements(everything: bool) -> tuple[sa.Executable, ...]:
    """Delete, insert and score statements, built once per process (the agent's last flush
    pays only their execution); for some runs they take the ``ids`` parameter."""
    t = schema.run_rollups
    ids = None if everything else sa.bindparam("ids", expanding=True)
    names, query = rollup_select(ids)
    mine = () if everything else (t.c.run_id.in_(sa.bindparam("ids", expanding=True)),)
    return (t.delete().where(*mine), t.insert().from_select(names, query),
            _scores().where(*mine))


def refresh(conn: Connection, run_ids: Iterable[str] | None = None) -> None:
    """Recompute the rollups of ``run_ids`` (every run when None) in ``conn``'s transaction,
    and their counts (``rollup_counts``); runs that no longer exist lose theirs."""
    if run_ids is None:
        rebuild(conn)
        rollup_counts.recount(conn)
        return
    now = {"computed_at": dt.datetime.now(dt.UTC)}
    delete, insert, scores = _statements(False)
    ids, deltas = sorted(set(run_ids)), {}
    for start in range(0, len(ids), _CHUNK):
        part = {"ids": ids[start:start + _CHUNK]}
        rollup_counts.tally(conn, part["ids"], -1, deltas)
        conn.execute(delete, part)
        conn.execute(insert, {**part, **now})
        conn.execute(scores, part)
        rollup_counts.tally(conn, part["ids"], 1, deltas)
    rollup_counts.add(conn, deltas)


def rebuild(conn: Connection) -> None:
    """Every run's rollup recomputed (``rollup_counts`` left as it is:
    :func:`xprof.rollup_counts.recount`)."""
    delete, insert, scores = _statements(True)
    conn.execute(delete)
    conn.execute(insert, {"computed_at": dt.datetime.now(dt.UTC)})
    conn.execute(scores)
    analyze(conn)


def analyze(conn: Connection) -> None:
    """Refresh the planner's statistics of ``run_rollups`` (SQLite has none until asked; the
    leaderboard's plans depend on them)."""
    conn.execute(sa.text("ANALYZE run_rollups"))


def _scores() -> sa.Update:
    """score = objective_last / cost per basis (metric per unit of money at baseline 0)."""
    t = schema.run_rollups
    return t.update().values({
        f"score_{b}": sa.case((t.c[f"cost_value_{b}"] > 0,
                               t.c.objective_last / t.c[f"cost_value_{b}"]))
        for b in BASES})


def refresh_runs(store: Store, run_ids: Iterable[str] | None = None) -> None:
    """:func:`refresh` in a transaction of its own."""
    with store.write() as conn:
        refresh(conn, run_ids)


def runs_with_costs_of(conn: Connection, sources: Sequence[str],
                       resource_ids: Iterable[str] | None) -> set[str]:
    """The runs holding cost rows of ``sources`` on ``resource_ids`` (all when None): the
    rollups a replacement of those rows changes."""
    c = schema.costs
    query = sa.select(c.c.run_id).distinct().where(c.c.source.in_(list(sources)),
                                                   c.c.run_id.is_not(None))
    if resource_ids is None:
        return set(conn.execute(query).scalars())
    ids, found = sorted(set(resource_ids)), set()
    for start in range(0, len(ids), _CHUNK):
        found |= set(conn.execute(query.where(c.c.resource_id.in_(ids[start:start + _CHUNK])))
                     .scalars())
    return found
