"""Recommendations are stored once per (run, rule), keep a dismissed or done status when
computed again, lose open advice that no longer applies, and come highest saving first."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa

from tests.collector.advise_seed import GIB, START, T4, gpu_row, rules_of, seed_run, stored
from xprof import schema
from xprof.collector.advise import advise_run
from xprof.settings import Settings


def low_use_on_one(k: int, i: int, t: float) -> dict:
    if i == 0:
        return gpu_row(20.0, 2 * GIB, T4[1], 2 * GIB, True)
    return gpu_row(0.0, 0, T4[1], 0, False)


def set_status(store, run_id: str, rule: str, status: str) -> None:
    t = schema.recommendations
    with store.write() as conn:
        conn.execute(t.update().where(t.c.run_id == run_id, t.c.rule == rule)
                     .values(status=status))


def test_advising_twice_keeps_one_row_per_rule(store):
    """A second advise updates the rows in place: same ids, same count."""
    run = seed_run(store, gpu_fn=low_use_on_one)
    advise_run(store, run)
    first = {(r["rule"], r["id"]) for r in stored(store, run)}
    advise_run(store, run)
    assert {(r["rule"], r["id"]) for r in stored(store, run)} == first
    assert len(first) == 3


def test_dismissed_and_done_survive_recomputing(store):
    """A dismissed and a done recommendation keep their status, stored and returned."""
    run = seed_run(store, gpu_fn=low_use_on_one)
    advise_run(store, run)
    set_status(store, run, "idle_gpus", "dismissed")
    set_status(store, run, "gpu_underused", "done")
    recs = {r.rule: r.status for r in advise_run(store, run)}
    assert recs == {"idle_gpus": "dismissed", "gpu_underused": "done", "gpu_memory_low": "open"}
    assert {r["rule"]: r["status"] for r in stored(store, run)} == recs


def test_open_advice_that_no_longer_applies_is_removed(store):
    """When the rules stop firing, open rows go and a dismissed one stays."""
    run = seed_run(store, gpu_fn=low_use_on_one)
    advise_run(store, run)
    set_status(store, run, "idle_gpus", "dismissed")
    assert advise_run(store, run, Settings(config={"advise.min_duration_s": 7200,
                                                          "advise.preliminary_s": 7200})) == []
    assert [(r["rule"], r["status"]) for r in stored(store, run)] == [("idle_gpus", "dismissed")]


def test_highest_saving_comes_first(store):
    """In us-west-2: fewer GPUs ($3.386; idle GPUs before underuse on a tie) before spot
    ($2.3472) before advice without a saving; the stored rows carry the same figures."""
    run = seed_run(store, region="us-west-2", gpu_fn=low_use_on_one)
    recs = advise_run(store, run)
    assert [(r.rule, r.saving_per_run) for r in recs] == [
        ("idle_gpus", Decimal("3.386")), ("gpu_underused", Decimal("3.386")),
        ("spot_candidate", Decimal("3.912") - Decimal("1.5648")), ("gpu_memory_low", None)]
    rows = {r["rule"]: r for r in stored(store, run)}
    assert rows["spot_candidate"]["saving_per_run"] == Decimal("2.3472")
    assert rows["idle_gpus"]["project"] == "vision"
    assert rows["idle_gpus"]["evidence"]["gpus_idle"] == [1, 2, 3]


def test_a_running_run_gets_nothing(store):
    """A run still running is not advised and nothing is stored."""
    run = seed_run(store, gpu_fn=low_use_on_one)
    with store.write() as conn:
        conn.execute(schema.runs.update().where(schema.runs.c.id == run).values(
            status="running", ended_at=None, duration_s=None,
            heartbeat_at=dt.datetime.now(dt.UTC)))
    assert advise_run(store, run) == []
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(
            schema.recommendations)).scalar() == 0


def test_a_crashed_run_is_advised_up_to_its_last_heartbeat(store):
    """A crashed run (stale heartbeat, no end) is judged on the time until its heartbeat."""
    run = seed_run(store, gpu_fn=low_use_on_one)
    with store.write() as conn:
        conn.execute(schema.runs.update().where(schema.runs.c.id == run).values(
            status="running", ended_at=None, duration_s=None,
            heartbeat_at=START + dt.timedelta(hours=1)))
    assert "idle_gpus" in rules_of(advise_run(store, run))
