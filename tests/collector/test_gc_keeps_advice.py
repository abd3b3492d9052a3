"""Advice given to a run survives gc: re-advising a run whose samples were folded (as
`xprof collect` does for the last 30 days) keeps its recommendations as they were."""

from __future__ import annotations

import datetime as dt

from tests.collector.gc_helpers import recorded_run, snapshot
from tests.conftest import run_xprof
from xprof.collector.advise import advise_run
from xprof.collector.gc import downsample
from xprof.settings import Settings


def test_folded_runs_keep_their_advice(store):
    """A 20-day-old run advised to drop its idle GPU, folded by `gc --keep-raw 7d`, still has
    that advice, unchanged, after `xprof collect` re-advises recent runs."""
    now = dt.datetime.now(dt.UTC)
    run_id = recorded_run(store, now - dt.timedelta(days=20), 900, seed=1)
    first = advise_run(store, run_id, Settings())
    assert [r.rule for r in first] == ["idle_gpus"]
    before = snapshot(store)["recommendations"]
    downsample(store, dt.timedelta(days=7))
    result = run_xprof("collect")
    assert result.returncode == 0, result.stderr
    assert "advice: 1 recommendation(s) for 1 run(s)" in result.stdout
    assert snapshot(store)["recommendations"] == before
    assert advise_run(store, run_id, Settings()) == first
