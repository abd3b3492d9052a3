"""`xprof sync` carries every table a run owns (every table with a ``run_id`` column, taken
from the schema), keyed, exactly once: after spool → sync the store holds the same rows in
each of them as the spool did, and a second sync changes nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.collector.gc_helpers import recorded_run
from xprof import schema
from xprof.collector.advise import advise_run
from xprof.collector.estimate import estimate_run
from xprof.collector.gc import downsample
from xprof.settings import Settings
from xprof.store import Store

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
SECONDS = 900
VOLATILE = {"id"}  # surrogate keys: each store numbers its own rows
DERIVED = {"run_rollups": {"computed_at"}}  # recomputed by each store: when differs, not what


def _seed(store: Store) -> str:
    """A run with rows in every run-owned table: series, minute rollups (gc folded its first
    ten minutes), params, tags, its estimate, advice and an alert sent about it."""
    run_id = recorded_run(store, START, SECONDS, seed=7)
    with store.write() as conn:
        conn.execute(schema.run_params.insert(), [
            {"run_id": run_id, "key": "lr", "value": "3e-4", "source": "flag"}])
        conn.execute(schema.run_tags.insert(), [{"run_id": run_id, "key": "team",
                                                 "value": "vision"}])
        conn.execute(schema.alerts_sent.insert(), [{
            "rule_key": "run_cost>10", "subject": run_id, "channel": "mail:ada@example.org",
            "rule": "run_cost", "run_id": run_id, "project": "vision",
            "title": "xprof: run over budget", "sent_at": START, "delivered": True}])
    settings = Settings(env={}, config={})
    estimate_run(store, run_id, settings)
    assert advise_run(store, run_id, settings)
    folded = downsample(store, dt.timedelta(minutes=5),
                        now=START + dt.timedelta(seconds=SECONDS), vacuum=False)
    assert sum(folded.rollups_added.values()) > 0
    return run_id


def _rows(store: Store, run_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every run-owned table's rows of the run, surrogate ids left out, in key order."""
    out = {}
    with store.read() as conn:
        for table in schema.run_owned_tables():
            names = [c.name for c in table.columns
                     if c.name not in VOLATILE | DERIVED.get(table.name, set())]
            rows = conn.execute(sa.select(*(table.c[n] for n in names))
                                .where(table.c.run_id == run_id)).all()
            out[table.name] = sorted((tuple(_plain(v) for v in row) for row in rows),
                                     key=repr)
    return out


def _plain(value: Any) -> Any:
    """A value compared across engines (JSON dicts as sorted items, floats as they are)."""
    if isinstance(value, dict):
        return repr(sorted((k, _plain(v)) for k, v in value.items()))
    if isinstance(value, list):
        return repr([_plain(v) for v in value])
    return value


def test_spool_sync_carries_every_run_owned_table(xprof, xprof_home: Path, any_store_url):
    """Spool → `xprof sync` → the store has the spool's rows in every run-owned table; the
    spool forgets the run; a second sync finds nothing to do."""
    spool = Store.open(Settings().spool_url)
    run_id = _seed(spool)
    spooled = _rows(spool, run_id)
    empty = [name for name, rows in spooled.items() if not rows]
    assert not empty, f"the seed must fill every run-owned table: {empty}"

    env = {"XPROF_STORE": any_store_url}
    first = xprof("sync", env=env)
    assert first.returncode == 0, first.stderr
    assert "1 new" in first.stdout
    target = Store.open(any_store_url)
    assert _rows(target, run_id) == spooled
    assert "alerts_sent" in first.stdout and "samples_1m" in first.stdout
    second = xprof("sync", env=env)
    assert second.returncode == 0, second.stderr
    assert "0 new, 0 updated; no rows uploaded" in second.stdout
    left = {name: rows for name, rows in _rows(spool, run_id).items() if rows}
    assert list(left) == ["alerts_sent"]  # uploaded: the spool keeps only what outlives runs
    assert _rows(target, run_id) == spooled


def test_sync_from_a_store_twice_changes_nothing(xprof, tmp_path: Path, store_url: str):
    """`xprof sync --from` a store with every table filled, twice: the second run uploads no
    row and updates no run; advice dismissed on the target stays dismissed."""
    source_url = f"sqlite:///{tmp_path / 'laptop.db'}"
    run_id = _seed(Store.open(source_url))
    first = xprof("sync", "--from", source_url, "--store", store_url)
    assert first.returncode == 0, first.stderr
    target = Store.open(store_url)
    r = schema.recommendations
    with target.write() as conn:
        conn.execute(r.update().where(r.c.run_id == run_id).values(status="dismissed"))
    before = _rows(target, run_id)
    second = xprof("sync", "--from", source_url, "--store", store_url)
    assert second.returncode == 0, second.stderr
    assert "0 new, 0 updated; no rows uploaded" in second.stdout
    assert _rows(target, run_id) == before
    assert {row[-1] for row in _statuses(target, run_id)} == {"dismissed"}


def _statuses(store: Store, run_id: str) -> list[tuple[str, str]]:
    r = schema.recommendations
    with store.read() as conn:
        return conn.execute(sa.select(r.c.rule, r.c.status).where(r.c.run_id == run_id)).all()
