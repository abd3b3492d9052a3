"""The agent's writes to an up-to-date SQLite store while the child runs, without SQLAlchemy.

Importing SQLAlchemy and the schema costs the agent about 0.2 s of CPU, taken from the
training on a busy machine. On a SQLite store that already exists at the schema revision
below (the default embedded store) the agent writes through the standard library's
``sqlite3`` instead: one long-lived connection (pragmas once), the same busy timeout and
``BEGIN IMMEDIATE`` as :mod:`xprof.store`'s SQLite engine, and the same rows as
:class:`xprof.store.Store`'s ``create_run`` (with the run's first ``run_rollups`` row and its
``rollup_counts``), ``write_batch``, ``replace_params``, ``count_attempts`` and
``label_first_attempt``. A store
that is new, at another revision, not SQLite or that fails here is written through
:class:`~xprof.store.Store` (creation and migrations stay SQLAlchemy/Alembic's), and so is
the run's last flush (which recomputes the run's rollup, :mod:`xprof.rollups`).

The statements are plain SQL text; ``tests/agent/test_sqlite_writer.py`` compiles the same
statements from :mod:`xprof.schema` and checks they are equal, and that both writers leave
identical rows.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from xprof.run_state import (
    BASES,
    effective_status,
    new_rollup,
    new_rollup_counts,
    run_from_hosts,
)
from xprof.store_values import (
    datetime_of_sqlite,
    json_of_sqlite,
    sqlite_datetime,
    sqlite_json,
    sqlite_money,
)
from xprof.storeurl import sqlite_path

# the schema these statements are written for; another revision goes through SQLAlchemy
SCHEMA_REVISION = "0009"

INSERT_RUN = (
    "INSERT INTO runs (id, name, project, status, exit_code, signal, started_at, ended_at, "
    "heartbeat_at, duration_s, interval_s, flush_interval_s, command, cwd, host, user, os, "
    "python, git, environment, hardware, cloud_provider, cloud_account, cloud_region, "
    "cloud_zone, instance_id, instance_type, lifecycle, cloud, objective_name, objective_mode, "
    "cpu_seconds, peak_rss_bytes, summary, output_tail, agent_version, hypothesis, "
    "expectation, outcome, experiment, attempt, resumed_from, budget, stopped_by) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
    "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
INSERT_HOST = (
    "INSERT INTO run_hosts (run_id, host, status, exit_code, signal, started_at, ended_at, "
    "heartbeat_at, hardware, cloud_provider, cloud_account, cloud_region, cloud_zone, "
    "instance_id, instance_type, lifecycle, cloud, cpu_seconds, peak_rss_bytes, summary) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
ROLLUP_COLUMNS = (
    "run_id", "project", "name", "status", "started_at", "ended_at", "duration_s",
    "instance_type", "provider", "user", "cpu_cores_p50", "gpu_util_p50", "rss_peak_bytes",
    "gpu_hours", "objective_name", "objective_mode", "objective_last", "objective_best",
    *(f"{column}_{basis}" for basis in BASES
      for column in ("cost", "currency", "cost_source", "cost_state", "upper_bound",
                     "cost_reason", "cost_value", "score", "cost_rows", "cost_first",
                     "cost_last")),
    "computed_at")
INSERT_ROLLUP = (f"INSERT INTO run_rollups ({', '.join(ROLLUP_COLUMNS)}) "
                 f"VALUES ({', '.join('?' * len(ROLLUP_COLUMNS))}) ON CONFLICT DO NOTHING")
UPSERT_COUNTS = ("INSERT INTO rollup_counts (project, basis, currency, cost_state, runs, priced) "
                 "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project, basis, currency, cost_state) "
                 "DO UPDATE SET runs = (rollup_counts.runs + excluded.runs), "
                 "priced = (rollup_counts.priced + excluded.priced)")
INSERT_PARAM_IGNORE = ('INSERT INTO run_params (run_id, "key", value, source) '
                       "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")
INSERT_PARAM = 'INSERT INTO run_params (run_id, "key", value, source) VALUES (?, ?, ?, ?)'
INSERT_TAG = ('INSERT INTO run_tags (run_id, "key", value) VALUES (?, ?, ?) '
              "ON CONFLICT DO NOTHING")
INSERT_SAMPLES = (
    "INSERT OR IGNORE INTO samples (run_id, host, ts, cpu_cores, cpu_seconds_total, rss_bytes, "
    "threads, processes, read_bytes_total, write_bytes_total, host_cpu_pct, host_iowait_pct, "
    "host_mem_used_bytes, host_mem_available_bytes) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
INSERT_GPU_SAMPLES = (
    "INSERT OR IGNORE INTO gpu_samples (run_id, host, ts, gpu_index, mig_index, uuid, "
    "util_gpu_pct, util_mem_pct, mem_used_bytes, mem_total_bytes, power_w, power_limit_w, "
    "temperature_c, sm_clock_mhz, energy_j, run_mem_used_bytes, run_sm_util_pct, used_by_run, "
    "attribution) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
INSERT_METRICS = ("INSERT OR IGNORE INTO metrics (run_id, host, seq, key, value, step, ts, "
                  "source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
UPDATE_RUN = "UPDATE runs SET {} WHERE runs.id = ?"
UPDATE_HOST = "UPDATE run_hosts SET {} WHERE run_hosts.run_id = ? AND run_hosts.host = ?"
SELECT_HOSTS = ("SELECT {} FROM run_hosts WHERE run_hosts.run_id = ? "
                "ORDER BY run_hosts.host")
SELECT_RUN_TIMES = "SELECT runs.flush_interval_s, runs.started_at FROM runs WHERE runs.id = ?"
DELETE_PARAMS = ('DELETE FROM run_params WHERE run_params.run_id = ? AND run_params."key" '
                 "IN ({})")
COUNT_ATTEMPTS = "SELECT count(*) AS count_1 FROM runs WHERE runs.experiment = ?"
LABEL_FIRST_ATTEMPT = ("UPDATE runs SET experiment=?, attempt=? "
                       "WHERE runs.id = ? AND runs.experiment IS NULL")

# columns whose values SQLite keeps converted (the rest go through as they are)
DATETIME_COLUMNS = frozenset({"started_at", "ended_at", "heartbeat_at", "computed_at",
                              *(f"cost_{end}_{basis}" for end in ("first", "last")
                                for basis in BASES)})
JSON_COLUMNS = frozenset({"command", "git", "environment", "hardware", "cloud", "summary"})
MONEY_COLUMNS = frozenset({"budget", *(f"cost_{basis}" for basis in BASES)})
_TO_SQLITE: dict[str, Callable[[Any], Any]] = {
    **dict.fromkeys(DATETIME_COLUMNS, sqlite_datetime), **dict.fromkeys(JSON_COLUMNS, sqlite_json),
    **dict.fromkeys(MONEY_COLUMNS, sqlite_money)}
_FROM_SQLITE: dict[str, Callable[[Any], Any]] = {
    **dict.fromkeys(DATETIME_COLUMNS, datetime_of_sqlite),
    **dict.fromkeys(JSON_COLUMNS, json_of_sqlite)}


def columns_of(insert: str) -> tuple[str, ...]:
    """The column names of an ``INSERT ... (a, b) VALUES`` statement, in order."""
    return tuple(insert.split("(", 1)[1].split(")", 1)[0].split(", "))


RUN_COLUMNS = columns_of(INSERT_RUN)
HOST_COLUMNS = columns_of(INSERT_HOST)
SAMPLE_COLUMNS = columns_of(INSERT_SAMPLES)
GPU_COLUMNS = columns_of(INSERT_GPU_SAMPLES)
METRIC_COLUMNS = columns_of(INSERT_METRICS)


def _value(column: str, value: Any) -> Any:
    convert = _TO_SQLITE.get(column)
    return value if convert is None else convert(value)


def _row(columns: tuple[str, ...], values: dict[str, Any], table: str) -> tuple:
    """The insert's parameters: a column absent from ``values`` is NULL."""
    unknown = set(values) - set(columns)
    if unknown:
        raise ValueError(f"{table} has no column(s) {', '.join(sorted(unknown))}")
    return tuple(_value(c, values[c]) if c in values else None for c in columns)


