"""Copying runs between stores, exactly once: the agent's spool into the store, or a person's
local SQLite into the team's PostgreSQL.

Every table a run owns is carried: the tables with a ``run_id`` column
(:func:`xprof.schema.run_owned_tables`), so a table added to the schema later comes along
without a change here. Every row is keyed, so a copy inserts only what the target lacks and
running it twice changes nothing. How a table is merged follows from its keys:

- ``runs``: the run's own fields are taken from whichever side saw it last (the newer
  heartbeat); a field only the other side knows (git, environment, written before the store
  went away) is kept, never blanked;
- a table with a ``heartbeat_at`` column (``run_hosts``): row by row, the newer heartbeat wins;
- a table keyed by the run alone (one derived row per run): the side whose run has the newer
  heartbeat wins;
- a table with a surrogate ``id`` and a unique key (``recommendations``): rows whose unique
  key the target lacks are inserted (a status set on the target is kept);
- ``costs`` (a surrogate ``id``, no unique key): the run's estimate, when the target has none
  (billed costs are the target's own ``collect`` to allocate from its billing data);
- every other table (series, minute rollups, params, tags, alerts sent): rows whose primary
  key the target lacks are inserted;
- ``run_rollups`` is not copied but recomputed from what the target then holds
  (:func:`xprof.rollups.refresh`, which keeps ``rollup_counts`` with it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from xprof import rollups, schema
from xprof.store import Store

CHUNK = 5000


@dataclass
class SyncResult:
    runs_new: int = 0
    runs_updated: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    run_ids: list[str] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def _chunks(conn, query) -> Iterator[list[dict]]:
    result = conn.execute(query.execution_options(yield_per=CHUNK)).mappings()
    for part in result.partitions(CHUNK):
        yield [dict(row) for row in part]


def _count(conn, table: sa.Table, run_id: str) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(table)
                        .where(table.c.run_id == run_id)).scalar()


def merged_fields(theirs: dict, ours: dict) -> dict:
    """The fields of the target's run (``theirs``) to change given the source's (``ours``):
    the newer heartbeat wins field by field, but a known value is never replaced by None."""
    ours_newer = _newer(ours, theirs)
    changes = {}
    for key, value in ours.items():
        if key == "id" or value is None or value == theirs.get(key):
            continue
        if ours_newer or theirs.get(key) is None:
            changes[key] = value
    return changes


def _copy_estimate(sconn, tconn, run_id: str) -> None:
    """The run's estimate (made at its end, where its end was written), if the target has
    none."""
    c = schema.costs
    where = (c.c.run_id == run_id, c.c.source == "estimate")
    if tconn.execute(sa.select(sa.func.count()).select_from(c).where(*where)).scalar():
        return
    rows = [{k: v for k, v in dict(x).items() if k != "id"}
            for x in sconn.execute(sa.select(c).where(*where)).mappings()]
    if rows:
        tconn.execute(c.insert(), rows)


def sync_runs(source: Store, target: Store, run_ids: Sequence[str] | None = None,
              progress: Callable[[str], None] | None = None) -> SyncResult:
    """Copy runs (all, or ``run_ids``) with their hosts, params, tags and series."""
    result = SyncResult()
    with source.read() as conn:
        query = sa.select(schema.runs).order_by(schema.runs.c.started_at)
        if run_ids is not None:
            query = query.where(schema.runs.c.id.in_(list(run_ids)))
        runs = [dict(r) for r in conn.execute(query).mappings()]
    for index, run in enumerate(runs, 1):
        if progress:
            progress(f"[{index}/{len(runs)}] {run['name']} ({run['id'][:8]})")
        _sync_one(source, target, run, result)
        result.run_ids.append(run["id"])
    rollups.refresh_runs(target, result.run_ids)  # from what the target now holds
    return result


def _sync_one(source: Store, target: Store, run: dict, result: SyncResult) -> None:
    run_id = run["id"]
    r = schema.runs
    with target.write() as tconn:
        existing = tconn.execute(sa.select(r).where(r.c.id == run_id)).mappings().first()
        ours_newer = existing is None or _newer(run, dict(existing))
        if existing is None:
            tconn.execute(r.insert().values(**run))
            result.runs_new += 1
        else:
            changes = merged_fields(dict(existing), run)
            if changes:
                tconn.execute(r.update().where(r.c.id == run_id).values(**changes))
                result.runs_updated += 1
        with source.read() as sconn:
            for table in schema.run_owned_tables():
                if table is schema.run_rollups:
                    continue  # recomputed from what the target holds (sync_runs, at the end)
                before = _count(tconn, table, run_id)
                _copy_table(sconn, tconn, target, table, run_id, ours_newer)
                added = _count(tconn, table, run_id) - before
                if added:
                    result.rows[table.name] = result.rows.get(table.name, 0) + added


def _newer(ours: dict, theirs: dict) -> bool:
    """Whether the source's run (``ours``) was seen after the target's (``theirs``)."""
    return theirs["heartbeat_at"] is None or (
        ours["heartbeat_at"] is not None and theirs["heartbeat_at"] < ours["heartbeat_at"])


def _surrogate_id(table: sa.Table) -> bool:
    return [c.name for c in table.primary_key.columns] == ["id"]


def _copy_table(sconn, tconn, target: Store, table: sa.Table, run_id: str,
                ours_newer: bool) -> None:
    """The run's rows of one table, merged as the module docstring says."""
    mine = table.c.run_id == run_id
    if table is schema.costs:
        _copy_estimate(sconn, tconn, run_id)
    elif "heartbeat_at" in table.c:
        _copy_newer_rows(sconn, tconn, table, mine)
    elif [c.name for c in table.primary_key.columns] == ["run_id"]:
        row = sconn.execute(sa.select(table).where(mine)).mappings().first()
        if row is not None and (ours_newer or tconn.execute(
                sa.select(table.c.run_id).where(mine)).first() is None):
            tconn.execute(table.delete().where(mine))
            tconn.execute(table.insert().values(**row))
    else:
        drop = {"id"} if _surrogate_id(table) else set()
        for rows in _chunks(sconn, sa.select(table).where(mine)):
            rows = [{k: v for k, v in row.items() if k not in drop} for row in rows]
            tconn.execute(target.insert_ignore(table), rows)


def _copy_newer_rows(sconn, tconn, table: sa.Table, mine) -> None:
    """Rows the target lacks, and rows whose ``heartbeat_at`` is newer than the target's."""
    key = list(table.primary_key.columns)
    for row in sconn.execute(sa.select(table).where(mine)).mappings():
        row = dict(row)
        at_key = sa.and_(*(c == row[c.name] for c in key))
        theirs = tconn.execute(sa.select(table.c.heartbeat_at).where(at_key)).first()
        if theirs is None:
            tconn.execute(table.insert().values(**row))
        elif theirs.heartbeat_at < row["heartbeat_at"]:
            tconn.execute(table.update().where(at_key).values(**row))
