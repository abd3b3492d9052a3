"""Opening a store, migrating it, and the writes and reads every part shares.

All engine-specific SQL lives here (SQLite pragmas and locking, insert-or-ignore). The rest of
xprof talks to :class:`Store` or runs SQLAlchemy Core statements on ``store.engine``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from xprof import rollup_counts, schema
from xprof.migrations import upgrade
from xprof.run_state import BASES, effective_status, new_rollup, run_from_hosts, utcnow
from xprof.storeurl import StoreError, redact_url, sqlite_path

__all__ = ["BASES", "Store", "StoreError", "counted_costs", "effective_status", "utcnow"]

def counted_costs(basis: str = "billed") -> sa.Select:
    """The rule for what a run cost, in one place: the cost rows (kind 'run') that make up
    each run's cost under ``basis``.

    Billed rows of ``basis`` where the run has any (billing replaces the estimate); else its
    estimate rows of ``basis``, or at list price when the estimator wrote none of that basis.
    The ledger, ``xprof ls``, the dashboard and the report all count through this.
    """
    if basis not in BASES:
        raise ValueError(f"cost basis must be one of {', '.join(BASES)}, got {basis!r}")
    c = schema.costs
    billed, est = c.alias("billed_any"), c.alias("estimate_any")
    has_billed = sa.exists().where(billed.c.run_id == c.c.run_id, billed.c.kind == "run",
                                   billed.c.source == "billed", billed.c.basis == basis)
    has_estimate_of_basis = sa.exists().where(est.c.run_id == c.c.run_id, est.c.kind == "run",
                                              est.c.source == "estimate",
                                              est.c.basis == basis)
    return sa.select(c).where(c.c.kind == "run", c.c.run_id.is_not(None), sa.or_(
        sa.and_(c.c.source == "billed", c.c.basis == basis),
        sa.and_(c.c.source == "estimate", ~has_billed, sa.or_(
            c.c.basis == basis, sa.and_(c.c.basis == "list", ~has_estimate_of_basis)))))


def _sqlite_engine(url: str) -> Engine:
    engine = sa.create_engine(url, connect_args={"timeout": 60}, poolclass=sa.pool.NullPool)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised by every test
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 60000")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()
        dbapi_conn.create_aggregate("xprof_money_sum", 1, schema.MoneySum)

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):  # write transactions take the lock up front: no deadlocked upgrades
        mode = "DEFERRED" if conn.get_execution_options().get("xprof_read") else "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def series_insert_sql(table: sa.Table) -> str:
    """The driver-level insert-or-ignore of a series table's rows on SQLite."""
    names = [c.name for c in table.columns]
    return (f"INSERT OR IGNORE INTO {table.name} ({', '.join(names)}) "
            f"VALUES ({', '.join('?' * len(names))})")


