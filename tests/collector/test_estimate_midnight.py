"""A run across midnight (or a month or year boundary) costs duration × rate, exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.collector.helpers import GIB, cpu_hardware, make_run, utc
from xprof.collector.estimate import estimate_run
from xprof.settings import Settings

NO_CONFIG = Settings(env={}, config={})


@pytest.mark.parametrize(("start", "seconds"), [
    (utc(2026, 11, 20, 23, 30), 6300),      # 23:30 -> 01:15 the next day
    (utc(2026, 11, 30, 23, 0), 6300),       # across a month end
    (utc(2026, 12, 31, 23, 59, 30), 6300),  # across the new year
])
def test_run_across_midnight_costs_duration_times_rate(store, start, seconds):
    """1h45m on an m7i.2xlarge ($0.4032/h) costs 1.75 × 0.4032 = $0.7056 wherever it falls."""
    run_id = make_run(store, started_at=start, duration_s=seconds,
                      hardware=cpu_hardware(8, 32 * GIB), provider="aws",
                      instance_type="m7i.2xlarge", region="us-east-1")
    estimate = estimate_run(store, run_id, NO_CONFIG)
    assert estimate.amount == Decimal("0.7056")
    assert estimate.period_end.date() > estimate.period_start.date()


def test_duration_from_start_and_end_when_duration_is_missing(store):
    """A row with times but no duration_s is priced from ended_at - started_at."""
    run_id = make_run(store, started_at=utc(2026, 11, 20, 23, 30), duration_s=6300,
                      hardware=cpu_hardware(8, 32 * GIB), provider="aws",
                      instance_type="m7i.2xlarge", region="us-east-1")
    from xprof import schema

    with store.write() as conn:
        conn.execute(schema.runs.update().where(schema.runs.c.id == run_id)
                     .values(duration_s=None))
    assert estimate_run(store, run_id, NO_CONFIG).amount == Decimal("0.7056")
