"""A run pays for its share of the machine: GPUs it used over GPUs on the machine; a run
that used no GPU, or a CPU-only machine, pays for the whole machine when alone on it; runs
that overlap on one machine (same instance id) share it by time, so their estimates never
add up to more than the machine."""

from __future__ import annotations

from decimal import Decimal

from tests.collector.helpers import GIB, cpu_hardware, gpu_hardware, make_run, utc
from xprof.collector.estimate import estimate_run
from xprof.settings import Settings

NO_CONFIG = Settings(env={}, config={})
P4D = {"provider": "aws", "instance_type": "p4d.24xlarge", "region": "us-east-1"}


def test_two_of_eight_gpus_pay_a_quarter(store):
    """2 of 8 A100s for 2 h on a $21.957642/h p4d.24xlarge cost 2 × 21.957642 × 2/8."""
    hw = gpu_hardware("NVIDIA A100-SXM4-40GB", 8, 40 * GIB, [2, 3], 96, 1152)
    run_id = make_run(store, started_at=utc(2026, 11, 20, 8, 0), duration_s=7200, hardware=hw,
                      **P4D)
    estimate = estimate_run(store, run_id, NO_CONFIG)
    assert estimate.amount == Decimal("10.978821")
    assert (estimate.used_gpus, estimate.machine_gpus) == (2, 8)
    assert estimate.summary_line() == \
        "est. $10.98 (p4d.24xlarge on-demand, us-east-1, $21.96/h × 2/8 GPUs, 2h)"
    assert estimate.detail()["share"]["text"] == "1/4"


def test_all_gpus_or_no_gpu_used_pays_the_whole_machine(store):
    """Using all 8 GPUs, none of them, or not knowing which, costs the whole instance."""
    for used in ([0, 1, 2, 3, 4, 5, 6, 7], [], None):
        hw = gpu_hardware("NVIDIA A100-SXM4-40GB", 8, 40 * GIB, used, 96, 1152)
        run_id = make_run(store, started_at=utc(2026, 11, 20, 8, 0), duration_s=3600,
                          hardware=hw, **P4D)
        estimate = estimate_run(store, run_id, NO_CONFIG)
        assert estimate.amount == Decimal("21.957642"), used
        assert "GPUs" not in estimate.summary_line()


def test_cpu_only_instance_pays_the_whole_machine(store):
    """A run on a CPU-only instance costs the instance's price × duration."""
    run_id = make_run(store, started_at=utc(2026, 11, 20, 8, 0), duration_s=900,
                      hardware=cpu_hardware(8, 32 * GIB), provider="aws",
                      instance_type="m7i.2xlarge", region="us-east-1")
    assert estimate_run(store, run_id, NO_CONFIG).amount == Decimal("0.1008")


def test_off_cloud_share_uses_the_gpus_nvml_saw(store):
    """On a 4-GPU box off any cloud, a run on 1 GPU pays a quarter of its equivalent's price."""
    hw = gpu_hardware("NVIDIA A10G", 4, 23028 * 2**20, [1], 48, 186.7)
    run_id = make_run(store, started_at=utc(2026, 11, 20, 8, 0), duration_s=3600, hardware=hw,
                      provider="none")
    estimate = estimate_run(store, run_id, NO_CONFIG)
    assert estimate.price.instance_type == "g5.12xlarge"
    assert estimate.amount == Decimal("5.672") / 4


M7I = {"provider": "aws", "instance_type": "m7i.2xlarge", "region": "us-east-1",
       "instance_id": "i-0shared000000001"}


def test_overlapping_cpu_runs_estimates_add_up_to_the_machine(store):
    """R1 08:00-09:00 and R2 08:30-09:00 on one $0.4032/h m7i.2xlarge: R1 holds it alone
    30 min and half of it 30 min (0.75 h: $0.3024), R2 half of it 30 min ($0.1008); R1's
    estimate, whole-machine when it was alone, is redone when R2 is estimated."""
    r1 = make_run(store, started_at=utc(2026, 11, 20, 8, 0), duration_s=3600,
                  hardware=cpu_hardware(8, 32 * GIB), **M7I)
    assert estimate_run(store, r1, NO_CONFIG).amount == Decimal("0.4032")
    r2 = make_run(store, started_at=utc(2026, 11, 20, 8, 30), duration_s=1800,
                  hardware=cpu_hardware(8, 32 * GIB), **M7I)
    second = estimate_run(store, r2, NO_CONFIG)
    assert second.amount == Decimal("0.1008")
    assert "time-sliced with 1 overlapping run" in second.summary_line()
    costs = store.run_costs([r1, r2])
    assert (costs[r1]["amount"], costs[r2]["amount"]) == (Decimal("0.3024"), Decimal("0.1008"))
    assert costs[r1]["amount"] + costs[r2]["amount"] == Decimal("0.4032")


def test_a_run_without_gpus_beside_a_gpu_run_pays_the_rest(store):
    """For an hour on a $21.957642/h p4d.24xlarge, a run on 2 of 8 GPUs pays 2/8
    ($5.4894105) and a run on no GPU beside it the 6/8 left ($16.4682315), not the whole
    p4d: together the machine."""
    box = {**P4D, "instance_id": "i-0shared000000002"}
    gpu = make_run(store, started_at=utc(2026, 11, 20, 8, 0), duration_s=3600,
                   hardware=gpu_hardware("NVIDIA A100-SXM4-40GB", 8, 40 * GIB, [0, 1], 96, 1152),
                   **box)
    cpu = make_run(store, started_at=utc(2026, 11, 20, 8, 0), duration_s=3600,
                   hardware=gpu_hardware("NVIDIA A100-SXM4-40GB", 8, 40 * GIB, [], 96, 1152),
                   **box)
    assert estimate_run(store, gpu, NO_CONFIG).amount == Decimal("5.4894105")
    assert estimate_run(store, cpu, NO_CONFIG).amount == Decimal("16.4682315")
    costs = store.run_costs([gpu, cpu])
    assert costs[gpu]["amount"] + costs[cpu]["amount"] == Decimal("21.957642")
