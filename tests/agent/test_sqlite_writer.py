"""The agent's light SQLite writer (no SQLAlchemy while the child runs): its SQL is the
schema's, it leaves exactly the rows :class:`Store` leaves, it steps aside for stores it
cannot write, and a real ``xprof run`` on an existing store never loads SQLAlchemy before the
child ends."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.sqlite import insert

from tests.conftest import XPROF
from xprof import rollup_counts, schema
from xprof.agent import sqlite_writer as lite
from xprof.agent.sqlite_writer import SqliteWriter
from xprof.store import Store, series_insert_sql
from xprof.store_values import datetime_of_sqlite

DIALECT = sqlite_dialect.dialect()
T0 = dt.datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=dt.UTC)


def sql(statement) -> str:
    text = str(statement.compile(dialect=DIALECT, compile_kwargs={"render_postcompile": True}))
    return " ".join(text.split())


def all_values(table: sa.Table) -> dict:
    return {c.name: None for c in table.columns}


# -- the SQL text is the schema's ------------------------------------------------------------
def test_schema_revision_is_the_schemas():
    """A new revision must be looked at here: until then the agent writes through SQLAlchemy."""
    assert lite.SCHEMA_REVISION == schema.SCHEMA_REVISION


def test_statements_equal_what_sqlalchemy_compiles_from_the_schema():
    r, h, p, t = schema.runs, schema.run_hosts, schema.run_params, schema.run_tags
    pairs = [  # (the light writer's text, the statement Store runs)
        (lite.INSERT_RUN, insert(r).on_conflict_do_nothing().values(all_values(r))),
        (lite.INSERT_HOST, insert(h).on_conflict_do_nothing().values(all_values(h))),
        (lite.INSERT_ROLLUP, insert(schema.run_rollups).on_conflict_do_nothing()
         .values(all_values(schema.run_rollups))),
        (lite.UPSERT_COUNTS, rollup_counts.upsert(insert).values(
            all_values(schema.rollup_counts))),
        (lite.INSERT_PARAM_IGNORE, insert(p).on_conflict_do_nothing().values(
            run_id="r", key="k", value="v", source="s")),
        (lite.INSERT_PARAM, p.insert().values(run_id="r", key="k", value="v", source="s")),
        (lite.INSERT_TAG, insert(t).on_conflict_do_nothing().values(run_id="r", key="k",
                                                                    value="v")),
        (lite.SELECT_HOSTS.format(", ".join(f"run_hosts.{c}" for c in lite.HOST_COLUMNS)),
         sa.select(h).where(h.c.run_id == "x").order_by(h.c.host)),
        (lite.SELECT_RUN_TIMES, sa.select(r.c.flush_interval_s, r.c.started_at)
         .where(r.c.id == "x")),
        (lite.DELETE_PARAMS.format("?, ?"),
         p.delete().where(p.c.run_id == "x", p.c.key.in_(["a", "b"]))),
        (lite.COUNT_ATTEMPTS, sa.select(sa.func.count()).select_from(r)
         .where(r.c.experiment == "e")),
        (lite.LABEL_FIRST_ATTEMPT, r.update().where(r.c.id == "x", r.c.experiment.is_(None))
         .values(experiment="e", attempt=1)),
    ]
    for keys in (list(all_values(r))[1:], ["heartbeat_at"], ["summary", "git", "status"]):
        pairs.append((lite.update_sql(lite.UPDATE_RUN, lite.RUN_COLUMNS, keys, "runs"),
                      r.update().where(r.c.id == "x").values(dict.fromkeys(keys))))
    for keys in (list(all_values(h))[2:], ["heartbeat_at", "cpu_seconds"]):
        pairs.append((lite.update_sql(lite.UPDATE_HOST, lite.HOST_COLUMNS, keys, "run_hosts"),
                      h.update().where(h.c.run_id == "x", h.c.host == "y")
                      .values(dict.fromkeys(keys))))
    for mine, statement in pairs:
        assert mine == sql(statement)
    for mine, table in ((lite.INSERT_SAMPLES, schema.samples),
                        (lite.INSERT_GPU_SAMPLES, schema.gpu_samples),
                        (lite.INSERT_METRICS, schema.metrics)):
        assert mine == series_insert_sql(table)


def test_converted_columns_are_the_schemas_typed_ones():
    """Datetimes, JSON and money are converted; every other column passes through as is."""
    columns = [*schema.runs.columns, *schema.run_hosts.columns, *schema.run_rollups.columns]
    for mine, kind in ((lite.DATETIME_COLUMNS, schema.UTCDateTime), (lite.JSON_COLUMNS, sa.JSON),
                       (lite.MONEY_COLUMNS, schema.Money)):
        assert mine == {c.name for c in columns if isinstance(c.type, kind)}
    plain = (sa.String, sa.Integer, sa.Float, sa.Boolean)  # Text, BigInteger: subclasses
    assert all(isinstance(c.type, plain) for c in columns
               if c.name not in lite.DATETIME_COLUMNS | lite.JSON_COLUMNS | lite.MONEY_COLUMNS)


def test_unknown_column_is_an_error_naming_it(tmp_path):
    _, writer = two_stores(tmp_path)
    with pytest.raises(ValueError, match=r"runs has no column.*colour"):
        writer.create_run({**run_row("r1"), "colour": "red"})


# -- the same calls leave the same rows ------------------------------------------------------
def run_row(run_id: str, host: str = "node-a", **extra) -> dict:
    return {"id": run_id, "name": f"name-{run_id}", "project": "proj", "status": "running",
            "started_at": T0, "heartbeat_at": T0 + dt.timedelta(seconds=1),
            "interval_s": 1.0, "flush_interval_s": 3600.0,
            "command": ["python", "train.py", "--lr", "0.1"], "cwd": "/tmp/x", "host": host,
            "user": "ana", "os": "Linux", "python": "3.11.7", "agent_version": "1.0",
            "hardware": {"cpu_count": 8, "gpus": [{"model": "A100"}]}, "git": None,
            "objective_name": "acc", "objective_mode": "max", **extra}


def host_row(host: str, when: dt.datetime = T0) -> dict:
    return {"host": host, "status": "running", "started_at": when, "heartbeat_at": when,
            "hardware": {"cpu_count": 8}}


def samples(start: float, n: int) -> list[dict]:
    return [{"ts": start + i, "cpu_cores": 0.5 * i, "rss_bytes": 1000 + i, "threads": 3,
             "host_cpu_pct": None, "host_mem_available_bytes": 2**40} for i in range(n)]


def gpu_samples(start: float) -> list[dict]:
    return [{"ts": start, "gpu_index": 0, "mig_index": -1, "uuid": "GPU-1", "power_w": 250.5,
             "used_by_run": True, "attribution": "pid"},
            {"ts": start, "gpu_index": 1, "mig_index": -1, "uuid": "GPU-2",
             "used_by_run": False, "attribution": "none"}]


def metrics(first_seq: int) -> list[dict]:
    return [{"seq": first_seq + i, "key": "loss", "value": 1.0 / (i + 1), "step": i,
             "ts": 1e9 + i, "source": "log"} for i in range(3)]


def play(target, beat: dt.datetime) -> None:
    """One sequence of the agent's calls: a two-host run (hosts ending in turn, one failed),
    a single-host run with huge money, params logged and replaced, experiments."""
    target.create_run(run_row("multi", budget=Decimal("12.5"), experiment="exp", attempt=1),
                      params={"lr": ("0.1", "argv"), "note": ("x", "flag")},
                      tags={"team": "vision", "empty": ""}, host=host_row("node-a"))
    target.create_run(run_row("multi", host="node-b"), params={"lr": ("0.2", "argv")},
                      tags={"team": "other"}, host=host_row("node-b", T0 + dt.timedelta(1)))
    target.write_batch("multi", "node-a", samples=samples(1e9, 5),
                       gpu_samples=gpu_samples(1e9), metrics=metrics(0),
                       run_update={"heartbeat_at": beat, "git": {"commit": "abc", "dirty": True},
                                   "environment": {"packages": ["a==1"]}},
                       host_update={"heartbeat_at": beat})
    target.write_batch("multi", "node-a", samples=samples(1e9 + 3, 5),  # overlap: ignored
                       metrics=metrics(2), host_update={"heartbeat_at": beat})
    target.write_batch("multi", "node-b", samples=samples(1e9, 2),
                       host_update={"heartbeat_at": beat, "cloud_provider": "aws",
                                    "cloud": {"source": "imds"}},
                       run_update={"heartbeat_at": beat, "cloud_provider": "aws"})
    target.replace_params("multi", {"lr": "0.3", "epochs": "10", "k" * 250: "long"})
    target.replace_params("multi", {"epochs": "20"})
    target.write_batch("multi", "node-a", samples=samples(2e9, 1), finished=True,
                       host_update={"status": "finished", "exit_code": 0,
                                    "ended_at": beat + dt.timedelta(seconds=30),
                                    "heartbeat_at": beat, "cpu_seconds": 12.5,
                                    "peak_rss_bytes": 2**33, "summary": {"p50": 1.0},
                                    "hardware": None, "cloud": None},
                       run_update={"heartbeat_at": beat, "output_tail": "done\n",
                                   "outcome": None, "stopped_by": None})
    target.write_batch("multi", "node-b", finished=True,
                       host_update={"status": "failed", "exit_code": 3, "signal": None,
                                    "ended_at": beat + dt.timedelta(seconds=40),
                                    "heartbeat_at": beat, "cpu_seconds": 7.25,
                                    "peak_rss_bytes": 2**20, "summary": {"p50": 2.0}},
                       run_update={"heartbeat_at": beat})
    target.create_run(run_row("single", budget=Decimal("123456789012.123456789")))
    assert target.count_attempts("exp") == 1
    target.label_first_attempt("single", "exp")
    target.label_first_attempt("multi", "other")  # has an experiment: unchanged
    assert target.count_attempts("exp") == 2
    target.write_batch("single", "node-a", finished=True, gpu_samples=gpu_samples(3e9),
                       host_update={"status": "finished", "exit_code": 0, "ended_at": beat,
                                    "heartbeat_at": beat, "cpu_seconds": 1.0,
                                    "instance_type": "p4d.24xlarge", "summary": {"x": [1, 2]}},
                       run_update={"heartbeat_at": beat, "environment": None})


def dump(path: Path) -> dict[str, list[tuple]]:
    """Every table's rows as SQLite holds them, each value with its storage class."""
    conn = sqlite3.connect(path)
    try:
        tables = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(tuple((type(v).__name__, v) for v in row)
                          for row in conn.execute(f'SELECT * FROM "{t}"')) for t in tables}
    finally:
        conn.close()