def update_sql(template: str, columns: tuple[str, ...], keys: Sequence[str], table: str) -> str:
    """An UPDATE setting ``keys`` (in the table's column order, as SQLAlchemy writes it)."""
    unknown = set(keys) - set(columns)
    if unknown:
        raise ValueError(f"{table} has no column(s) {', '.join(sorted(unknown))}")
    return template.format(", ".join(f"{c}=?" for c in columns if c in keys))


def _set_values(columns: tuple[str, ...], values: dict[str, Any]) -> list:
    return [_value(c, values[c]) for c in columns if c in values]


class SqliteWriter:
    """One run's writes to an existing, up-to-date SQLite store on one connection."""

    def __init__(self, conn: sqlite3.Connection, url: str) -> None:
        self.conn = conn
        self.url = url
        self._lock = threading.Lock()  # one statement sequence at a time on the connection

    @classmethod
    def open(cls, url: str) -> SqliteWriter | None:
        """The writer for ``url``; None unless it is a SQLite file that exists at
        :data:`SCHEMA_REVISION` (the caller then goes through SQLAlchemy)."""
        path = sqlite_path(url)
        if path is None or not path.is_file():
            return None
        try:
            conn = sqlite3.connect(path, timeout=60, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error:
            return None
        try:
            for pragma in ("busy_timeout = 60000", "journal_mode = WAL", "synchronous = NORMAL",
                           "foreign_keys = ON"):
                conn.execute(f"PRAGMA {pragma}")
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:
            revision = None
        if revision is None or revision[0] != SCHEMA_REVISION:
            conn.close()
            return None
        return cls(conn, url)

    def close(self, wait: bool = True) -> bool:
        """Close the connection; with ``wait`` False, only if no write is under way."""
        if not self._lock.acquire(blocking=wait):
            return False
        try:
            self.conn.close()
        finally:
            self._lock.release()
        return True

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the lock up front (BEGIN IMMEDIATE), as the store's."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    # -- what Store does for the agent -------------------------------------------------------
    def create_run(self, run: dict[str, Any], params: dict[str, tuple[str, str]] | None = None,
                   tags: dict[str, str] | None = None, host: dict[str, Any] | None = None) -> None:
        """As :meth:`xprof.store.Store.create_run`."""
        run_id = run["id"]
        host = host or {"host": run["host"], "status": run["status"],
                        "started_at": run["started_at"], "heartbeat_at": run["heartbeat_at"],
                        "hardware": run.get("hardware")}
        with self._write() as conn:
            conn.execute(INSERT_RUN, _row(RUN_COLUMNS, run, "runs"))
            conn.execute(INSERT_HOST, _row(HOST_COLUMNS, {"run_id": run_id, **host},
                                           "run_hosts"))
            if conn.execute(INSERT_ROLLUP, _row(ROLLUP_COLUMNS, new_rollup(run),
                                                "run_rollups")).rowcount == 1:  # counted once
                conn.executemany(UPSERT_COUNTS, new_rollup_counts(run["project"]))
            if params:
                conn.executemany(INSERT_PARAM_IGNORE, [(run_id, k, v, s)
                                                       for k, (v, s) in params.items()])
            if tags:
                conn.executemany(INSERT_TAG, [(run_id, k, v) for k, v in tags.items()])

    def write_batch(self, run_id: str, host: str, *, samples: Sequence[dict] = (),
                    gpu_samples: Sequence[dict] = (), metrics: Sequence[dict] = (),
                    run_update: dict[str, Any] | None = None,
                    host_update: dict[str, Any] | None = None, finished: bool = False) -> None:
        """As :meth:`xprof.store.Store.write_batch`."""
        with self._write() as conn:
            for sql, columns, rows in ((INSERT_SAMPLES, SAMPLE_COLUMNS, samples),
                                       (INSERT_GPU_SAMPLES, GPU_COLUMNS, gpu_samples),
                                       (INSERT_METRICS, METRIC_COLUMNS, metrics)):
                if rows:
                    fields = columns[2:]  # run_id and host come first in every series table
                    conn.executemany(sql, [(run_id, host, *(r.get(f) for f in fields))
                                           for r in rows])
            if host_update:
                conn.execute(update_sql(UPDATE_HOST, HOST_COLUMNS, host_update, "run_hosts"),
                             [*_set_values(HOST_COLUMNS, host_update), run_id, host])
            if run_update:
                self._update_run(conn, run_id, run_update)
            if finished:
                self._aggregate_hosts(conn, run_id)

    def replace_params(self, run_id: str, params: dict[str, str]) -> None:
        """As :meth:`xprof.store.Store.replace_params`."""
        with self._write() as conn:
            keys = list(params)
            conn.execute(DELETE_PARAMS.format(", ".join("?" * len(keys))), [run_id, *keys])
            conn.executemany(INSERT_PARAM, [(run_id, k[:200], v, "log")
                                            for k, v in params.items()])

    def count_attempts(self, experiment: str) -> int:
        """As :meth:`xprof.store.Store.count_attempts`."""
        with self._lock:
            return self.conn.execute(COUNT_ATTEMPTS, (experiment,)).fetchone()[0]

    def label_first_attempt(self, run_id: str, experiment: str) -> None:
        """As :meth:`xprof.store.Store.label_first_attempt`."""
        with self._write() as conn:
            conn.execute(LABEL_FIRST_ATTEMPT, (experiment, 1, run_id))

    @staticmethod
    def _update_run(conn: sqlite3.Connection, run_id: str, update: dict[str, Any]) -> None:
        conn.execute(update_sql(UPDATE_RUN, RUN_COLUMNS, update, "runs"),
                     [*_set_values(RUN_COLUMNS, update), run_id])

    def _aggregate_hosts(self, conn: sqlite3.Connection, run_id: str) -> None:
        """As the store's: the run's status, end and totals from its hosts (one: its own)."""
        select = SELECT_HOSTS.format(", ".join(f"run_hosts.{c}" for c in HOST_COLUMNS))
        hosts = [{c: _FROM_SQLITE[c](v) if c in _FROM_SQLITE else v
                  for c, v in zip(HOST_COLUMNS, row, strict=True)}
                 for row in conn.execute(select, (run_id,))]
        if not hosts:
            return
        flush_interval_s, started_at = conn.execute(SELECT_RUN_TIMES, (run_id,)).fetchone()
        states = [effective_status(x["status"], x["heartbeat_at"], flush_interval_s)
                  for x in hosts]
        if "running" in states:
            return  # another host is still at work; it aggregates when it ends
        self._update_run(conn, run_id,
                         run_from_hosts(hosts, states, datetime_of_sqlite(started_at)))
