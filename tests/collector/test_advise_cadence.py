"""Savings per month are the saving per run times the project's runs per month: its runs
started in the 30 days up to its latest run (at least 1)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from tests.collector.advise_seed import GIB, START, T4, fires_once, gpu_row, seed_run


def idle_three(k: int, i: int, t: float) -> dict:
    if i == 0:
        return gpu_row(90.0, 2 * GIB, T4[1], 2 * GIB, True)
    return gpu_row(0.0, 0, T4[1], 0, False)


def test_four_runs_in_thirty_days_multiply_by_four(store):
    """Three more runs in the 30 days (one older, one of another project, not counted): the
    monthly saving is 4 x $3.386."""
    for days in (-19, -3, 10):  # the latest run is START + 10 days
        seed_run(store, started_at=START + dt.timedelta(days=days), samples=3)
    seed_run(store, started_at=START - dt.timedelta(days=21), samples=3)  # 31 days before
    seed_run(store, project="other", started_at=START, samples=3)
    run = seed_run(store, gpu_fn=idle_three)
    rec = fires_once(store, run, "idle_gpus")
    assert rec.evidence["runs_per_month"] == 4
    assert rec.saving_per_month == 4 * Decimal("3.386")
    assert "$13.54 a month" in rec.title


def test_a_single_run_counts_once(store):
    """The project's only run: saving per month equals saving per run."""
    rec = fires_once(store, seed_run(store, gpu_fn=idle_three), "idle_gpus")
    assert rec.evidence["runs_per_month"] == 1
    assert rec.saving_per_month == rec.saving_per_run
