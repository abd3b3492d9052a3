"""``rollup_counts``: the rows of ``run_rollups`` counted per project, cost basis, currency
('' for none) and cost state, with how many of them have a cost, so the leaderboard's counts
(runs shown, priced, not yet priced) read a few rows instead of one per run.

Kept by whatever writes ``run_rollups``, in the same transaction: :func:`tally` the rows
about to be replaced or deleted (minus) and the new ones (plus), then :func:`add` the net
deltas in one upsert. :func:`recount` rebuilds the table from every rollup.

Light on purpose (SQLAlchemy Core only): the agent's writes import it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xprof import schema
from xprof.run_state import new_rollup_counts

Key = tuple[str, str, str, str]  # project, basis, currency or '', cost state
BASES = tuple(c.name.removeprefix("cost_state_") for c in schema.run_rollups.columns
              if c.name.startswith("cost_state_"))
CHUNK = 500  # run ids per statement (bind-parameter limits)


def add(conn: Connection, deltas: dict[Key, list[int]]) -> None:
    """Add ``deltas`` (key -> [runs, priced]) in one upsert, keys in sorted order (concurrent
    writers lock the rows in the same order: no deadlock); zero deltas are skipped."""
    rows = [{"project": p, "basis": b, "currency": c, "cost_state": s, "runs": n, "priced": m}
            for (p, b, c, s), (n, m) in sorted(deltas.items()) if n or m]
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    conn.execute(upsert(insert), rows)


def upsert(insert: Callable[[sa.Table], Any]) -> Any:
    """The statement :func:`add` runs, from a dialect's ``insert``: each row's counts added to
    those of its key."""
    t = schema.rollup_counts
    statement = insert(t)
    return statement.on_conflict_do_update(
        index_elements=[c.name for c in t.primary_key.columns],
        set_={"runs": t.c.runs + statement.excluded.runs,
              "priced": t.c.priced + statement.excluded.priced})


def new_run(project: str) -> dict[Key, list[int]]:
    """The deltas of a run's first rollup (:func:`xprof.run_state.new_rollup_counts`)."""
    return {tuple(row[:4]): list(row[4:]) for row in new_rollup_counts(project)}


def counted(*where: sa.ColumnElement) -> sa.CompoundSelect:
    """``run_rollups`` rows matching ``where`` counted as this table counts them."""
    t, none = schema.run_rollups, sa.literal_column("''")
    parts = []
    for basis in BASES:
        currency = sa.func.coalesce(t.c[f"currency_{basis}"], none)
        state = t.c[f"cost_state_{basis}"]
        parts.append(sa.select(t.c.project, sa.literal_column(f"'{basis}'").label("basis"),
                               currency.label("currency"), state.label("cost_state"),
                               sa.func.count().label("runs"),
                               sa.func.count(t.c[f"cost_{basis}"]).label("priced"))
                     .where(*where).group_by(t.c.project, currency, state))
    return sa.union_all(*parts)


@functools.cache
def _of_runs() -> sa.CompoundSelect:
    return counted(schema.run_rollups.c.run_id.in_(sa.bindparam("ids", expanding=True)))


def tally(conn: Connection, run_ids: Sequence[str], sign: int, deltas: dict[Key, list[int]]
          ) -> None:
    """Add the counts of the rollups of ``run_ids`` (at most :data:`CHUNK`), times ``sign``,
    to ``deltas``."""
    for project, basis, currency, state, runs, priced in conn.execute(
            _of_runs(), {"ids": list(run_ids)}):
        total = deltas.setdefault((project, basis, currency, state), [0, 0])
        total[0] += sign * runs
        total[1] += sign * priced


def forget(conn: Connection, run_ids: Sequence[str]) -> None:
    """Delete the rollups of ``run_ids`` (``xprof rm``) and take them off the counts."""
    t, deltas = schema.run_rollups, {}
    for start in range(0, len(run_ids), CHUNK):
        part = list(run_ids[start:start + CHUNK])
        tally(conn, part, -1, deltas)
        conn.execute(t.delete().where(t.c.run_id.in_(part)))
    add(conn, deltas)


def recount(conn: Connection) -> None:
    """The table recomputed from every row of ``run_rollups`` (backfill, full refresh)."""
    t = schema.rollup_counts
    conn.execute(t.delete())
    conn.execute(t.insert().from_select([c.name for c in t.columns], counted()))
