"""Runs that overlap on one machine share it interval by interval (hand-computed shares):
two CPU runs inside one billed hour pay the window once, a run that used no GPU beside GPU
runs pays only what the GPU runs left, and a bill that states usage in seconds is charged
for that usage, not the whole hour."""

from __future__ import annotations

from decimal import Decimal

from tests.collector.billing_helpers import (
    conservation_errors,
    focus_row,
    idle_amount,
    run_amount,
    run_on,
    write_focus,
)
from tests.collector.helpers import utc
from xprof.collector.allocate import allocate_store
from xprof.collector.billing.focus import import_focus

BOX = "i-0e1f2a3b4c5d6e7f8"


def _bill(store, tmp_path, rows):
    import_focus(store, str(write_focus(tmp_path / "bill.csv", rows)))
    return allocate_store(store)


def test_two_cpu_runs_inside_one_hour_pay_their_window_once(store, tmp_path):
    """R1 10:00:00-10:01:00 and R2 10:00:15-10:00:45 on a $0.384/h CPU instance: R1 holds
    it alone 30 s and half of it 30 s (45 s: $0.0048), R2 half of it 30 s (15 s: $0.0016);
    together $0.0064, the minute's cost, not $0.0096; the other 59 minutes are idle."""
    r1 = run_on(store, BOX, utc(2024, 9, 2, 10), 60, instance_type="m5.2xlarge")
    r2 = run_on(store, BOX, utc(2024, 9, 2, 10, 0, 15), 30, instance_type="m5.2xlarge")
    _bill(store, tmp_path, [focus_row(BOX, utc(2024, 9, 2, 10), "0.384")])
    assert run_amount(store, r1) == Decimal("0.0048")
    assert run_amount(store, r2) == Decimal("0.0016")
    assert idle_amount(store, BOX) == Decimal("0.3776")
    assert conservation_errors(store) == []


def test_a_run_without_gpus_beside_gpu_runs_pays_what_they_leave(store, tmp_path):
    """On a p4d billed $32 for 10:00-11:00: A on 4/8 GPUs all hour, B on 2/8 until 10:30,
    C on no GPU 10:15-10:45. Per quarter ($8): A holds 1/2 in each (4 × $4 = $16); B 1/4 in
    the first two ($4); C the quarter A and B leave in the second ($2) and the half A leaves
    in the third ($4): $6, not the whole p4d for 30 minutes ($16). Idle: 1/4 of the first
    quarter and 1/2 of the last ($6)."""
    a = run_on(store, BOX, utc(2024, 9, 2, 10), 3600, gpu_count=8, gpus_used=[0, 1, 2, 3])
    b = run_on(store, BOX, utc(2024, 9, 2, 10), 1800, gpu_count=8, gpus_used=[4, 5])
    c = run_on(store, BOX, utc(2024, 9, 2, 10, 15), 1800, gpu_count=8, gpus_used=[])
    _bill(store, tmp_path, [focus_row(BOX, utc(2024, 9, 2, 10), "32.00")])
    assert [run_amount(store, r) for r in (a, b, c)] == \
        [Decimal("16"), Decimal("4"), Decimal("6")]
    assert idle_amount(store, BOX) == Decimal("6")
    assert conservation_errors(store) == []


def test_usage_in_seconds_is_the_billed_interval(store, tmp_path):
    """A GCP-shaped hour of a VM that ran 600 s: 12 vCPUs' seconds (7200), memory in
    byte-seconds and one GPU's 600 seconds, $0.7098 in all. The run covering 10:00-10:10
    held the machine for all 600 s it ran, so it pays all of it and nothing is idle (not
    $0.1183 with 83 % idle)."""
    run = run_on(store, BOX, utc(2024, 9, 2, 10), 600, gpu_count=1, gpus_used=[0],
                 instance_type="a2-highgpu-1g")
    hour = utc(2024, 9, 2, 10)
    _bill(store, tmp_path, [
        focus_row(BOX, hour, "0.1741", quantity="7200", unit="seconds", sku="core"),
        focus_row(BOX, hour, "0.0467", quantity="52792864358400", unit="byte-seconds",
                  sku="ram"),
        focus_row(BOX, hour, "0.4890", quantity="600", unit="seconds", sku="gpu")])
    assert run_amount(store, run) == Decimal("0.7098")
    assert idle_amount(store, BOX) == 0
    assert conservation_errors(store) == []


def test_usage_in_seconds_leaves_the_unused_part_idle(store, tmp_path):
    """The same VM ran 1200 s and the run only the first 600 of them: it pays half."""
    run = run_on(store, BOX, utc(2024, 9, 2, 10), 600, instance_type="n2-standard-8")
    _bill(store, tmp_path, [focus_row(BOX, utc(2024, 9, 2, 10), "0.40", quantity="1200",
                                      unit="seconds", sku="instance")])
    assert run_amount(store, run) == Decimal("0.2")
    assert idle_amount(store, BOX) == Decimal("0.2")
