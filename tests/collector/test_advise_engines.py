"""The advice engine gives the same advice, savings and stored rows on SQLite and
PostgreSQL (GPU summaries are computed in SQL on both)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from tests.collector.advise_seed import GIB, START, T4, gpu_row, p95_series, seed_run, stored
from xprof import schema
from xprof.collector.advise import advise_abandoned, advise_run
from xprof.store import Store, utcnow

UTIL = p95_series(361, 40.0, seed=7)


def one_of_four(k: int, i: int, t: float) -> dict:
    if i == 0:
        return gpu_row(UTIL[k], 2 * GIB + k, T4[1], 2 * GIB + k, True)
    return gpu_row(0.0, 0, T4[1], 0, False)


def test_same_advice_on_both_engines(any_store_url):
    """Idle-GPU and underuse advice with the same figures; a dismissal survives; abandoned
    spend is stored without a run."""
    store = Store.open(any_store_url)
    run = seed_run(store, gpu_fn=one_of_four)
    recs = {r.rule: r for r in advise_run(store, run)}
    assert set(recs) == {"idle_gpus", "gpu_underused", "gpu_memory_low"}
    assert recs["idle_gpus"].saving_per_run == Decimal("3.386")
    assert recs["gpu_underused"].evidence["gpu_util_p95_pct"] == 40.0
    assert recs["gpu_memory_low"].evidence["gpu_memory_peak_bytes"] == 2 * GIB + 360

    t = schema.recommendations
    with store.write() as conn:
        conn.execute(t.update().where(t.c.rule == "idle_gpus").values(status="dismissed"))
    again = {r.rule: r.status for r in advise_run(store, run)}
    assert again == {"idle_gpus": "dismissed", "gpu_underused": "open",
                     "gpu_memory_low": "open"}
    assert len(stored(store, run)) == 3

    with store.write() as conn:
        conn.execute(schema.costs.insert().values(
            kind="idle", run_id=None, resource_id="i-0gone", source="billed", basis="billed",
            period_start=START, period_end=START + dt.timedelta(hours=2),
            amount=Decimal("6.12"), currency="USD", upper_bound=False, detail={},
            computed_at=utcnow()))
    [rec] = advise_abandoned(store)
    assert rec.saving_per_month == Decimal("3.06") * 720
    assert [r["resource_id"] for r in stored(store) if r["run_id"] is None] == ["i-0gone"]
