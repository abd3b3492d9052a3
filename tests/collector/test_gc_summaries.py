"""`gc` folds old samples into one-minute aggregates and leaves every run's summary, costs,
advice and exact peaks as they were computed before it."""

from __future__ import annotations

import datetime as dt
import math
import shutil
import sqlite3

import pytest
import sqlalchemy as sa

from tests.collector.gc_helpers import counts, recorded_run, snapshot
from xprof import schema
from xprof.collector.advise import advise_runs
from xprof.collector.estimate import estimate_run
from xprof.collector.gc import downsample, series_totals
from xprof.settings import Settings
from xprof.stats import percentile
from xprof.store import Store

NOW = dt.datetime(2026, 11, 13, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
KEEP = dt.timedelta(days=30)


@pytest.fixture(scope="module")
def template(tmp_path_factory, seeded_template):
    """Runs 40, 35 and 45 days old (finished, failed, crashed), one across the 30-day
    horizon, one recent, and one still running since 31 days ago; priced and advised.
    Built once; each test gets its own copy of the file."""
    path = tmp_path_factory.mktemp("gc") / "xprof.db"
    shutil.copyfile(seeded_template, path)
    db = Store.open(f"sqlite:///{path}")
    runs = {
        "finished": recorded_run(db, NOW - 40 * DAY, 1800, seed=1),
        "failed": recorded_run(db, NOW - 35 * DAY, 900, seed=2, status="failed"),
        "crashed": recorded_run(db, NOW - 45 * DAY, 600, seed=3, status="crashed"),
        "across": recorded_run(db, NOW - KEEP - dt.timedelta(minutes=10), 1200, seed=4),
        "recent": recorded_run(db, NOW - 2 * DAY, 600, seed=5),
        "running": recorded_run(db, NOW - 31 * DAY, 300, seed=6, status="running",
                                heartbeat_at=NOW),
    }
    settings = Settings(env={}, config={})
    for name, run_id in runs.items():
        if name != "running":
            estimate_run(db, run_id, settings)
    advise_runs(db, runs.values(), settings, abandoned=False)
    with sqlite3.connect(path) as conn:  # fold the WAL into the file so a copy is complete
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path, runs


@pytest.fixture
def store(template, tmp_path):
    path = tmp_path / "xprof.db"
    shutil.copyfile(template[0], path)
    return Store.open(f"sqlite:///{path}")


@pytest.fixture
def history(template):
    return template[1]


def _raw(store: Store, table: sa.Table, run_id: str, **where) -> list[dict]:
    with store.read() as conn:
        query = sa.select(table).where(table.c.run_id == run_id, *(
            table.c[k] == v for k, v in where.items())).order_by(table.c.ts)
        return [dict(m) for m in conn.execute(query).mappings()]


def test_runs_costs_and_advice_are_untouched(store, history):
    """Runs, hosts, metrics, costs and recommendations are identical row for row."""
    before = snapshot(store)
    assert before["costs"] and before["recommendations"] and before["metrics"]
    result = downsample(store, KEEP, now=NOW)
    assert result.runs == 4 and result.skipped_running == 1
    assert snapshot(store) == before


def test_summary_figures_stay_exact(store, history):
    """Peak RSS, peak CPU, CPU seconds and per-GPU peaks read from raw + folded series equal
    those before gc; the stored p95 is the one computed from every raw sample."""
    ids = history.values()
    totals = {i: series_totals(store, i) for i in ids}
    run = store.find_run(history["finished"])
    raw_cpu = [r["cpu_cores"] for r in _raw(store, schema.samples, run["id"])]
    assert run["summary"]["cpu_cores_p95"] == percentile(raw_cpu, 95)
    downsample(store, KEEP, now=NOW)
    assert {i: series_totals(store, i) for i in ids} == totals
    after = store.find_run(history["finished"])
    assert after["summary"] == run["summary"]
    assert totals[run["id"]]["rss_peak_bytes"] == after["peak_rss_bytes"] == \
        after["summary"]["rss_peak_bytes"]
    assert totals[run["id"]]["cpu_cores_max"] == after["summary"]["cpu_cores_max"]
    assert totals[run["id"]]["cpu_seconds_total"] == after["cpu_seconds"]


def test_old_samples_become_minutes(store, history):
    """Ended runs keep no raw sample older than the horizon and get one row a minute (and
    device); recent samples, the run across the horizon's newer half and the running run
    keep theirs."""
    before = counts(store)
    result = downsample(store, KEEP, now=NOW)
    after = counts(store)
    cutoff = (NOW - KEEP).timestamp()
    # 30 + 15 + 10 + 10 minutes of samples (finished, failed, crashed, across)
    assert after["samples_1m"] == result.rollups_added["samples_1m"] == 65
    assert after["gpu_samples_1m"] == 2 * 65
    assert after["samples"] == before["samples"] - (1800 + 900 + 600 + 600)
    assert after["gpu_samples"] == before["gpu_samples"] - 2 * (1800 + 900 + 600 + 600)
    assert after["samples"] + after["samples_1m"] < before["samples"] - 3000
    for name in ("finished", "failed", "crashed"):
        assert _raw(store, schema.samples, history[name]) == []
    across = _raw(store, schema.samples, history["across"])
    assert len(across) == 600 and min(r["ts"] for r in across) >= cutoff
    assert len(_raw(store, schema.samples, history["recent"])) == 600
    assert len(_raw(store, schema.samples, history["running"])) == 300


def test_a_minute_keeps_min_mean_max_p95(store, history):
    """The first minute of a run holds the count and the min, mean, max and p95 of its 60
    raw samples (NULLs left out), for process samples and each GPU."""
    run_id = history["finished"]
    first = NOW.timestamp() - 40 * 86400
    raw = [r for r in _raw(store, schema.samples, run_id) if r["ts"] < first + 60]
    gpu = [r for r in _raw(store, schema.gpu_samples, run_id, gpu_index=0)
           if r["ts"] < first + 60]
    downsample(store, KEEP, now=NOW)
    [minute] = [r for r in _raw(store, schema.samples_1m, run_id) if r["ts"] == first]
    cpu = [r["cpu_cores"] for r in raw if r["cpu_cores"] is not None]
    assert minute["samples"] == 60 and len(cpu) == 59
    assert minute["cpu_cores_min"] == min(cpu) and minute["cpu_cores_max"] == max(cpu)
    assert math.isclose(minute["cpu_cores_mean"], sum(cpu) / 59, rel_tol=1e-12)
    assert minute["cpu_cores_p95"] == percentile(cpu, 95)
    assert minute["rss_bytes_max"] == max(r["rss_bytes"] for r in raw)
    [device] = [r for r in _raw(store, schema.gpu_samples_1m, run_id, gpu_index=0)
                if r["ts"] == first]
    assert device["samples"] == 60 and device["uuid"] == "GPU-00000000"
    assert device["used_by_run"] is True
    assert device["util_gpu_pct_p95"] == percentile([r["util_gpu_pct"] for r in gpu], 95)
    assert device["run_mem_used_bytes_max"] == max(r["run_mem_used_bytes"] for r in gpu)
    [idle] = [r for r in _raw(store, schema.gpu_samples_1m, run_id, gpu_index=1)
              if r["ts"] == first]
    assert idle["used_by_run"] is False and idle["run_mem_used_bytes_max"] is None


def test_a_second_pass_changes_nothing(store, history):
    """Running gc again with the same horizon folds nothing more."""
    downsample(store, KEEP, now=NOW)
    before = counts(store)
    again = downsample(store, KEEP, now=NOW)
    assert sum(again.removed.values()) == 0 and counts(store) == before


def test_late_samples_of_a_folded_minute_are_merged(store, history):
    """Raw samples that arrive for a minute already folded are merged into it: counts add
    up, min and max stay exact."""
    run_id = history["failed"]
    downsample(store, KEEP, now=NOW)
    [old] = _raw(store, schema.samples_1m, run_id)[:1]
    late = {"ts": old["ts"] + 30.5, "cpu_cores": 99.0, "rss_bytes": 1, "cpu_seconds_total": 1.0}
    store.write_batch(run_id, "gpu-box-3", samples=[late])
    downsample(store, KEEP, now=NOW)
    [merged] = _raw(store, schema.samples_1m, run_id)[:1]
    assert merged["samples"] == old["samples"] + 1
    assert merged["cpu_cores_max"] == 99.0 and merged["rss_bytes_min"] == 1
    assert merged["cpu_cores_min"] == old["cpu_cores_min"]
    assert len(_raw(store, schema.samples_1m, run_id)) == 15


def test_postgresql_store_too(pg_url):
    """The same fold on PostgreSQL: the run's row is untouched and its minutes are kept."""
    db = Store.open(pg_url)
    run_id = recorded_run(db, NOW - 40 * DAY, 240, seed=7)
    totals, before = series_totals(db, run_id), snapshot(db)
    result = downsample(db, KEEP, now=NOW)
    assert result.removed == {"samples": 240, "gpu_samples": 480}
    assert counts(db) == {"samples": 0, "gpu_samples": 0, "samples_1m": 4,
                          "gpu_samples_1m": 8}
    assert series_totals(db, run_id) == totals and snapshot(db) == before


def test_deleting_a_folded_run_deletes_its_minutes(store, history):
    """`xprof rm` of a folded run removes its one-minute rows too."""
    downsample(store, KEEP, now=NOW)
    assert store.delete_runs([history["finished"]]) == 1
    for table in (schema.samples_1m, schema.gpu_samples_1m):
        assert _raw(store, table, history["finished"]) == []
    assert _raw(store, schema.samples_1m, history["failed"])
