"""A catalog price older than six months at the run's end is marked stale, with its date and
the command that refreshes it (issue 15 #6): in the run's summary line, the stored estimate
and `xprof show`."""

from __future__ import annotations

import datetime as dt

from tests.collector.helpers import GIB, gpu_hardware, make_run, utc
from xprof.collector import catalog
from xprof.collector.estimate import estimate_run
from xprof.settings import Settings

NO_CONFIG = Settings(env={}, config={})
V100 = gpu_hardware("Tesla V100-SXM2-16GB", 1, 16 * GIB, [0], 8, 61)


def _run(store, started: dt.datetime) -> str:
    return make_run(store, started_at=started, duration_s=3600, hardware=V100, provider="aws",
                    instance_type="p3.2xlarge", region="us-west-2")


def test_price_older_than_six_months_is_marked(store, xprof):
    """The same catalog row: five months after its date it is fresh, seven months after it
    the summary line and `xprof show` say `price as of <date>, stale`."""
    as_of = catalog.price_of(store, "aws", "p3.2xlarge", "us-west-2").as_of
    fresh = estimate_run(store, _run(store, utc(as_of.year, as_of.month, as_of.day, 9, 0)
                                     + dt.timedelta(days=150)), NO_CONFIG)
    stale_id = _run(store, utc(as_of.year, as_of.month, as_of.day, 9, 0)
                    + dt.timedelta(days=213))
    stale = estimate_run(store, stale_id, NO_CONFIG)
    assert fresh.amount == stale.amount
    assert "stale" not in fresh.summary_line() and not fresh.detail()["price_stale"]
    assert stale.summary_line().endswith(
        f"1h, price as of {as_of.isoformat()}, stale: `xprof prices update --provider aws`)")
    shown = xprof("show", stale_id)
    assert shown.returncode == 0, shown.stderr
    [cost_line] = [line for line in shown.stdout.splitlines() if "cost " in line]
    assert f"(price as of {as_of.isoformat()}, stale: `xprof prices update`)" in cost_line


def test_unknown_cost_says_why_in_show(store, xprof):
    """`xprof show` of a run the catalog cannot price names the missing region and the fix."""
    run_id = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=600,
                      hardware=gpu_hardware("NVIDIA H100 80GB HBM3", 8, 80 * GIB, [0], 192,
                                            2048),
                      provider="aws", instance_type="p5.48xlarge", region="eu-west-1")
    estimate_run(store, run_id, NO_CONFIG)
    shown = xprof("show", run_id)
    assert shown.returncode == 0, shown.stderr
    [cost_line] = [line for line in shown.stdout.splitlines() if "cost " in line]
    assert "eu-west-1" in cost_line
    assert "xprof prices update --provider aws --region eu-west-1" in cost_line
