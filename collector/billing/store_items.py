"""Writing normalised billing items into ``billing_items``: idempotent and incremental.

Every import names a **scope**, the part of one source it replaces:

- ``prefix``: the rows whose ``row_key`` starts with a group (a file export's billing period);
- ``window``: the rows whose charge period starts inside a time window (an API's answer for
  that window, optionally only some resources);
- ``append``: nothing is replaced; rows are only added or, if their key exists, updated.

Within the scope, rows are compared by ``(source, row_key)``: a new key is inserted, a known
key with other values is updated (a restatement), a key the new data lacks is deleted, and an
identical row is left alone, so importing the same data twice changes nothing. The rows, the
deletions and the source's ``imports`` cursor are written in one transaction.

Money is written as integer nano-units straight from the normalised table (no float, no
Decimal round trip).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from xprof import schema
from xprof.collector.billing.normalise import ITEM_FIELDS, resource_key
from xprof.store import Store, utcnow

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_CHUNK = 500


def _raw_table(table: sa.Table) -> sa.Table:
    """``table`` with Money columns as plain integers (nano-units), for bulk reads and writes."""
    columns = [sa.Column(c.name, sa.BigInteger() if isinstance(c.type, schema.Money) else c.type,
                         primary_key=c.primary_key) for c in table.columns]
    return sa.Table(table.name, sa.MetaData(), *columns)


RAW_ITEMS = _raw_table(schema.billing_items)
RAW_COSTS = _raw_table(schema.costs)

_MONEY = {"list_nanos": "list_cost", "billed_nanos": "billed_cost",
          "effective_nanos": "effective_cost"}
_TIME = {"period_start_us": "charge_period_start", "period_end_us": "charge_period_end"}
# normalised field -> billing_items column
COLUMN_OF = {name: _MONEY.get(name) or _TIME.get(name) or name for name in ITEM_FIELDS}


def from_us(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=int(us))


def to_us(value: dt.datetime) -> int:
    return (value - EPOCH) // dt.timedelta(microseconds=1)


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
    updated: int = 0
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


def _write_cursor(conn: sa.Connection, import_key: str, cursor: str | None, items: int,
                  now: dt.datetime) -> None:
    imp = schema.imports
    conn.execute(imp.delete().where(imp.c.source == import_key))
    conn.execute(imp.insert().values(source=import_key, cursor=cursor, last_import_at=now,
                                     items=items))


def _batches(table: pa.Table, size: int = 50_000) -> Iterator[list[dict[str, Any]]]:
    for batch in table.to_batches(max_chunksize=size):
        yield batch.to_pylist()


def _values(row: dict[str, Any]) -> tuple:
    return tuple(row[name] for name in ITEM_FIELDS)


def _stored_values(row: Any) -> tuple:
    out = []
    for name in ITEM_FIELDS:
        value = row[COLUMN_OF[name]]
        if name in _TIME:
            value = to_us(value)
        out.append(value)
    return tuple(out)


def _row_dict(source: str, row_key: str, values: tuple, now: dt.datetime) -> dict[str, Any]:
    out: dict[str, Any] = {"source": source, "row_key": row_key, "imported_at": now}
    for name, value in zip(ITEM_FIELDS, values, strict=True):
        out[COLUMN_OF[name]] = from_us(value) if name in _TIME and value is not None else value
    return out


def _existing(conn: sa.Connection, source: str, scope: Scope,
              new_keys: Iterable[str]) -> dict[str, tuple[int, tuple]]:
    bi = RAW_ITEMS
    cols = [bi.c.id, bi.c.row_key, *(bi.c[COLUMN_OF[n]] for n in ITEM_FIELDS)]
    out: dict[str, tuple[int, tuple]] = {}
    if scope.kind == "append":
        keys = list(new_keys)
        for i in range(0, len(keys), _CHUNK):
            query = sa.select(*cols).where(bi.c.source == source,
                                           bi.c.row_key.in_(keys[i:i + _CHUNK]))
            for row in conn.execute(query).mappings():
                out[row["row_key"]] = (row["id"], _stored_values(row))
        return out
    query = sa.select(*cols).where(bi.c.source == source)
    if scope.kind == "prefix":
        query = query.where(bi.c.row_key.startswith(scope.prefix, autoescape=True))
    elif scope.kind == "window":
        query = query.where(bi.c.charge_period_start >= scope.start,
                            bi.c.charge_period_start < scope.end)
    else:
        raise ValueError(f"unknown scope {scope.kind!r}")
    for row in conn.execute(query).mappings():
        if (scope.resource_ids is not None and scope.kind == "window"
                and row["resource_id"] not in scope.resource_ids):
            continue
        out[row["row_key"]] = (row["id"], _stored_values(row))
    return out


def write_items(store: Store, table: pa.Table, *, source: str, scope: Scope,
                import_key: str | None = None, cursor: str | None = None,
                now: dt.datetime | None = None) -> ImportResult:
    """Make the stored rows of ``source`` within ``scope`` equal to ``table``; one transaction.

    ``table`` is a normalised item table (``row_key`` + :data:`ITEM_FIELDS`). ``import_key``
    and ``cursor`` record the import in ``imports`` (for the next incremental import).
    """
    now = now or utcnow()
    result = ImportResult(source=source, rows=table.num_rows)
    new: dict[str, tuple] = {}
    for batch in _batches(table.select(["row_key", *ITEM_FIELDS])):
        for row in batch:
            new[row["row_key"]] = _values(row)
    key_index = ITEM_FIELDS.index("resource_id")
    bi = RAW_ITEMS
    with store.write() as conn:
        existing = _existing(conn, source, scope, new.keys())
        inserts, updates, deletes = [], [], []
        for row_key, values in new.items():
            old = existing.get(row_key)
            if old is None:
                inserts.append(_row_dict(source, row_key, values, now))
                result.keys.add(resource_key(values[key_index]))
            elif old[1] != values:
                row = _row_dict(source, row_key, values, now)
                updates.append({"_id": old[0], **{f"v_{k}": v for k, v in row.items()
                                                 if k not in ("source", "row_key")}})
                result.keys.update((resource_key(values[key_index]),
                                    resource_key(old[1][key_index])))
        if scope.kind != "append":
            for row_key, (row_id, values) in existing.items():
                if row_key not in new:
                    deletes.append(row_id)
                    result.keys.add(resource_key(values[key_index]))
        for i in range(0, len(inserts), 20_000):
            conn.execute(bi.insert(), inserts[i:i + 20_000])
        if updates:
            names = [c[2:] for c in updates[0] if c != "_id"]
            stmt = bi.update().where(bi.c.id == sa.bindparam("_id")).values(
                {name: sa.bindparam(f"v_{name}") for name in names})
            conn.execute(stmt, updates)
        for i in range(0, len(deletes), _CHUNK):
            conn.execute(bi.delete().where(bi.c.id.in_(deletes[i:i + _CHUNK])))
        if import_key is not None:
            _write_cursor(conn, import_key, cursor, len(new), now)
    result.inserted, result.updated, result.deleted = len(inserts), len(updates), len(deletes)
    result.keys.discard(None)
    return result
