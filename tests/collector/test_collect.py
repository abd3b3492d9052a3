"""`xprof collect` computes the estimate of every ended run that lacks one, ends with a
summary, and recomputes all with --all."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import sqlalchemy as sa

from tests.collector.helpers import GIB, cpu_hardware, gpu_hardware, make_run, utc
from tests.conftest import run_xprof
from xprof import schema
from xprof.collector.collect import COLLECT_STEPS


def _estimates(store):
    with store.read() as conn:
        return {row.run_id: row for row in conn.execute(
            sa.select(schema.costs).where(schema.costs.c.source == "estimate"))}


def test_collect_prices_ended_runs_and_skips_running_ones(store):
    """Two priced runs, one unknown, one still running: collect stores three estimates,
    reports the total, and leaves the running run alone."""
    p3 = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=3600,
                  hardware=gpu_hardware("Tesla V100-SXM2-16GB", 1, 16 * GIB, [0], 8, 61),
                  provider="aws", instance_type="p3.2xlarge", region="us-east-1")
    laptop = make_run(store, started_at=utc(2026, 11, 20, 23, 50), duration_s=1200,
                      hardware=cpu_hardware(8, 33_331_000_000), provider="none")
    odd = make_run(store, started_at=utc(2026, 11, 21, 9, 0), duration_s=60,
                   hardware=cpu_hardware(4, 16 * GIB), provider="aws", instance_type="x9.huge",
                   region="us-east-1")
    now = dt.datetime.now(dt.UTC)
    running = make_run(store, started_at=now, duration_s=None, status="running",
                       heartbeat_at=now, hardware=cpu_hardware(4, 16 * GIB), provider="none")
    done = run_xprof("collect")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("billing: no source configured")
    assert lines[1] == ("estimates: 2 run(s) priced ($3.19 in all), 1 unknown "
                        "(e.g. instance type x9.huge (us-east-1) not in the aws catalog; try "
                        "`xprof prices update --provider aws --region us-east-1`)")
    assert lines[-1] == f"collect: {len(COLLECT_STEPS)} step(s) done, no problems"
    rows = _estimates(store)
    assert set(rows) == {p3, laptop, odd}
    assert rows[p3].amount == Decimal("3.06")
    assert rows[laptop].amount == Decimal("0.128")  # m5.2xlarge $0.384/h × 20 min
    assert rows[odd].amount is None
    assert running not in rows


def test_collect_again_only_retries_unknown_costs_and_all_recomputes(store):
    """A second collect touches only the unknown run; --all recomputes every ended run."""
    make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=3600,
             hardware=cpu_hardware(8, 32 * GIB), provider="aws", instance_type="m7i.2xlarge",
             region="us-east-1")
    make_run(store, started_at=utc(2026, 11, 21, 9, 0), duration_s=60,
             hardware=cpu_hardware(4, 16 * GIB), provider="aws", instance_type="x9.huge",
             region="us-east-1")
    assert run_xprof("collect").returncode == 0
    again = run_xprof("collect", "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)["estimates"]
    assert (report["priced"], report["unknown"], report["failed"]) == (0, 1, 0)
    everything = json.loads(run_xprof("collect", "--all", "--json").stdout)["estimates"]
    assert (everything["priced"], everything["unknown"]) == (1, 1)
    assert everything["total"] == {"USD": "0.4032"}
    assert len(_estimates(store)) == 2