class Store:
    """A migrated store behind one SQLAlchemy engine."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url

    @classmethod
    def open(cls, url: str, migrate: bool = True) -> Store:
        """Open (creating and migrating if needed) the store at ``url``; raise StoreError."""
        try:
            path = sqlite_path(url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                engine = _sqlite_engine(url)
            else:
                connect_args = {"connect_timeout": 5} if url.startswith("postgresql") else {}
                engine = sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)
            store = cls(engine, url)
            if migrate:
                store.migrate()
            else:
                store.revision()  # connects: an unreachable store fails here, not later
            return store
        except StoreError:
            raise
        except (sa.exc.SQLAlchemyError, OSError, ImportError, ValueError) as exc:
            msg = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise StoreError(f"cannot open store {redact_url(url)}: {msg}") from exc

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    # -- transactions -----------------------------------------------------------------------
    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE, so writers queue instead of failing)."""
        with self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(xprof_read=True)
            with conn.begin():
                yield conn

    # -- migrations -------------------------------------------------------------------------
    def revision(self) -> str | None:
        """The store's schema revision, or None for an empty store."""
        with self.read() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    def migrate(self) -> str:
        """Bring the schema to ``SCHEMA_REVISION``; safe when many processes race to do it."""
        if self.revision() == schema.SCHEMA_REVISION:
            return "current"
        with self._migration_lock():
            current = self.revision()
            if current == schema.SCHEMA_REVISION:
                return "current"
            upgrade(self.engine, current)
            return "created" if current is None else "upgraded"

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        path = sqlite_path(self.url)
        if path is not None:
            lock_path = Path(f"{path}.migrate-lock")
            with open(lock_path, "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        elif self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT pg_advisory_lock(7461726)"))
                try:
                    yield
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(7461726)"))
                    conn.commit()
        else:
            yield

    # -- engine-specific inserts ------------------------------------------------------------
    def insert_ignore(self, table: sa.Table) -> Any:
        """INSERT that skips rows whose primary/unique key exists (imports, sync, retries)."""
        if self.engine.dialect.name == "postgresql":
            # lazy: only the dialect of the engine in use is loaded (PostgreSQL's: ~20 ms)
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table).on_conflict_do_nothing()

    def _insert_series(self, conn: Connection, table: sa.Table, run_id: str, host: str,
                       rows: Sequence[dict]) -> None:
        """Insert-or-ignore time-series rows; on SQLite straight through the driver (the
        columns are plain numbers and text, so SQLAlchemy's per-row processing buys nothing
        and costs half the time of a million-sample write). A field a row lacks is NULL on
        both engines (rows of one batch may differ: a spool written by an older agent)."""
        fields = [c.name for c in table.columns][2:]  # run_id and host come first
        if not self.is_sqlite:
            conn.execute(self.insert_ignore(table),
                         [{"run_id": run_id, "host": host, **{f: r.get(f) for f in fields}}
                          for r in rows])
            return
        conn.exec_driver_sql(series_insert_sql(table),
                             [(run_id, host, *(r.get(f) for f in fields)) for r in rows])

    # -- agent writes -----------------------------------------------------------------------
    def create_run(self, run: dict[str, Any], params: dict[str, tuple[str, str]] | None = None,
                   tags: dict[str, str] | None = None, host: dict[str, Any] | None = None) -> None:
        """Insert a run (a no-op if another agent of a multi-node run created it already) and
        this agent's host row; ``params`` maps key -> (value, source)."""
        run_id = run["id"]
        host = host or {"host": run["host"], "status": run["status"],
                        "started_at": run["started_at"], "heartbeat_at": run["heartbeat_at"],
                        "hardware": run.get("hardware")}
        with self.write() as conn:
            conn.execute(self.insert_ignore(schema.runs).values(**run))
            conn.execute(self.insert_ignore(schema.run_hosts).values(run_id=run_id, **host))
            rollup = schema.run_rollups
            if conn.execute(self.insert_ignore(rollup).values(**new_rollup(run))
                            .returning(rollup.c.run_id)).first() is not None:  # counted once
                rollup_counts.add(conn, rollup_counts.new_run(run["project"]))
            if params:
                conn.execute(self.insert_ignore(schema.run_params), [
                    {"run_id": run_id, "key": k, "value": v, "source": s}
                    for k, (v, s) in params.items()])
            if tags:
                conn.execute(self.insert_ignore(schema.run_tags), [
                    {"run_id": run_id, "key": k, "value": v} for k, v in tags.items()])

    def write_batch(self, run_id: str, host: str, *, samples: Sequence[dict] = (),
                    gpu_samples: Sequence[dict] = (), metrics: Sequence[dict] = (),
                    run_update: dict[str, Any] | None = None,
                    host_update: dict[str, Any] | None = None, finished: bool = False) -> None:
        """One flush in one transaction: series rows, this host's fields, the run's fields.

        Rows already stored (same keys) are skipped, so a retried flush never duplicates.
        ``finished``: this host has ended; the run's status, end and totals are recomputed
        over all its hosts.
        """
        with self.write() as conn:
            if finished:  # hosts ending together: one after the other sees the other's end
                conn.execute(sa.select(schema.runs.c.id).where(schema.runs.c.id == run_id)
                             .with_for_update())
            for table, rows in ((schema.samples, samples), (schema.gpu_samples, gpu_samples),
                                (schema.metrics, metrics)):
                if rows:
                    self._insert_series(conn, table, run_id, host, rows)
            if host_update:
                h = schema.run_hosts
                conn.execute(h.update().where(h.c.run_id == run_id, h.c.host == host)
                             .values(**host_update))
            if run_update:
                conn.execute(schema.runs.update().where(schema.runs.c.id == run_id)
                             .values(**run_update))
            if finished:
                self._aggregate_hosts(conn, run_id)

    def replace_params(self, run_id: str, params: dict[str, str]) -> None:
        """Params logged during a run (source ``log``): a key's new value replaces its old."""
        p = schema.run_params
        with self.write() as conn:
            conn.execute(p.delete().where(p.c.run_id == run_id, p.c.key.in_(list(params))))
            conn.execute(p.insert(), [{"run_id": run_id, "key": k[:200], "value": v,
                                       "source": "log"} for k, v in params.items()])

    def count_attempts(self, experiment: str) -> int:
        """How many runs of ``experiment`` the store holds."""
        r = schema.runs
        with self.read() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(r)
                                .where(r.c.experiment == experiment)).scalar()

    def label_first_attempt(self, run_id: str, experiment: str) -> None:
        """A resumed run with no experiment becomes attempt 1 of ``experiment``."""
        r = schema.runs
        with self.write() as conn:
            conn.execute(r.update().where(r.c.id == run_id, r.c.experiment.is_(None))
                         .values(experiment=experiment, attempt=1))

    @staticmethod
    def _aggregate_hosts(conn: Connection, run_id: str) -> None:
        """The run's status, end, duration and totals from its hosts (one host: its own)."""
        h = schema.run_hosts
        hosts = [dict(m) for m in conn.execute(
            sa.select(h).where(h.c.run_id == run_id).order_by(h.c.host)).mappings()]
        if not hosts:
            return
        run = conn.execute(sa.select(schema.runs.c.flush_interval_s, schema.runs.c.started_at)
                           .where(schema.runs.c.id == run_id)).one()
        states = [effective_status(x["status"], x["heartbeat_at"], run.flush_interval_s)
                  for x in hosts]
        if "running" in states:
            return  # another host is still at work; it aggregates when it ends
        update = run_from_hosts(hosts, states, run.started_at)
        conn.execute(schema.runs.update().where(schema.runs.c.id == run_id).values(**update))

    def run_hosts(self, run_id: str) -> list[dict[str, Any]]:
        h = schema.run_hosts
        with self.read() as conn:
            return [dict(m) for m in conn.execute(
                sa.select(h).where(h.c.run_id == run_id).order_by(h.c.host)).mappings()]

    # -- reads ------------------------------------------------------------------------------
    def find_run(self, ref: str) -> dict[str, Any]:
        """The run named by id, unique id prefix or name; StoreError otherwise."""
        r = schema.runs
        with self.read() as conn:
            rows = conn.execute(sa.select(r).where(r.c.id == ref)).mappings().all()
            if not rows:
                rows = conn.execute(sa.select(r).where(r.c.id.startswith(ref, autoescape=True))
                                    .limit(2)).mappings().all()
            if not rows:
                rows = conn.execute(sa.select(r).where(r.c.name == ref)
                                    .order_by(r.c.started_at.desc())).mappings().all()
        if not rows:
            raise StoreError(f"no run matches {ref!r} (try `xprof ls`)")
        if len(rows) > 1:
            ids = ", ".join(row["id"][:12] for row in rows[:5])
            raise StoreError(f"{ref!r} matches several runs ({ids}); give more of the id")
        return self._with_status(dict(rows[0]))

    @staticmethod
    def _with_status(run: dict[str, Any]) -> dict[str, Any]:
        run["status"] = effective_status(run["status"], run["heartbeat_at"],
                                         run["flush_interval_s"])
        return run

    def list_runs(self, *, project: str | None = None, status: str | None = None,
                  since: dt.datetime | None = None, tags: dict[str, str] | None = None,
                  limit: int | None = 50) -> list[dict[str, Any]]:
        """Recent runs, newest first, with their effective status."""
        r = schema.runs
        query = sa.select(r).order_by(r.c.started_at.desc())
        if project:
            query = query.where(r.c.project == project)
        if since:
            query = query.where(r.c.started_at >= since)
        for key, value in (tags or {}).items():
            t = schema.run_tags
            query = query.where(sa.exists().where(t.c.run_id == r.c.id, t.c.key == key,
                                                  t.c.value == value))
        if status and status not in ("crashed", "running"):
            query = query.where(r.c.status == status)
        elif status:
            query = query.where(r.c.status == "running")
        with self.read() as conn:
            rows = [self._with_status(dict(m)) for m in conn.execute(query).mappings()]
        if status:
            rows = [row for row in rows if row["status"] == status]
        return rows[:limit] if limit else rows

    def run_details(self, run_id: str) -> dict[str, Any]:
        """Params, tags, final metrics, costs and recommendations of one run."""
        with self.read() as conn:
            params = {row.key: row.value for row in conn.execute(
                sa.select(schema.run_params).where(schema.run_params.c.run_id == run_id))}
            tags = {row.key: row.value for row in conn.execute(
                sa.select(schema.run_tags).where(schema.run_tags.c.run_id == run_id))}
            m = schema.metrics
            last = (sa.select(m.c.key, sa.func.max(m.c.seq).label("seq"))
                    .where(m.c.run_id == run_id).group_by(m.c.key).subquery())
            final = {row.key: {"value": row.value, "step": row.step} for row in conn.execute(
                sa.select(m.c.key, m.c.value, m.c.step).join(
                    last, sa.and_(m.c.key == last.c.key, m.c.seq == last.c.seq))
                .where(m.c.run_id == run_id))}
            counts = {
                "samples": conn.execute(sa.select(sa.func.count()).select_from(schema.samples)
                                        .where(schema.samples.c.run_id == run_id)).scalar(),
                "gpu_samples": conn.execute(
                    sa.select(sa.func.count()).select_from(schema.gpu_samples)
                    .where(schema.gpu_samples.c.run_id == run_id)).scalar(),
                "metrics": conn.execute(sa.select(sa.func.count()).select_from(m)
                                        .where(m.c.run_id == run_id)).scalar(),
            }
            cost_rows = [dict(row) for row in conn.execute(
                sa.select(schema.costs).where(schema.costs.c.run_id == run_id)
                .order_by(schema.costs.c.id)).mappings()]
            recs = [dict(row) for row in conn.execute(
                sa.select(schema.recommendations)
                .where(schema.recommendations.c.run_id == run_id)).mappings()]
        return {"params": params, "tags": tags, "metrics": final, "counts": counts,
                "costs": cost_rows, "recommendations": recs}

    def run_costs(self, run_ids: Sequence[str], basis: str = "billed"
                  ) -> dict[str, dict[str, Any]]:
        """Each run's cost under :func:`counted_costs`: billed where billing has arrived,
        else the estimate.

        Returns run_id -> {amount (Decimal, or None if any part is unknown), currency, source,
        upper_bound}; runs with no cost row are absent. A run priced in several currencies is
        not summed across them: the first currency is given and ``mixed_currency`` is set.
        """
        out: dict[str, dict[str, Any]] = {}
        if not run_ids:
            return out
        cc = counted_costs(basis).where(schema.costs.c.run_id.in_(list(run_ids))).subquery()
        query = (sa.select(cc.c.run_id, cc.c.source, cc.c.currency,
                           schema.money_sum(cc.c.amount).label("amount"),
                           sa.func.count(cc.c.amount).label("known"),
                           sa.func.count().label("rows"),
                           sa.func.max(sa.case((cc.c.upper_bound, 1), else_=0)).label("upper"))
                 .group_by(cc.c.run_id, cc.c.source, cc.c.currency)
                 .order_by(cc.c.run_id, cc.c.currency))
        with self.read() as conn:
            rows = conn.execute(query).all()
        for row in rows:
            current = out.get(row.run_id)
            if current is not None:
                current["mixed_currency"] = True
                continue
            out[row.run_id] = {"amount": row.amount if row.known == row.rows else None,
                               "currency": row.currency, "source": row.source,
                               "upper_bound": bool(row.upper)}
        return out

    def last_metric_values(self, key: str, *, run_ids: Sequence[str] | None = None,
                           project: str | None = None) -> dict[str, float]:
        """Each run's last logged value of metric ``key`` (of the given runs, or of every run
        of ``project``), by run id; runs that never logged it are absent."""
        m, r = schema.metrics, schema.runs
        last = sa.select(m.c.run_id, sa.func.max(m.c.seq).label("seq")).where(m.c.key == key)
        if run_ids is not None:
            last = last.where(m.c.run_id.in_(list(run_ids)))
        if project is not None:
            last = last.where(m.c.run_id.in_(sa.select(r.c.id).where(r.c.project == project)))
        last = last.group_by(m.c.run_id).subquery()
        query = sa.select(m.c.run_id, m.c.value).join(
            last, sa.and_(m.c.run_id == last.c.run_id, m.c.seq == last.c.seq)).where(
            m.c.key == key)
        with self.read() as conn:
            return {row.run_id: float(row.value) for row in conn.execute(query)
                    if row.value is not None}

    def experiments(self, project: str | None = None) -> list[dict[str, Any]]:
        """Experiments (attempts grouped by name): attempts, summed duration and cost per
        currency, last status; newest first."""
        r = schema.runs
        query = sa.select(r.c.id, r.c.experiment, r.c.project, r.c.attempt, r.c.status,
                          r.c.started_at, r.c.duration_s, r.c.heartbeat_at,
                          r.c.flush_interval_s, r.c.cloud).where(r.c.experiment.is_not(None))
        if project:
            query = query.where(r.c.project == project)
        with self.read() as conn:
            rows = [dict(m) for m in conn.execute(query.order_by(r.c.started_at)).mappings()]
        costs = self.run_costs([row["id"] for row in rows])
        groups: dict[str, dict[str, Any]] = {}
        for row in rows:
            group = groups.setdefault(row["experiment"], {
                "experiment": row["experiment"], "project": row["project"], "attempts": [],
                "duration_s": 0.0, "cost": {}, "unpriced": 0, "interruptions": 0})
            group["attempts"].append(row["id"])
            group["duration_s"] += row["duration_s"] or 0.0
            group["status"] = effective_status(row["status"], row["heartbeat_at"],
                                               row["flush_interval_s"])
            group["started_at"] = group.get("started_at") or row["started_at"]
            if (row["cloud"] or {}).get("interruption"):
                group["interruptions"] += 1
            cost = costs.get(row["id"])
            if cost is None or cost["amount"] is None:
                group["unpriced"] += 1
            else:
                group["cost"][cost["currency"]] = group["cost"].get(
                    cost["currency"], 0) + cost["amount"]
        return sorted(groups.values(), key=lambda g: g["started_at"], reverse=True)

    def delete_runs(self, run_ids: Iterable[str]) -> int:
        ids = list(run_ids)
        with self.write() as conn:
            rollup_counts.forget(conn, ids)  # their rollups, uncounted
            for table in reversed(schema.run_owned_tables()):
                if not table.c.run_id.foreign_keys:
                    continue  # alerts_sent: the record of what was sent outlives the run
                conn.execute(table.delete().where(table.c.run_id.in_(ids)))
            return conn.execute(schema.runs.delete().where(schema.runs.c.id.in_(ids))).rowcount

