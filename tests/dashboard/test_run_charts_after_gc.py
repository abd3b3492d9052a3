"""The run page's charts read raw samples where they are and the minute rollups where
`xprof gc` folded them, as one series: a partly folded run has no gap, each folded minute
shows its mean and peak, and the rest is sample by sample."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.collector.gc_helpers import recorded_run
from xprof import schema
from xprof.collector.gc import downsample
from xprof.dashboard import queries
from xprof.store import Store

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
SECONDS = 1200  # 20 minutes at 1 Hz; gc folds the first 10
FOLDED_MINUTES = 10


def _raw(store: Store, table: sa.Table, run_id: str) -> list[dict[str, Any]]:
    with store.read() as conn:
        return [dict(r) for r in conn.execute(sa.select(table).where(
            table.c.run_id == run_id).order_by(table.c.ts)).mappings()]


def _by_minute(rows: list[dict[str, Any]], *keys: str) -> dict[tuple, list[dict[str, Any]]]:
    out: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        out[(*(row[k] for k in keys), math.floor(row["ts"] / 60) * 60)].append(row)
    return out


@pytest.fixture
def folded(any_store_url: str) -> tuple[Store, str, list[dict], list[dict]]:
    """A 20-minute run whose first 10 minutes gc folded, with its raw rows from before."""
    store = Store.open(any_store_url)
    run_id = recorded_run(store, START, SECONDS, seed=3)
    samples, gpus = _raw(store, schema.samples, run_id), _raw(store, schema.gpu_samples, run_id)
    result = downsample(store, dt.timedelta(minutes=10),
                        now=START + dt.timedelta(seconds=SECONDS), vacuum=False)
    assert result.removed["samples"] == FOLDED_MINUTES * 60
    return store, run_id, samples, gpus


def test_cpu_and_memory_series_span_folded_and_raw_parts(folded) -> None:
    """One point per folded minute (its mean CPU, peak RSS, at the minute's middle), then one
    per raw sample: 10 + 600 points, the whole run, no gap."""
    store, run_id, raw, _ = folded
    series = queries.samples(store, run_id, max_points=5000)
    assert len(series) == FOLDED_MINUTES + (SECONDS - FOLDED_MINUTES * 60)
    cut = START.timestamp() + FOLDED_MINUTES * 60
    early, late = series[series["ts"] < cut], series[series["ts"] >= cut]
    assert len(early) == FOLDED_MINUTES and len(late) == SECONDS - FOLDED_MINUTES * 60
    minutes = _by_minute([r for r in raw if r["ts"] < cut])
    for (minute,), rows in sorted(minutes.items()):
        point = early[(early["ts"] >= minute) & (early["ts"] < minute + 60)]
        assert len(point) == 1
        assert point["ts"].iloc[0] == minute + 30
        cores = [r["cpu_cores"] for r in rows if r["cpu_cores"] is not None]
        assert point["cpu_cores"].iloc[0] == pytest.approx(sum(cores) / len(cores))
        assert point["cpu_cores_max"].iloc[0] == pytest.approx(max(cores))
        assert point["rss_bytes"].iloc[0] == max(r["rss_bytes"] for r in rows)
    kept = [r for r in raw if r["ts"] >= cut]
    assert late["cpu_cores"].tolist() == pytest.approx([r["cpu_cores"] for r in kept])


def test_wide_buckets_average_across_the_fold(folded) -> None:
    """With fewer points than minutes, a bucket's mean CPU is the mean of the raw values it
    covers (a folded minute counted where its middle falls, weighted by its samples; the
    run's first sample has no CPU rate, so its minute weighs one sample more than it holds
    values: within 0.5 %), and its peak RSS the raw peak."""
    store, run_id, raw, _ = folded
    series = queries.samples(store, run_id, max_points=4)
    assert len(series) == 4
    cut = START.timestamp() + FOLDED_MINUTES * 60
    at = [math.floor(r["ts"] / 60) * 60 + 30 if r["ts"] < cut else r["ts"] for r in raw]
    lo, width = min(at), (max(at) - min(at)) / 4
    for index, (cores, peak) in enumerate(zip(series["cpu_cores"], series["rss_bytes"],
                                              strict=True)):
        rows = [r for r, t in zip(raw, at, strict=True)
                if min(3, math.floor((t - lo) / width)) == index]
        values = [r["cpu_cores"] for r in rows if r["cpu_cores"] is not None]
        assert cores == pytest.approx(sum(values) / len(values), rel=5e-3)
        assert peak == max(r["rss_bytes"] for r in rows)


def test_gpu_series_per_device_across_the_fold(folded) -> None:
    """Each GPU: its folded minutes' mean utilisation and peak memory, then its raw samples."""
    store, run_id, _, raw = folded
    series = queries.gpu_samples(store, run_id, max_points=5000)
    cut = START.timestamp() + FOLDED_MINUTES * 60
    for (gpu, minute), rows in _by_minute([r for r in raw if r["ts"] < cut],
                                          "gpu_index").items():
        point = series[(series["gpu_index"] == gpu) & (series["ts"] == minute + 30)]
        assert len(point) == 1
        utils = [r["util_gpu_pct"] for r in rows]
        assert point["util_gpu_pct"].iloc[0] == pytest.approx(sum(utils) / len(utils))
        assert point["mem_used_bytes"].iloc[0] == max(r["mem_used_bytes"] for r in rows)
    for gpu in (0, 1):
        mine = series[series["gpu_index"] == gpu]
        assert len(mine) == FOLDED_MINUTES + (SECONDS - FOLDED_MINUTES * 60)


def test_run_page_charts_a_wholly_folded_run(tmp_path: Path, open_page) -> None:
    """A run gc folded entirely still gets its utilisation timeline on the run page."""
    url = f"sqlite:///{tmp_path / 'xprof.db'}"
    store = Store.open(url)
    run_id = recorded_run(store, START, 600, seed=5)
    downsample(store, dt.timedelta(minutes=1), now=START + dt.timedelta(days=1), vacuum=False)
    assert not _raw(store, schema.samples, run_id)
    at = open_page("views/run.py", url, run=run_id)
    assert not at.exception
    assert not any("No samples" in i.value for i in at.info)
    assert len(at.get("vega_lite_chart")) == 1
