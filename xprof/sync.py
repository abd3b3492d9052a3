"""Copying runs between stores, exactly once: the agent's spool into the store, or a person's
local SQLite into the team's PostgreSQL.

Every row is keyed (runs by id, series by run/host/time or sequence), so a copy inserts only
what the target lacks and running it twice changes nothing. A run's own fields are taken from
whichever side saw it last (the newer heartbeat); a field only the other side knows (git,
environment, written before the store went away) is kept, never blanked. The run's estimate
comes along when the target has none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from xprof import schema
from xprof.store import Store

SERIES = (schema.samples, schema.gpu_samples, schema.metrics)
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
    ours_newer = theirs["heartbeat_at"] is None or (
        ours["heartbeat_at"] is not None and theirs["heartbeat_at"] < ours["heartbeat_at"])
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
    return result


def _sync_one(source: Store, target: Store, run: dict, result: SyncResult) -> None:
    run_id = run["id"]
    r = schema.runs
    with target.write() as tconn:
        existing = tconn.execute(sa.select(r).where(r.c.id == run_id)).mappings().first()
        if existing is None:
            tconn.execute(r.insert().values(**run))
            result.runs_new += 1
        else:
            changes = merged_fields(dict(existing), run)
            if changes:
                tconn.execute(r.update().where(r.c.id == run_id).values(**changes))
                result.runs_updated += 1
        with source.read() as sconn:
            _copy_estimate(sconn, tconn, run_id)
            for table in (schema.run_params, schema.run_tags):
                rows = [dict(x) for x in sconn.execute(
                    sa.select(table).where(table.c.run_id == run_id)).mappings()]
                if rows:
                    tconn.execute(target.insert_ignore(table), rows)
            h = schema.run_hosts
            for host in sconn.execute(sa.select(h).where(h.c.run_id == run_id)).mappings():
                host = dict(host)
                theirs = tconn.execute(sa.select(h.c.heartbeat_at).where(
                    h.c.run_id == run_id, h.c.host == host["host"])).first()
                if theirs is None:
                    tconn.execute(h.insert().values(**host))
                elif theirs.heartbeat_at < host["heartbeat_at"]:
                    tconn.execute(h.update().where(h.c.run_id == run_id,
                                                   h.c.host == host["host"]).values(**host))
            for table in SERIES:
                before = _count(tconn, table, run_id)
                for rows in _chunks(sconn, sa.select(table).where(table.c.run_id == run_id)):
                    tconn.execute(target.insert_ignore(table), rows)
                added = _count(tconn, table, run_id) - before
                result.rows[table.name] = result.rows.get(table.name, 0) + added
