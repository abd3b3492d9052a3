"""Billed cost per run in the awkward cases: boundaries, shared GPU machines, no billing yet,
credits, billing that has only partly arrived, overlapping runs, several sources."""

from __future__ import annotations

from decimal import Decimal

from tests.collector.billing_helpers import (
    billed_costs,
    conservation_errors,
    focus_row,
    hourly,
    idle_amount,
    run_amount,
    run_on,
    write_focus,
)
from tests.collector.helpers import utc
from xprof.collector.allocate import allocate_store
from xprof.collector.billing.focus import import_focus
from xprof.collector.estimate import estimate_run
from xprof.settings import Settings

NO_CONFIG = Settings(env={}, config={})
BOX = "i-0e1f2a3b4c5d6e7f8"


def _bill(store, tmp_path, rows, name="bill.csv"):
    import_focus(store, str(write_focus(tmp_path / name, rows)))
    return allocate_store(store)


def test_run_across_hours_and_midnight(store, tmp_path):
    """A run from 22:30 to 01:15 (across midnight and a month end) on a $3/h instance pays
    $4.50 on the first day and $3.75 on the second; the rest of those hours is idle."""
    run = run_on(store, BOX, utc(2024, 9, 30, 22, 30), 2.75 * 3600)
    _bill(store, tmp_path, hourly(BOX, utc(2024, 9, 30, 22), 4, "3.00"))
    rows = [r for r in billed_costs(store) if r["run_id"] == run]
    assert sorted((r["detail"]["day"], r["amount"]) for r in rows) == [
        ("2024-09-30", Decimal("4.5")), ("2024-10-01", Decimal("3.75"))]
    assert rows[0]["period_start"] == utc(2024, 9, 30, 22, 30)
    assert max(r["period_end"] for r in rows) == utc(2024, 10, 1, 1, 15)
    assert idle_amount(store, BOX) == Decimal("3.75")
    assert conservation_errors(store) == []


def test_eight_gpu_machine_shared_four_four_and_six_two(store, tmp_path):
    """Two runs on 4 + 4 of 8 GPUs split an hour in halves; 6 + 2 in 3/4 and 1/4; an odd
    nano-unit goes to exactly one of them."""
    a = run_on(store, BOX, utc(2024, 9, 2, 10), 3600, gpu_count=8, gpus_used=[0, 1, 2, 3])
    b = run_on(store, BOX, utc(2024, 9, 2, 10), 3600, gpu_count=8, gpus_used=[4, 5, 6, 7])
    c = run_on(store, BOX, utc(2024, 9, 2, 11), 3600, gpu_count=8, gpus_used=[0, 1, 2, 3, 4, 5])
    d = run_on(store, BOX, utc(2024, 9, 2, 11), 3600, gpu_count=8, gpus_used=[6, 7])
    _bill(store, tmp_path, [focus_row(BOX, utc(2024, 9, 2, 10), "32.772600001"),
                            focus_row(BOX, utc(2024, 9, 2, 11), "32.7726")])
    halves = sorted([run_amount(store, a), run_amount(store, b)])
    assert halves == [Decimal("16.3863"), Decimal("16.386300001")]
    assert run_amount(store, c) == Decimal("24.57945")
    assert run_amount(store, d) == Decimal("8.19315")
    assert idle_amount(store, BOX) == 0
    assert {r["detail"]["share"] for r in billed_costs(store) if r["run_id"] == c} == \
        {"6/8 GPUs"}
    assert conservation_errors(store) == []


def test_run_without_billing_stays_estimated(store, tmp_path):
    """A run whose instance has no billing yet keeps its catalog estimate as its cost."""
    run = run_on(store, "i-0aaaaaaaaaaaaaaa1", utc(2024, 9, 2, 10), 7200,
                 instance_type="p4d.24xlarge")
    estimate = estimate_run(store, run, NO_CONFIG)
    _bill(store, tmp_path, hourly(BOX, utc(2024, 9, 2, 10), 2, "32.7726"))
    assert run_amount(store, run) == 0
    cost = store.run_costs([run])[run]
    assert (cost["source"], cost["amount"]) == ("estimate", estimate.amount)


def test_billed_replaces_estimate_and_both_stay_visible(store, tmp_path):
    """Once billed, the run's cost is the bill; its estimate row is still stored."""
    run = run_on(store, BOX, utc(2024, 9, 2, 10), 3600, instance_type="p4d.24xlarge")
    estimate_run(store, run, NO_CONFIG)
    _bill(store, tmp_path, hourly(BOX, utc(2024, 9, 2, 10), 1, "30.00"))
    cost = store.run_costs([run])[run]
    assert (cost["source"], cost["amount"]) == ("billed", Decimal("30"))
    sources = {c["source"] for c in store.run_details(run)["costs"]}
    assert {"estimate", "billed"} <= sources


