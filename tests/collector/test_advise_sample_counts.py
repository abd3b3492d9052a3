"""Advice reads a run's host samples and GPU-busy series as counts (xprof.sample_counts): kept
by the agent while it samples (the host summary's ``advice_counts``), or grouped in SQL from
the rows for a run recorded without them. On the same recorded run both give the same
counts and the same advice to the digit; against the raw rows, what the rules decide
("above 90 % of the vCPUs", "iowait above 10 %", the idle tail) is exact, and a value read
back from a bucket (a percentile of CPU cores) is at most one bucket (0.1 core) above it.

Seconds before the run first touches a GPU count as GPU-idle ticks. On SQLite and PostgreSQL."""

from __future__ import annotations

import random
from typing import Any

import pytest
import sqlalchemy as sa

from tests.collector.advise_seed import GIB, T4, gpu_row, seed_run
from xprof import schema
from xprof.agent.run_stats import RunStats
from xprof.collector.advise import advise_run, load_evidence
from xprof.collector.sample_counts_sql import sample_counts_sql
from xprof.sample_counts import CORES_STEP, SampleCounts
from xprof.settings import Settings
from xprof.stats import percentile
from xprof.store import Store

SETTINGS = Settings(env={}, config={})
TOUCH_0, TOUCH_1, BUSY, TAIL, END = 900, 1500, 4800, 6000, 7200  # seconds into the run


def host(k: int, t: float) -> dict[str, Any]:
    """Loading (2 cores, iowait 25 %), then CPU-bound (44-47 of 48 vCPUs), then busy GPUs
    on 8 cores, then an idle tail waiting on I/O."""
    rng = random.Random(k)
    cores = 2.0 if t < TOUCH_0 else rng.uniform(43.0, 47.9) if t < BUSY else \
        rng.uniform(6.0, 9.0) if t < TAIL else 0.3
    iowait = 25.0 if t < TOUCH_0 or t >= TAIL else rng.uniform(0.0, 12.0)
    return {"cpu_cores": round(cores, 3), "rss_bytes": int((8 + t / 1000) * GIB),
            "host_iowait_pct": round(iowait, 2),
            "host_mem_available_bytes": int((150 - t / 100) * GIB)}


def gpu(k: int, i: int, t: float) -> dict[str, Any]:
    """GPU 0 used from TOUCH_0, GPU 1 from TOUCH_1 (busy with nothing of the run's before:
    whole percents as NVML gives them), GPUs 2 and 3 never."""
    rng = random.Random(k * 10 + i)
    touched = (i == 0 and t >= TOUCH_0) or (i == 1 and t >= TOUCH_1)
    if not touched:
        return gpu_row(0.0, 300 * 2**20, T4[1], None, False)
    util = rng.randint(2, 9) if t < BUSY else rng.randint(80, 99) if t < TAIL else 0
    row = gpu_row(float(util), 6 * GIB, T4[1], 5 * GIB, True)
    return {**row, "util_mem_pct": float(rng.randint(10, 60) if util else 0)}


def kept_by_agent(store: Store, run_id: str, host_name: str = "trainer-1") -> None:
    """Feed the stored rows, tick by tick, to the agent's RunStats and store its summary."""
    s, g = schema.samples, schema.gpu_samples
    with store.read() as conn:
        samples = [dict(r) for r in conn.execute(sa.select(s).where(s.c.run_id == run_id)
                                                  .order_by(s.c.ts)).mappings()]
        gpus = [dict(r) for r in conn.execute(sa.select(g).where(g.c.run_id == run_id)
                                               .order_by(g.c.ts, g.c.gpu_index)).mappings()]
    by_ts: dict[float, list[dict[str, Any]]] = {}
    for row in gpus:
        by_ts.setdefault(row["ts"], []).append(row)
    stats = RunStats()
    for row in samples:
        stats.add_sample(row)
        for gpu_sample in by_ts.get(row["ts"], []):
            stats.add_gpu(gpu_sample)
    store.write_batch(run_id, host_name, host_update={"summary": stats.summary()})


def _summary(store: Store, run_id: str) -> dict[str, Any]:
    h = schema.run_hosts
    with store.read() as conn:
        return conn.execute(sa.select(h.c.summary).where(h.c.run_id == run_id)).scalar()


def _set_summary(store: Store, run_id: str, summary: dict[str, Any]) -> None:
    h = schema.run_hosts
    with store.write() as conn:
        conn.execute(h.update().where(h.c.run_id == run_id).values(summary=summary))


