"""The store: created and migrated once, WAL, exact money, UTC times, runs found by id,
prefix or name."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
from decimal import Decimal

import pytest
import sqlalchemy as sa

from xprof import schema
from xprof.store import Store, StoreError, effective_status


def _run(run_id: str, name: str, started: dt.datetime, **extra) -> dict:
    return {"id": run_id, "name": name, "project": "p", "status": "finished",
            "started_at": started, "heartbeat_at": started, "interval_s": 1.0,
            "flush_interval_s": 2.0, "command": ["python", "t.py"], "host": "h", **extra}


def test_new_store_is_stamped_and_in_wal_mode(store_url, store):
    """A new SQLite store has the current schema revision and uses WAL."""
    assert store.revision() == schema.SCHEMA_REVISION
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as conn:  # Alembic reads the stamp the store wrote itself
        assert MigrationContext.configure(conn).get_current_revision() == schema.SCHEMA_REVISION
    path = store_url.split(":///", 1)[1]
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert Store.open(store_url).migrate() == "current"


@pytest.fixture
def db(any_store_url):
    return Store.open(any_store_url)


def test_money_is_exact(db):
    """Decimal amounts (to 1e-9) survive the round trip and SQL sums exactly."""
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    db.create_run(_run("a" * 32, "r", now))
    amounts = [Decimal("0.0000008"), Decimal("0.1"), Decimal("0.2"), Decimal("1234.567890123")]
    with db.write() as conn:
        conn.execute(schema.costs.insert(), [
            {"kind": "run", "run_id": "a" * 32, "source": "estimate", "basis": "list",
             "period_start": now, "period_end": now, "amount": a, "currency": "USD",
             "computed_at": now} for a in amounts])
    with db.read() as conn:
        stored = conn.execute(sa.select(schema.costs.c.amount)).scalars().all()
        total = conn.execute(sa.select(sa.type_coerce(sa.func.sum(schema.costs.c.amount),
                                                      schema.Money))).scalar()
    assert stored == amounts
    assert total == sum(amounts) == Decimal("1234.867890923")
    assert db.run_costs(["a" * 32])["a" * 32]["amount"] == total


def test_times_are_utc_aware(db):
    """A time stored from any zone reads back as the same instant in UTC; naive is refused."""
    paris = dt.timezone(dt.timedelta(hours=1))
    db.create_run(_run("b" * 32, "r", dt.datetime(2026, 11, 1, 13, 0, tzinfo=paris)))
    run = db.find_run("b" * 32)
    assert run["started_at"] == dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
    assert run["started_at"].tzinfo is not None
    with pytest.raises(sa.exc.StatementError):
        db.create_run(_run("c" * 32, "r", dt.datetime(2026, 11, 1)))


def test_find_run_by_id_prefix_and_name(db):
    """RUN is an id, a unique prefix or a name; ambiguity and absence are clear errors."""
    t = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    db.create_run(_run("abc1" + "0" * 28, "brisk-otter-17", t))
    db.create_run(_run("abc2" + "0" * 28, "calm-heron-20", t))
    assert db.find_run("abc1")["name"] == "brisk-otter-17"
    assert db.find_run("calm-heron-20")["id"].startswith("abc2")
    with pytest.raises(StoreError, match="matches several runs"):
        db.find_run("abc")
    with pytest.raises(StoreError, match="no run matches"):
        db.find_run("zzz")


def test_stale_heartbeat_reads_as_crashed():
    """A running run whose heartbeat is older than 3 flush intervals is crashed."""
    now = dt.datetime(2026, 11, 1, 12, 0, 10, tzinfo=dt.UTC)
    beat = now - dt.timedelta(seconds=7)
    assert effective_status("running", beat, 2.0, now) == "crashed"
    assert effective_status("running", beat, 3.0, now) == "running"
    assert effective_status("finished", beat, 2.0, now) == "finished"


def test_concurrent_first_open_migrates_once(any_store_url):
    """Eight processes opening a new store at once all succeed; the schema is created once."""
    store_url = any_store_url
    code = f"from xprof.store import Store; Store.open({store_url!r})"
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    assert Store.open(store_url).revision() == schema.SCHEMA_REVISION


def test_store_at_the_first_release_is_upgraded(any_store_url):
    """A store created by the first release (revision 0001: no run_hosts, no guard-rail
    columns) is upgraded through Alembic; its runs get their host row."""
    from alembic import command

    from xprof.migrations import _config
    from xprof.storeurl import sqlite_path

    if sqlite_path(any_store_url):
        sqlite_path(any_store_url).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(any_store_url)
    old = sa.MetaData()
    added = {"hypothesis", "expectation", "outcome", "experiment", "attempt", "resumed_from",
             "budget", "stopped_by"}
    for name, table in schema.metadata.tables.items():
        if name in ("run_hosts", "samples_1m", "gpu_samples_1m", "alerts_sent", "run_rollups",
                    "rollup_counts"):
            continue
        columns = [sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                   for c in table.columns if not (name == "runs" and c.name in added)
                   and not (name == "billing_items" and c.name == "tags")]
        sa.Table(name, old, *columns)
    t = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        old.create_all(conn)
        command.stamp(_config(conn), "0001")
        conn.execute(old.tables["runs"].insert().values(_run("d" * 32, "old", t)))
    engine.dispose()
    db = Store.open(any_store_url)
    assert db.revision() == schema.SCHEMA_REVISION == "0009"
    with db.read() as conn:
        hosts = conn.execute(sa.select(schema.run_hosts.c.run_id, schema.run_hosts.c.host)).all()
        rollups = conn.execute(sa.select(schema.run_rollups.c.run_id,
                                         schema.run_rollups.c.cost_state_billed)).all()
    assert [tuple(h) for h in hosts] == [("d" * 32, "h")]
    assert [tuple(r) for r in rollups] == [("d" * 32, "not priced")]
    run = db.find_run("d" * 32)
    assert run["name"] == "old" and run["experiment"] is None
