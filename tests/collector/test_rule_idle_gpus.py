"""Idle GPUs: GPUs on the machine that nobody used give a fewer-GPU instance of the same model,
saved against the whole machine a lone run paid for."""

from __future__ import annotations

from decimal import Decimal

from tests.collector.advise_seed import (
    GIB,
    MIB,
    T4,
    does_not_fire,
    fires_once,
    gpu_row,
    hours_cost,
    seed_run,
)


def one_of_four(other_util: float, other_mem: int):
    """GPU 0 busy with the run (90 %); GPUs 1-3 at ``other_util`` / ``other_mem``."""
    def gpu(k: int, i: int, t: float) -> dict:
        if i == 0:
            return gpu_row(90.0, 5 * GIB, T4[1], 5 * GIB, True)
        return gpu_row(other_util, other_mem, T4[1], 0, False)
    return gpu


def test_three_idle_gpus_fire_with_a_one_gpu_t4(store):
    """Unused GPUs at the idle limits (5 %, just under 1 GiB): fires once, g4dn.xlarge, and
    the saving is the whole g4dn.12xlarge hour minus a g4dn.xlarge hour."""
    run = seed_run(store, gpu_fn=one_of_four(5.0, GIB - 1))
    rec = fires_once(store, run, "idle_gpus")
    assert (rec.current_instance, rec.suggested_instance) == ("g4dn.12xlarge", "g4dn.xlarge")
    assert rec.saving_per_run == Decimal("3.912") - Decimal("0.526")
    assert rec.saving_per_month == rec.saving_per_run  # the project's only run this month
    assert rec.currency == "USD" and rec.severity == "high"
    assert rec.evidence["gpus_idle"] == [1, 2, 3] and rec.evidence["gpus_used"] == [0]
    assert rec.evidence["charged"]["share"] == 1.0  # alone: it paid for all 4 GPUs
    assert "3 of 4 GPUs" in rec.title and "g4dn.xlarge" in rec.title


def test_gpus_busy_with_other_work_are_not_idle(store):
    """Unused GPUs just above the idle utilisation (5.5 %): someone else's, no advice."""
    run = seed_run(store, gpu_fn=one_of_four(5.5, 300 * MIB))
    does_not_fire(store, run, "idle_gpus")


def test_gpus_holding_memory_are_not_idle(store):
    """Unused GPUs holding 1 GiB of memory: someone else's, no advice."""
    run = seed_run(store, gpu_fn=one_of_four(0.0, GIB))
    does_not_fire(store, run, "idle_gpus")


def test_all_gpus_used_is_not_idle(store):
    """A run on all four GPUs gets no idle-GPU advice."""
    run = seed_run(store, gpu_fn=lambda k, i, t: gpu_row(90.0, 5 * GIB, T4[1], 5 * GIB, True))
    does_not_fire(store, run, "idle_gpus")


def test_no_gpu_used_suggests_a_machine_without_gpus(store):
    """A run that touched none of the GPUs is sized onto the cheapest CPU-only instance that
    covers its p99.5 CPU and peak RSS plus 20 %: 2 cores -> 3 vCPUs, 6 GiB -> 7.2 GiB."""
    run = seed_run(store, instance_type="g4dn.xlarge", gpu_count=1, cpu_count=4, memory_gib=16,
                   gpu_fn=lambda k, i, t: gpu_row(0.0, 0, T4[1], 0, False),
                   host_fn=lambda k, t: {"cpu_cores": 2.0, "rss_bytes": 6 * GIB})
    rec = fires_once(store, run, "idle_gpus")
    # c5.xlarge (4 vCPU, 8 GiB, $0.17) and c6i.xlarge tie; the name breaks the tie.
    assert rec.suggested_instance == "c5.xlarge"
    assert rec.saving_per_run == hours_cost("0.526", 3600) - hours_cost("0.17", 3600)


def test_mig_instance_in_use_counts_as_a_used_gpu(store):
    """A run on a MIG instance of GPU 0 (whole-device utilisation NULL under MIG): GPU 0 is
    used, GPUs 1-7 idle; no utilisation or memory advice is made up for the MIG device."""
    from tests.collector.advise_seed import A100_40, START

    def whole(k: int, i: int, t: float) -> dict:
        if i == 0:
            return gpu_row(None, 10 * GIB, A100_40[1], 0, False)
        return gpu_row(0.0, 0, A100_40[1], 0, False)

    run = seed_run(store, gpu=A100_40, gpu_count=8, instance_type="p4d.24xlarge",
                   cpu_count=96, memory_gib=1152, gpu_fn=whole)
    t0 = START.timestamp()
    store.write_batch(run, "trainer-1", gpu_samples=[
        {"ts": t0 + 10 * k, "gpu_index": 0, "mig_index": 1, "util_gpu_pct": None,
         "mem_used_bytes": 5 * GIB, "mem_total_bytes": 10 * GIB, "run_mem_used_bytes": 5 * GIB,
         "used_by_run": True, "attribution": "pid"} for k in range(361)])
    rec = fires_once(store, run, "idle_gpus")
    assert rec.evidence["gpus_used"] == [0] and rec.evidence["gpus_idle"] == [1, 2, 3, 4, 5, 6, 7]
    # p4d is the only A100 40GB machine in us-east-1: no smaller one to suggest.
    assert rec.suggested_instance is None
    for rule in ("gpu_underused", "gpu_memory_low", "gpu_memory_high", "idle_tail"):
        does_not_fire(store, run, rule)
