"""Writing normalised billing items into ``billing_items``: idempotent and incremental.

Every import names a **scope**, the part of one source it replaces:

- ``prefix``: the rows whose ``row_key`` starts with a group (a file export's billing period);
- ``window``: the rows whose charge period starts inside a time window (an API's answer for
  that window, optionally only some resources);
- ``append``: nothing is replaced; rows are only added.

A row's key holds a hash of its identity and a hash of its values (see
:meth:`~xprof.collector.billing.normalise.Normaliser.relation_sql`), so comparing keys is
comparing rows: a key already stored is left alone (importing the same data twice changes
nothing), a new key is inserted, and a stored key of the scope that the new data lacks is
deleted. A restated row (same identity, new amounts) is one of each, counted as ``updated``.
The rows, the deletions and the source's ``imports`` cursor are written in one transaction.

The comparison runs in DuckDB and rows are streamed to the store in batches (on SQLite,
encoded by DuckDB and handed to the driver's executemany), so millions of rows fit in memory.
Money is written as integer nano-units straight from the normalised table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from xprof import schema
from xprof.collector.billing.normalise import (
    ITEM_FIELDS,
    oversize_as_blobs,
    oversize_nanos_sql,
    quote_literal,
    resource_key,
)
from xprof.collector.writes import (
    RAW_ITEMS,
    SQLITE_TIME,
    delete_items,
    insert_encoded,
    write_cursor,
)
from xprof.store import Store, utcnow

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

    from xprof.collector.billing.normalise import Normaliser

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_CHUNK = 500
_BATCH = 50_000


_MONEY = {"list_nanos": "list_cost", "billed_nanos": "billed_cost",
          "effective_nanos": "effective_cost"}
_TIME = {"period_start_us": "charge_period_start", "period_end_us": "charge_period_end"}
# normalised field -> billing_items column
COLUMN_OF = {name: _MONEY.get(name) or _TIME.get(name) or name for name in ITEM_FIELDS}


def to_us(value: dt.datetime) -> int:
    return (value - EPOCH) // dt.timedelta(microseconds=1)


def fetch_batches(result: Any, size: int = _BATCH) -> Iterable[list[tuple]]:
    """A DuckDB result in batches of tuples."""
    while True:
        batch = result.fetchmany(size)
        if not batch:
            return
        yield batch


@dataclass(frozen=True)
class Scope:
    """Which stored rows of a source an import replaces (see the module docstring)."""

    kind: str  # prefix | window | append
    prefix: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    resource_ids: frozenset[str] | None = None

    @classmethod
    def group(cls, group: str) -> Scope:
        return cls("prefix", prefix=f"{group}|")

    @classmethod
    def window(cls, start: dt.datetime, end: dt.datetime,
               resource_ids: Iterable[str] | None = None) -> Scope:
        return cls("window", start=start, end=end,
                   resource_ids=None if resource_ids is None else frozenset(resource_ids))

    @classmethod
    def append(cls) -> Scope:
        return cls("append")


@dataclass
class ImportResult:
    """What an import did to the store."""

    source: str
    rows: int = 0          # rows read from the source
    inserted: int = 0
    updated: int = 0       # restated: same identity, other values
    deleted: int = 0
    groups_read: int = 0
    groups_skipped: int = 0  # unchanged since the last import
    keys: set[str] = field(default_factory=set)  # resource keys whose items changed
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return self.inserted + self.updated + self.deleted

    def merge(self, other: ImportResult) -> None:
        for name in ("rows", "inserted", "updated", "deleted", "groups_read", "groups_skipped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.keys |= other.keys

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["keys"] = len(self.keys)
        return data


def read_cursor(store: Store, import_key: str) -> str | None:
    """The cursor stored by the last import of ``import_key`` (None if never imported)."""
    imp = schema.imports
    with store.read() as conn:
        return conn.execute(sa.select(imp.c.cursor).where(imp.c.source == import_key)).scalar()


def _stored_keys(conn: sa.Connection, source: str, scope: Scope,
                 new_keys: list[str]) -> list[tuple[int, str, str | None]]:
    """(id, row_key, resource_id) of the stored rows of ``source`` in ``scope``."""
    bi = RAW_ITEMS
    cols = (bi.c.id, bi.c.row_key, bi.c.resource_id)
    if scope.kind == "append":
        out: list[tuple[int, str, str | None]] = []
        for i in range(0, len(new_keys), _CHUNK):
            out.extend(tuple(r) for r in conn.execute(sa.select(*cols).where(
                bi.c.source == source, bi.c.row_key.in_(new_keys[i:i + _CHUNK]))))
        return out
    query = sa.select(*cols).where(bi.c.source == source)
    if scope.kind == "prefix":
        query = query.where(bi.c.row_key.startswith(scope.prefix, autoescape=True))
    elif scope.kind == "window":
        query = query.where(bi.c.charge_period_start >= scope.start,
                            bi.c.charge_period_start < scope.end)
        if scope.resource_ids is not None:
            ids = scope.resource_ids
            return [tuple(r) for r in conn.execute(query) if r[2] in ids]
    else:
        raise ValueError(f"unknown scope {scope.kind!r}")
    return [tuple(r) for r in conn.execute(query)]


def _load_old(con: duckdb.DuckDBPyConnection, stored: list[tuple[int, str, str | None]]
              ) -> None:
    """The stored rows' (id, row_key, resource_id) as DuckDB table ``_old``."""
    import pyarrow as pa  # heavy, optional (xprof[billing]): only when writing items

    con.register("_old_in", pa.table({
        "id": pa.array([r[0] for r in stored], pa.int64()),
        "row_key": pa.array([r[1] for r in stored], pa.string()),
        "resource_id": pa.array([r[2] for r in stored], pa.string())}))
    con.execute("CREATE OR REPLACE TEMP TABLE _old AS SELECT * FROM _old_in")
    con.unregister("_old_in")


