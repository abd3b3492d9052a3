"""Every row the collector writes to the store: costs, prices, recommendations, billing items,
rollups and run tags.

**Where a run's cost comes from**: a run has ``costs`` rows of two kinds of source, both
written here. :func:`replace_estimates` stores the catalog estimate
(:mod:`xprof.collector.estimate`: price × duration × share, one row per host);
:func:`replace_billed_costs` stores billed costs split over runs and idle
(:mod:`xprof.collector.allocate`, from the imported ``billing_items``). Readers prefer the
billed rows where billing has arrived, else the estimate.

Functions taking a ``conn`` write inside their caller's transaction; the others open one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from xprof import rollups, schema
from xprof.store import Store, utcnow

SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a DATETIME in SQLite
_CHUNK = 500


def _raw_table(table: sa.Table) -> sa.Table:
    """``table`` with Money columns as plain integers (nano-units), for bulk reads and writes."""
    nanos = sa.BigInteger().with_variant(sa.Numeric(38, 0), "postgresql")  # as schema.Money
    columns = [sa.Column(c.name, nanos if isinstance(c.type, schema.Money) else c.type,
                         primary_key=c.primary_key) for c in table.columns]
    return sa.Table(table.name, sa.MetaData(), *columns)


RAW_ITEMS = _raw_table(schema.billing_items)
RAW_COSTS = _raw_table(schema.costs)


def _decoded(columns: Sequence[str], row: Sequence[Any], times: set[str],
             json_columns: set[str]) -> dict[str, Any]:
    values = dict(zip(columns, row, strict=True))
    for name in times:
        if values[name] is not None:
            values[name] = dt.datetime.strptime(values[name], SQLITE_TIME).replace(tzinfo=dt.UTC)
    for name in json_columns:
        if values[name] is not None:
            values[name] = json.loads(values[name])
    return values


def insert_encoded(store: Store, conn: sa.Connection, table: sa.Table, columns: Sequence[str],
                   rows: Iterable[Sequence[tuple]], *, times: Iterable[str] = (),
                   json_columns: Iterable[str] = ()) -> int:
    """Insert batches of tuples whose times are ``SQLITE_TIME`` strings and JSON is text.

    On SQLite the tuples go straight to the driver (they are already in the form SQLAlchemy
    would store); on other engines they are decoded and inserted through SQLAlchemy Core.
    """
    times, json_columns = set(times), set(json_columns)
    sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) "
           f"VALUES ({', '.join('?' for _ in columns)})")
    count = 0
    for batch in rows:
        if not batch:
            continue
        count += len(batch)
        if store.is_sqlite:
            conn.exec_driver_sql(sql, batch)
            continue
        conn.execute(table.insert(),
                     [_decoded(columns, row, times, json_columns) for row in batch])
    return count


# -- costs -------------------------------------------------------------------------------------
def replace_estimates(store: Store, run_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Make ``rows`` the run's only ``estimate`` cost rows, in one transaction."""
    c = schema.costs
    with store.write() as conn:
        # the agents of a multi-node run may price it at the same moment: take the run's row
        # lock first so one replaces the other's rows instead of both adding theirs
        conn.execute(sa.select(schema.runs.c.id).where(schema.runs.c.id == run_id)
                     .with_for_update())
        conn.execute(c.delete().where(c.c.run_id == run_id, c.c.source == "estimate"))
        for row in rows:
            conn.execute(c.insert().values(**row, computed_at=utcnow()))
        rollups.refresh(conn, [run_id])


def replace_billed_costs(store: Store, sources: Sequence[str], keys: set[str] | None,
                         columns: Sequence[str], batches: Iterable[Sequence[tuple]]) -> None:
    """Replace the billed cost rows (of ``sources``) of resource ``keys`` (all if None) by
    ``batches`` of encoded rows (see :func:`insert_encoded`), in one transaction."""
    c = RAW_COSTS
    with store.write() as conn:
        changed = rollups.runs_with_costs_of(conn, sources, keys)
        billed = c.c.source.in_(sources)
        if keys is None:
            conn.execute(c.delete().where(billed))
        else:
            ordered = sorted(keys)
            for i in range(0, len(ordered), _CHUNK):
                conn.execute(c.delete().where(billed,
                                              c.c.resource_id.in_(ordered[i:i + _CHUNK])))
        insert_encoded(store, conn, c, columns, batches,
                       times=("period_start", "period_end", "computed_at"),
                       json_columns=("detail",))
        rollups.refresh(conn, changed | rollups.runs_with_costs_of(conn, sources, keys))


