"""Off any cloud, runs that overlap on one host share it by time as on a cloud instance
(issue 15): the host has no instance id, so the machine is the host name, and the
estimates of overlapping runs add up to the host's cost for the union of their times."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from fractions import Fraction

from tests.collector.helpers import GIB, cpu_hardware, make_run, utc
from tests.conftest import XPROF
from xprof import schema
from xprof.collector.estimate import estimate_run, runs_needing_estimate
from xprof.settings import Settings

RATE = Settings(env={}, config={"offcloud_rate": 1.8})  # $1.80 an hour for the host


def test_two_overlapping_runs_pay_the_host_once(store):
    """R1 10:00-11:00 and R2 10:30-11:30 on one $1.80/h host: each holds it alone 30 min and
    half of it 30 min (0.75 h, $1.35); together $2.70 = 1.5 h of the host; a run on
    another host at the same time is not part of it."""
    hw = cpu_hardware(8, 32 * GIB)
    other = make_run(store, started_at=utc(2026, 11, 20, 10, 0), duration_s=3600, hardware=hw,
                     provider="none")
    with store.write() as conn:
        conn.execute(schema.runs.update().where(schema.runs.c.id == other)
                     .values(host="trainer-2"))
    r1 = make_run(store, started_at=utc(2026, 11, 20, 10, 0), duration_s=3600, hardware=hw,
                  provider="none")
    assert estimate_run(store, r1, RATE).amount == Decimal("1.8")  # alone so far
    r2 = make_run(store, started_at=utc(2026, 11, 20, 10, 30), duration_s=3600, hardware=hw,
                  provider="none")
    second = estimate_run(store, r2, RATE)
    assert "time-sliced with 1 overlapping run" in second.summary_line()
    assert estimate_run(store, other, RATE).amount == Decimal("1.8")
    costs = store.run_costs([r1, r2, other])
    assert (costs[r1]["amount"], costs[r2]["amount"]) == (Decimal("1.35"), Decimal("1.35"))
    assert costs[r1]["amount"] + costs[r2]["amount"] == Decimal("2.7")  # 1.5 h × $1.80
    assert costs[other]["amount"] == Decimal("1.8")


def test_two_real_concurrent_runs_on_this_host(store, tmp_path):
    """Two real `xprof run -- sleep` started together on this machine (off-cloud): after
    estimating, their costs sum to the rate × the union of their recorded times."""
    env = {"XPROF_OFFCLOUD_RATE": "3.6"}
    full = dict(os.environ, **env)
    procs = [subprocess.Popen([*XPROF, "run", "--", sys.executable, "-c",
                               f"import time; time.sleep({s})"], env=full,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for s in (2.0, 3.0)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    runs = [store.find_run(r) for r in _run_ids(store)]
    assert len(runs) == 2 and runs[0]["host"] == runs[1]["host"]
    for run in runs:
        estimate_run(store, run["id"], Settings(env=env, config={}))
    costs = store.run_costs([r["id"] for r in runs])
    start = min(r["started_at"] for r in runs)
    end = max(r["ended_at"] for r in runs)
    union = Fraction(repr((end - start).total_seconds()))
    expected = Decimal("3.6") * Decimal(union.numerator) / Decimal(union.denominator) / 3600
    total = sum(costs[r["id"]]["amount"] for r in runs)
    assert abs(total - expected) <= Decimal("2e-9"), (total, expected)
    assert not runs_needing_estimate(store)


def _run_ids(store) -> list[str]:
    with store.read() as conn:
        return [r for (r,) in conn.execute(schema.runs.select().with_only_columns(
            schema.runs.c.id))]