def _advice(store: Store, run_id: str) -> dict[str, tuple]:
    return {rec.rule: (rec.title, rec.evidence, rec.suggested_instance, rec.saving_per_run,
                       rec.saving_per_month) for rec in advise_run(store, run_id, SETTINGS)}


def _same_counts(a: SampleCounts, b: SampleCounts) -> None:
    """Equal, the sums of idle shares to float rounding (added in another order)."""
    left, right = a.as_json(), b.as_json()
    idle_left, idle_right = left.pop("idle_by_cores"), right.pop("idle_by_cores")
    assert [c for c, _ in idle_left] == [c for c, _ in idle_right]
    assert [v for _, v in idle_left] == pytest.approx([v for _, v in idle_right], rel=1e-12)
    assert left == right


@pytest.fixture
def store(any_store_url: str) -> Store:
    """SQLite and the real PostgreSQL server: the SQL counts group the same on both."""
    return Store.open(any_store_url)


@pytest.fixture
def recorded(store: Store) -> str:
    """Two hours at 1 Hz on a g4dn.12xlarge (4 T4s, 48 vCPUs), the agent's counts kept."""
    run_id = seed_run(store, duration_s=END, interval_s=1.0, host_fn=host, gpu_fn=gpu)
    kept_by_agent(store, run_id)
    return run_id


def test_kept_counts_equal_the_sql_counts_and_give_the_same_advice(store, recorded):
    run = store.find_run(recorded)
    kept = SampleCounts.from_json(_summary(store, recorded)["advice_counts"])
    assert kept is not None
    _same_counts(kept, sample_counts_sql(store, run))
    from_kept = _advice(store, recorded)
    assert {"cpu_bottleneck", "iowait_bottleneck", "idle_tail", "idle_gpus"} <= set(from_kept)

    summary = _summary(store, recorded)
    _set_summary(store, recorded, {k: v for k, v in summary.items()
                                   if k not in ("advice_counts", "gpu_devices")})
    assert load_evidence(store, run, SETTINGS).counts.host_samples == END + 1  # from SQL
    assert _advice(store, recorded) == from_kept


def test_counts_against_the_raw_rows(store, recorded):
    """What the rules decide equals what the raw rows say; bucketed values are within one
    bucket. The busy value of a tick is the highest utilisation of the GPUs touched so far;
    before the first touch (t < 900 s) a tick is GPU-idle."""
    evidence = load_evidence(store, store.find_run(recorded), SETTINGS)
    counts = evidence.counts
    rows = [host(k, float(k)) for k in range(END + 1)]
    busy = [max((gpu(k, i, float(k))["util_gpu_pct"] for i in (0, 1)
                 if gpu(k, i, float(k))["used_by_run"]), default=0.0) for k in range(END + 1)]
    assert counts.host_samples == counts.gpu_ticks == END + 1
    assert counts.rss_max == max(r["rss_bytes"] for r in rows)
    assert counts.mem_available_min == min(r["host_mem_available_bytes"] for r in rows)

    recs = {rec.rule: rec for rec in advise_run(store, recorded, SETTINGS)}
    bound = [(r["cpu_cores"], u) for r, u in zip(rows, busy, strict=True)
             if r["cpu_cores"] > 0.9 * 48 and u < 10]
    cpu = recs["cpu_bottleneck"].evidence
    assert cpu["bottleneck_share"] == round(len(bound) / (END + 1), 4)
    exact_p50 = percentile([c for c, _ in bound], 50)
    assert exact_p50 <= cpu["cpu_cores_p50_when_bound"] < exact_p50 + CORES_STEP + 1e-9
    assert cpu["gpu_util_p50_when_bound_pct"] == percentile([u for _, u in bound], 50)

    waiting = [r["host_iowait_pct"] for r, u in zip(rows, busy, strict=True)
               if r["host_iowait_pct"] > 10 and u < 10]
    assert recs["iowait_bottleneck"].evidence["iowait_share"] == round(len(waiting) / (END + 1),
                                                                       4)
    tail = recs["idle_tail"].evidence
    last_busy = max(k for k, u in enumerate(busy) if u > 5)
    assert tail["idle_tail_s"] == pytest.approx(END - (last_busy + 1))
    assert tail["samples_in_tail"] == END - last_busy

    cores_p995 = percentile([r["cpu_cores"] for r in rows], 99.5)
    read_back = percentile_of(counts.cores(), 99.5)
    assert cores_p995 <= read_back < cores_p995 + CORES_STEP + 1e-9


def percentile_of(counts: dict[float, int], q: float) -> float:
    from xprof.collector.rightsizing.savings import percentile_of_counts

    value = percentile_of_counts(counts, q)
    assert value is not None
    return value