def computed_at_set_aside(rows: dict[str, list[tuple]], since: dt.datetime,
                          until: dt.datetime) -> list[tuple]:
    """The ``run_rollups`` rows without their last column, ``computed_at`` (the clock's time
    of each write), after checking it lies between ``since`` and ``until``."""
    kept = []
    for row in rows["run_rollups"]:
        (kind, text) = row[-1]
        assert kind == "str" and since <= datetime_of_sqlite(text) <= until
        kept.append(row[:-1])
    return kept


def two_stores(tmp_path: Path) -> tuple[Store, SqliteWriter]:
    full = Store.open(f"sqlite:///{tmp_path / 'full.db'}")
    Store.open(f"sqlite:///{tmp_path / 'lite.db'}")
    writer = SqliteWriter.open(f"sqlite:///{tmp_path / 'lite.db'}")
    assert writer is not None
    return full, writer


def test_same_calls_leave_identical_rows_in_every_table(tmp_path):
    full, writer = two_stores(tmp_path)
    beat = dt.datetime.now(dt.UTC)  # recent: a host's heartbeat is not stale
    play(full, beat)
    play(writer, beat)
    writer.close()
    until = dt.datetime.now(dt.UTC)
    expected, got = dump(tmp_path / "full.db"), dump(tmp_path / "lite.db")
    assert set(got) == {t.name for t in schema.metadata.sorted_tables} | {"alembic_version"}
    assert computed_at_set_aside(got, beat, until) == computed_at_set_aside(expected, beat,
                                                                            until)
    for table in expected.keys() - {"run_rollups"}:
        assert got[table] == expected[table], table
    # each run's first rollup row: as created (the agent's last flush recomputes it)
    rollups = {r[0][1]: r for r in got["run_rollups"]}
    assert set(rollups) == {"multi", "single"}
    columns = [c.name for c in schema.run_rollups.columns]
    multi = dict(zip(columns, (v for _, v in rollups["multi"]), strict=True))
    assert multi["status"] == "running" and multi["user"] == "ana"
    assert multi["objective_name"] == "acc" and multi["cost_billed"] is None
    assert [multi[f"cost_state_{b}"] for b in lite.BASES] == ["not priced"] * 3
    # and the sequence did what it says: the run aggregated over both hosts, failed
    run = full.find_run("multi")
    assert run["status"] == "failed" and run["exit_code"] == 3
    assert run["cpu_seconds"] == 19.75 and run["summary"] == {"p50": 1.0, "hosts": 2}
    assert full.find_run("single")["budget"] == Decimal("123456789012.123456789")
    assert len(expected["samples"]) == 1 + 2 + 8


