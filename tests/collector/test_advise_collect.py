"""The `xprof collect` advice step advises the runs of the last 30 days and abandoned spend,
and says what it found in one line."""

from __future__ import annotations

import datetime as dt

from tests.collector.advise_seed import GIB, T4, gpu_row, seed_run, stored
from xprof.collector.collect import collect_advice
from xprof.settings import Settings


def idle_three(k: int, i: int, t: float) -> dict:
    if i == 0:
        return gpu_row(90.0, 8 * GIB, T4[1], 8 * GIB, True)
    return gpu_row(0.0, 0, T4[1], 0, False)


def test_collect_step_advises_recent_runs(store):
    """A run from 2 days ago is advised; one from 40 days ago is left alone."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    recent = seed_run(store, gpu_fn=idle_three, started_at=now - dt.timedelta(days=2))
    old = seed_run(store, gpu_fn=idle_three, started_at=now - dt.timedelta(days=40))
    step = collect_advice(store, Settings(), {})
    assert step.name == "advice" and step.errors == []
    assert step.summary.startswith("advice: 1 recommendation(s) for 1 run(s)")
    assert "up to $3.39 a month to save" in step.summary
    assert step.data["recommendations"] == {"idle_gpus": 1}
    assert [r["rule"] for r in stored(store, recent)] == ["idle_gpus"]
    assert stored(store, old) == []