def _restated(con: duckdb.DuckDBPyConnection, gone: list[tuple]) -> int:
    """How many removed items came back as added ones (same item, new values): restatements."""
    import pyarrow as pa  # heavy, optional (xprof[billing]): only when writing items

    con.register("_gone_in", pa.table({"row_key": [g[1] for g in gone]}))
    restated = con.execute(
        "SELECT count(*) FROM (SELECT DISTINCT split_part(row_key, '|', 2) AS ident "
        "FROM _gone_in INTERSECT SELECT DISTINCT split_part(row_key, '|', 2) FROM _added)"
        ).fetchall()[0][0]
    con.unregister("_gone_in")
    return restated


_INSERT_COLUMNS = ("source", "row_key", *(COLUMN_OF[n] for n in ITEM_FIELDS), "imported_at")


def write_items(store: Store, normaliser: Normaliser, group: str, *, source: str,
                scope: Scope, import_key: str | None = None, cursor: str | None = None,
                now: dt.datetime | None = None) -> ImportResult:
    """Make the stored rows of ``source`` within ``scope`` equal to the normaliser's rows.

    ``group`` prefixes the row keys (the billing period of a file export). ``import_key`` and
    ``cursor`` record the import in ``imports`` for the next incremental import. One
    transaction; the normaliser's DuckDB connection does the comparison.
    """
    now = now or utcnow()
    con: duckdb.DuckDBPyConnection = normaliser.con
    con.execute(f"CREATE OR REPLACE TEMP TABLE _new AS {normaliser.relation_sql(source, group)}")
    result = ImportResult(source=source, rows=normaliser.count())
    new_keys = [r[0] for r in con.execute("SELECT row_key FROM _new").fetchall()] \
        if scope.kind == "append" else []
    stamp = now.astimezone(dt.UTC).strftime(SQLITE_TIME)
    select = ", ".join(
        f"strftime(make_timestamp({n}), '{SQLITE_TIME}')" if n in _TIME else n
        for n in ITEM_FIELDS)
    with store.write() as conn:
        _load_old(con, _stored_keys(conn, source, scope, new_keys))
        gone = [] if scope.kind == "append" else con.execute(
            "SELECT id, row_key, resource_id FROM _old ANTI JOIN _new USING (row_key)"
            ).fetchall()
        delete_items(conn, [g[0] for g in gone])
        added = con.execute("CREATE OR REPLACE TEMP TABLE _added AS "
                            "SELECT * FROM _new ANTI JOIN _old USING (row_key)")
        oversize = store.is_sqlite and con.execute(
            "SELECT count(*) FROM _added WHERE "
            + oversize_nanos_sql("list_nanos", "billed_nanos", "effective_nanos")).fetchall()[0][0]
        added = con.execute(f"SELECT source, row_key, {select}, {quote_literal(stamp)} "
                            "FROM _added ORDER BY row_key")  # in index order: fast inserts
        batches = fetch_batches(added)
        inserted = insert_encoded(store, conn, RAW_ITEMS, _INSERT_COLUMNS,
                                  oversize_as_blobs(batches) if oversize else batches,
                                  times=("charge_period_start", "charge_period_end",
                                         "imported_at"))
        changed_ids = {r[0] for r in con.execute(
            "SELECT DISTINCT resource_id FROM _added").fetchall()} | {g[2] for g in gone}
        restated = _restated(con, gone) if gone and inserted else 0
        if import_key is not None:
            write_cursor(conn, import_key, cursor, result.rows, now)
    for table in ("_new", "_old", "_added"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    result.inserted, result.updated = inserted - restated, restated
    result.deleted = len(gone) - restated
    result.keys = {k for k in (resource_key(rid) for rid in changed_ids) if k}
    return result