def test_a_failed_write_leaves_nothing(tmp_path):
    _, writer = two_stores(tmp_path)
    writer.create_run(run_row("r1"))
    before = dump(tmp_path / "lite.db")
    with pytest.raises(ValueError, match="run_hosts has no column"):
        writer.write_batch("r1", "node-a", samples=samples(1e9, 3), host_update={"bad": 1})
    assert dump(tmp_path / "lite.db") == before
    writer.write_batch("r1", "node-a", samples=samples(1e9, 3))  # the connection goes on
    assert len(dump(tmp_path / "lite.db")["samples"]) == 3


# -- stores it leaves to SQLAlchemy ----------------------------------------------------------
def test_opens_only_an_existing_sqlite_store_at_its_revision(tmp_path, pg_url):
    assert SqliteWriter.open(f"sqlite:///{tmp_path / 'new.db'}") is None
    assert not (tmp_path / "new.db").exists()  # creating a store is SQLAlchemy's
    assert SqliteWriter.open("sqlite:///:memory:") is None
    assert SqliteWriter.open(pg_url) is None
    (tmp_path / "junk.db").write_text("not a database")
    assert SqliteWriter.open(f"sqlite:///{tmp_path / 'junk.db'}") is None
    sqlite3.connect(tmp_path / "empty.db").close()
    assert SqliteWriter.open(f"sqlite:///{tmp_path / 'empty.db'}") is None
    Store.open(f"sqlite:///{tmp_path / 'old.db'}")
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0005_money_any_currency'")
    assert SqliteWriter.open(f"sqlite:///{tmp_path / 'old.db'}") is None
    assert SqliteWriter.open(f"sqlite:///{tmp_path / 'full.db'}") is None
    Store.open(f"sqlite:///{tmp_path / 'full.db'}")
    assert SqliteWriter.open(f"sqlite:///{tmp_path / 'full.db'}") is not None


