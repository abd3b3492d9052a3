"""A run the catalog cannot price has an unknown cost with the reason, never $0."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from tests.collector.helpers import GIB, cpu_hardware, gpu_hardware, make_run, utc
from xprof import schema
from xprof.collector.estimate import estimate_run
from xprof.settings import Settings

NO_CONFIG = Settings(env={}, config={})


def _rows(store, run_id):
    with store.read() as conn:
        return conn.execute(sa.select(schema.costs).where(
            schema.costs.c.run_id == run_id)).mappings().all()


def test_unknown_instance_type_is_unknown_with_a_reason(store):
    """x9.huge is not in the catalog: amount None (NULL in the store), the reason is shown."""
    run_id = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=600,
                      hardware=cpu_hardware(64, 512 * GIB), provider="aws",
                      instance_type="x9.huge", region="us-east-1")
    estimate = estimate_run(store, run_id, NO_CONFIG)
    assert estimate.amount is None
    reason = ("instance type x9.huge (us-east-1) not in the aws catalog; try "
              "`xprof prices update --provider aws --region us-east-1`")
    assert estimate.summary_line() == f"cost unknown: {reason}"
    [row] = _rows(store, run_id)
    assert row["amount"] is None
    assert row["detail"]["reason"] == reason


def test_known_type_in_an_unpriced_region_names_where_it_is_priced(store):
    """p5.48xlarge has no eu-west-1 price: the reason names the priced region and the fix."""
    hw = gpu_hardware("NVIDIA H100 80GB HBM3", 8, 80 * GIB, [0], 192, 2048)
    run_id = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=600, hardware=hw,
                      provider="aws", instance_type="p5.48xlarge", region="eu-west-1")
    estimate = estimate_run(store, run_id, NO_CONFIG)
    assert estimate.amount is None
    assert "priced in us-east-1" in estimate.reason
    assert "xprof prices update --provider aws --region eu-west-1" in estimate.reason


def test_missing_identity_fields_are_reasons_not_zero(store):
    """A cloud run without instance type or region gets an unknown cost saying which."""
    no_type = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=60,
                       hardware=cpu_hardware(2, 8 * GIB), provider="gcp", region="us-east1")
    no_region = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=60,
                         hardware=cpu_hardware(2, 8 * GIB), provider="azure",
                         instance_type="Standard_D2s_v5")
    assert estimate_run(store, no_type, NO_CONFIG).reason == (
        "the gcp instance type was not recorded (no metadata service answered; run with "
        "--instance-type and --region)")
    assert estimate_run(store, no_region, NO_CONFIG).reason == \
        "the azure region of Standard_D2s_v5 was not recorded (run with --region)"


def test_a_running_run_is_not_estimated_yet(store):
    """A run still running gets no stored estimate; a crashed one is priced to its heartbeat."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    running = make_run(store, started_at=now - dt.timedelta(minutes=5), duration_s=None,
                       hardware=cpu_hardware(8, 32 * GIB), provider="aws",
                       instance_type="m7i.2xlarge", region="us-east-1", status="running",
                       heartbeat_at=now)
    estimate = estimate_run(store, running, NO_CONFIG)
    assert estimate.amount is None and estimate.reason == "the run has not ended"
    assert _rows(store, running) == []
    crashed = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=None,
                       hardware=cpu_hardware(8, 32 * GIB), provider="aws",
                       instance_type="m7i.2xlarge", region="us-east-1", status="running",
                       heartbeat_at=utc(2026, 11, 20, 9, 30))
    estimate = estimate_run(store, crashed, NO_CONFIG)
    assert estimate.amount == Decimal("0.2016")  # half an hour at $0.4032/h
    assert estimate.summary_line().endswith("30m until last heartbeat)")