# -- prices ------------------------------------------------------------------------------------
def insert_prices_if_empty(store: Store, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``rows`` into an empty ``prices`` table; 0 if another process filled it first."""
    with store.write() as conn:
        if conn.execute(sa.select(schema.prices.c.provider).limit(1)).first() is not None:
            return 0
        conn.execute(store.insert_ignore(schema.prices), list(rows))
    return len(rows)


def replace_prices(store: Store, rows: Sequence[Mapping[str, Any]]) -> int:
    """Replace the rows of these (provider, instance type, region) keys, in one transaction."""
    t = schema.prices
    delete = t.delete().where(t.c.provider == sa.bindparam("k_provider"),
                              t.c.instance_type == sa.bindparam("k_type"),
                              t.c.region == sa.bindparam("k_region"))
    keys = [{"k_provider": r["provider"], "k_type": r["instance_type"], "k_region": r["region"]}
            for r in rows]
    with store.write() as conn:
        conn.execute(delete, keys)
        conn.execute(t.insert(), list(rows))
    return len(rows)


# -- recommendations ---------------------------------------------------------------------------
def upsert_run_recommendations(store: Store, run: Mapping[str, Any],
                               values: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Upsert the run's recommendations (``values`` by rule), delete open ones of other rules;
    return the statuses stored before (by rule)."""
    t = schema.recommendations
    now = utcnow()
    with store.write() as conn:
        stored = {row.rule: row.status for row in conn.execute(
            sa.select(t.c.rule, t.c.status).where(t.c.run_id == run["id"]))}
        for rule, row in values.items():
            if rule in stored:
                conn.execute(t.update().where(t.c.run_id == run["id"], t.c.rule == rule)
                             .values(**row, updated_at=now))
            else:
                conn.execute(store.insert_ignore(t).values(
                    run_id=run["id"], project=run["project"], resource_id=run.get("instance_id"),
                    rule=rule, status="open", created_at=now, updated_at=now, **row))
        gone = [rule for rule, status in stored.items() if status == "open" and rule not in values]
        if gone:
            conn.execute(t.delete().where(t.c.run_id == run["id"], t.c.rule.in_(gone)))
    return stored


def upsert_resource_recommendations(store: Store, rule: str,
                                    values: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Upsert run-less recommendations of one rule (``values`` by resource id), delete open
    ones of other resources; return the statuses stored before (by resource id)."""
    t = schema.recommendations
    now = utcnow()
    mine = (t.c.run_id.is_(None), t.c.rule == rule)
    with store.write() as conn:
        stored = {row.resource_id: row.status for row in conn.execute(
            sa.select(t.c.resource_id, t.c.status).where(*mine))}
        for resource, row in values.items():
            if resource in stored:
                conn.execute(t.update().where(*mine, t.c.resource_id == resource)
                             .values(**row, updated_at=now))
            else:
                conn.execute(t.insert().values(run_id=None, project=None, resource_id=resource,
                                               rule=rule, status="open", created_at=now,
                                               updated_at=now, **row))
        gone = [res for res, status in stored.items() if status == "open" and res not in values]
        if gone:
            conn.execute(t.delete().where(*mine, t.c.resource_id.in_(gone)))
    return stored


# -- billing items and imports -----------------------------------------------------------------
def delete_items(conn: sa.Connection, ids: Sequence[int]) -> None:
    """Delete these ``billing_items`` rows."""
    for i in range(0, len(ids), _CHUNK):
        conn.execute(RAW_ITEMS.delete().where(RAW_ITEMS.c.id.in_(list(ids[i:i + _CHUNK]))))


def write_cursor(conn: sa.Connection, import_key: str, cursor: str | None, items: int,
                 now: dt.datetime) -> None:
    """Record an import of ``import_key`` (its cursor for the next incremental import)."""
    imp = schema.imports
    conn.execute(imp.delete().where(imp.c.source == import_key))
    conn.execute(imp.insert().values(source=import_key, cursor=cursor, last_import_at=now,
                                     items=items))


# -- gc rollups --------------------------------------------------------------------------------
def fold_into_rollups(conn: sa.Connection, raw: sa.Table, raw_where: Sequence[Any],
                      rollup: sa.Table, rollup_where: Sequence[Any] | None,
                      rows: Sequence[Mapping[str, Any]]) -> None:
    """Delete the rollup rows of ``rollup_where`` (unless None), insert ``rows`` there, and
    delete the raw rows of ``raw_where``."""
    if rollup_where is not None:
        conn.execute(rollup.delete().where(*rollup_where))
    for start in range(0, len(rows), 2000):
        conn.execute(rollup.insert(), list(rows[start:start + 2000]))
    conn.execute(raw.delete().where(*raw_where))


def stale_rollups(conn: sa.Connection) -> list[str]:
    """Runs whose rollup is missing or may be behind: no row, another status than the run's,
    or still `running` (an agent that died never wrote its last flush)."""
    r, ro = schema.runs, schema.run_rollups
    query = (sa.select(r.c.id).select_from(r.outerjoin(ro, ro.c.run_id == r.c.id))
             .where(sa.or_(ro.c.run_id.is_(None), ro.c.status != r.c.status,
                           ro.c.status == "running")))
    return list(conn.execute(query).scalars())


def repair_rollups(store: Store) -> int:
    """Recompute the rollups :func:`stale_rollups` names; how many."""
    with store.write() as conn:
        ids = stale_rollups(conn)
        rollups.refresh(conn, ids)
        rollups.analyze(conn)
    return len(ids)


# -- runs --------------------------------------------------------------------------------------
def set_run_tag(store: Store, run_id: str, key: str, value: str) -> None:
    """Set one tag of a run (replacing its value)."""
    t = schema.run_tags
    with store.write() as conn:
        conn.execute(t.delete().where(t.c.run_id == run_id, t.c.key == key))
        conn.execute(t.insert().values(run_id=run_id, key=key, value=value))


def set_run_providers(store: Store, providers: Mapping[str, str]) -> None:
    """Set the cloud provider of runs (``providers`` by run id) and of their hosts."""
    r, h = schema.runs, schema.run_hosts
    with store.write() as conn:
        for run_id, provider in providers.items():
            for table, key in ((r, r.c.id), (h, h.c.run_id)):
                conn.execute(table.update().where(key == run_id).values(cloud_provider=provider))
        rollups.refresh(conn, list(providers))