def test_credits_and_refunds_are_negative_shares(store, tmp_path):
    """A credit on the instance's hour lowers the run's share by its part of the credit."""
    run = run_on(store, BOX, utc(2024, 9, 2, 10), 1800)
    result = _bill(store, tmp_path, [
        focus_row(BOX, utc(2024, 9, 2, 10), "10.00"),
        focus_row(BOX, utc(2024, 9, 2, 10), "-4.00", category="Credit", quantity=None,
                  unit="NULL", description="EDP credit", sku="credit"),
        focus_row(BOX, utc(2024, 9, 2, 11), "-1.00", category="credit", quantity=None,
                  unit="NULL", description="refund", sku="refund")])
    assert run_amount(store, run) == Decimal("3")
    assert idle_amount(store, BOX) == Decimal("2")  # 3 idle in the first hour, -1 refund
    assert result.allocated == {"USD": Decimal("3")}
    assert conservation_errors(store) == []


def test_partly_billed_run_keeps_its_estimate_until_the_rest_arrives(store, tmp_path):
    """Billing up to 12:00 for a run until 13:00 gives billed-partial rows and the estimate
    stays the run's cost; the last hour turns them into the billed cost."""
    run = run_on(store, BOX, utc(2024, 9, 2, 10), 3 * 3600, instance_type="p4d.24xlarge")
    estimate_run(store, run, NO_CONFIG)
    first = _bill(store, tmp_path, hourly(BOX, utc(2024, 9, 2, 10), 2, "30.00"), "a.csv")
    assert (first.runs_billed, first.runs_partial) == (0, 1)
    assert {r["source"] for r in billed_costs(store) if r["run_id"] == run} == \
        {"billed-partial"}
    assert store.run_costs([run])[run]["source"] == "estimate"
    second = _bill(store, tmp_path, hourly(BOX, utc(2024, 9, 2, 12), 1, "30.00"), "b.csv")
    assert (second.runs_billed, second.runs_partial) == (1, 0)
    assert store.run_costs([run])[run] == {"amount": Decimal("90"), "currency": "USD",
                                            "source": "billed", "upper_bound": False}


def test_overlapping_cpu_runs_share_the_machine(store, tmp_path):
    """Two CPU-only runs on one machine time-slice it: 10:00-10:30 a holds it alone
    (0.60), 10:30-11:00 a and b hold half each (0.30 + 0.30): a pays 0.90, b 0.30."""
    a = run_on(store, BOX, utc(2024, 9, 2, 10), 3600)
    b = run_on(store, BOX, utc(2024, 9, 2, 10, 30), 1800)
    _bill(store, tmp_path, hourly(BOX, utc(2024, 9, 2, 10), 1, "1.20"))
    assert run_amount(store, a) == Decimal("0.9")
    assert run_amount(store, b) == Decimal("0.3")
    assert idle_amount(store, BOX) == 0


def test_idle_machine_with_no_run_and_other_resources_ignored(store, tmp_path):
    """An instance billed with no run at all is idle; a bucket's charges are not allocated."""
    bucket = "arn:aws:s3:::training-data"
    _bill(store, tmp_path, [*hourly("i-0bbbbbbbbbbbbbbb2", utc(2024, 9, 2, 0), 24, "0.50"),
                            focus_row(bucket, utc(2024, 9, 2), "7.00", unit="GB",
                                      description="S3 storage", sku="TimedStorage")])
    assert idle_amount(store, "i-0bbbbbbbbbbbbbbb2") == Decimal("12")
    assert not [r for r in billed_costs(store) if r["resource_id"] == bucket]


def test_arn_resource_ids_match_the_instance(store, tmp_path):
    """A line item whose resource id is the instance's ARN is billed to the run."""
    run = run_on(store, BOX, utc(2024, 9, 2, 10), 3600)
    _bill(store, tmp_path, hourly(f"arn:aws:ec2:us-east-1:123456789012:instance/{BOX}",
                                  utc(2024, 9, 2, 10), 1, "2.50"))
    assert run_amount(store, run) == Decimal("2.5")


def test_two_sources_for_one_instance_are_not_counted_twice(store, tmp_path):
    """When two exports bill the same instance-day, only one of them is allocated."""
    run = run_on(store, BOX, utc(2024, 9, 2, 10), 3600)
    import_focus(store, str(write_focus(tmp_path / "one" / "a.csv",
                                        hourly(BOX, utc(2024, 9, 2, 10), 1, "2.00"))))
    import_focus(store, str(write_focus(tmp_path / "two" / "a.csv",
                                        hourly(BOX, utc(2024, 9, 2, 10), 1, "2.00"))))
    allocate_store(store)
    assert run_amount(store, run) == Decimal("2")
    assert conservation_errors(store) == []


def test_a_daily_row_and_hourly_rows_of_two_sources_count_once(store, tmp_path):
    """When one export bills a day in one row and another in 24 hourly rows, only the better
    source is allocated (here by name), not both."""
    run = run_on(store, BOX, utc(2024, 9, 2, 10), 3600)
    import_focus(store, str(write_focus(tmp_path / "a" / "daily.csv", [
        focus_row(BOX, utc(2024, 9, 2), "24.00", hours=24, quantity="24")])))
    import_focus(store, str(write_focus(tmp_path / "b" / "hourly.csv",
                                        hourly(BOX, utc(2024, 9, 2), 24, "1.00"))))
    allocate_store(store)
    assert run_amount(store, run) == Decimal("1")
    assert idle_amount(store, BOX) == Decimal("23")