# -- a real run -------------------------------------------------------------------------------
CHILD = textwrap.dedent("""
    import os, sqlite3, sys, time
    db, run_id = sys.argv[1], os.environ["XPROF_RUN_ID"]
    agent = os.getppid()
    deadline = time.time() + 60
    while time.time() < deadline:  # until three flushes have stored samples
        with sqlite3.connect(db) as conn:
            n = conn.execute("SELECT count(*) FROM samples WHERE run_id = ?",
                             (run_id,)).fetchone()[0]
            params = conn.execute("SELECT count(*) FROM run_params WHERE run_id = ? "
                                  "AND source = 'log'", (run_id,)).fetchone()[0]
        if n >= 6 and params:
            break
        from xprof.metrics_log import write_params_line
        write_params_line({"stage": "warm"})
        time.sleep(0.2)
    maps = open(f"/proc/{agent}/maps").read()
    cmd = open(f"/proc/{agent}/cmdline").read()
    print("AGENT", "xprof" in cmd, "SAMPLES", n, "PARAMS", params,
          "SQLALCHEMY", "sqlalchemy" in maps, flush=True)
""")


@pytest.mark.parametrize("light", [True, False])
def test_a_run_on_an_existing_store_loads_no_sqlalchemy_while_the_child_runs(tmp_path, store,
                                                                            light):
    """With `light_writes`, samples and params stored while the child runs go through the
    light writer: the agent process has mapped none of SQLAlchemy's compiled modules; the
    run's end is complete. Without it (the default) SQLAlchemy is loaded during the run."""
    db = Path(store.url.split("///", 1)[1])
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, XPROF_FLUSH_INTERVAL="0.3", XPROF_INTERVAL="0.1",
               XPROF_LIGHT_WRITES="1" if light else "0")
    proc = subprocess.run([*XPROF, "run", "--name", "lite", "--", sys.executable, str(script),
                           str(db)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("AGENT"))
    agent, n, params, loaded = line.split()[1::2]
    assert agent == "True" and int(n) >= 6 and int(params) == 1
    assert loaded == str(not light), "SQLAlchemy loaded (or not) while the child ran"
    run = store.find_run("lite")
    assert run["status"] == "finished" and run["exit_code"] == 0
    details = store.run_details(run["id"])
    assert details["params"]["stage"] == "warm"
    assert details["counts"]["samples"] == run["summary"]["samples"]
    with store.read() as conn:  # created by the light writer, recomputed by the last flush
        rollup = conn.execute(sa.select(schema.run_rollups)
                              .where(schema.run_rollups.c.run_id == run["id"])).one()
    assert rollup.status == "finished" and rollup.duration_s == run["duration_s"]
