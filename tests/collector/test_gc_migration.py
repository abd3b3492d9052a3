"""A store at revision 0003 is upgraded to 0004: the rollup tables and alerts_sent appear and
work, and what the store held stays."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from tests.collector.alert_helpers import settings_with
from tests.collector.gc_helpers import counts, recorded_run
from xprof import schema
from xprof.alert_rules import parse_alerts
from xprof.alert_sender import AlertSender
from xprof.alerts import failed_alert
from xprof.collector.gc import downsample
from xprof.store import Store
from xprof.storeurl import sqlite_path

NEW = ("samples_1m", "gpu_samples_1m", "alerts_sent")


def test_store_at_0003_is_upgraded(any_store_url):
    """Tables of 0003 with a run in them; opening migrates, then gc and alert claims work."""
    from alembic import command

    from xprof.migrations import _config

    if sqlite_path(any_store_url):
        sqlite_path(any_store_url).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(any_store_url)
    old = sa.MetaData()
    for name, table in schema.metadata.tables.items():
        if name not in NEW:
            table.to_metadata(old)
    with engine.begin() as conn:
        old.create_all(conn)
        conn.execute(sa.text("ALTER TABLE billing_items DROP COLUMN tags"))  # added by 0006
        command.stamp(_config(conn), "0003")
    engine.dispose()
    now = dt.datetime(2026, 11, 13, tzinfo=dt.UTC)
    legacy = Store(sa.create_engine(any_store_url), any_store_url)  # not migrated yet
    run_id = recorded_run(legacy, now - dt.timedelta(days=40), 120)
    with legacy.write() as conn:  # the agent of this release writes rollups; 0003 had none
        conn.execute(sa.text("DROP TABLE run_rollups"))
        conn.execute(sa.text("DROP TABLE rollup_counts"))
    legacy.engine.dispose()

    db = Store.open(any_store_url)
    assert db.revision() == schema.SCHEMA_REVISION
    assert set(NEW) <= set(sa.inspect(db.engine).get_table_names())
    assert db.find_run(run_id)["summary"]["samples"] == 120
    downsample(db, dt.timedelta(days=30), now=now)
    assert counts(db) == {"samples": 0, "gpu_samples": 0, "samples_1m": 2, "gpu_samples_1m": 4}
    rule = parse_alerts([{"rule": "run_failed", "mail": "a@example.com"}])[0]
    alert = failed_alert(rule, db.find_run(run_id), "failed", 1)
    sender = AlertSender(settings_with([]), db)
    assert sender._claim(alert, sender_channel(alert)) is True
    assert sender._claim(alert, sender_channel(alert)) is False


def sender_channel(alert):
    from xprof.alert_sender import channels

    return channels(alert)[0]
