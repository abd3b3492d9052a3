"""CPU bottleneck: the process tree above 90 % of the vCPUs while its GPU is below 10 %, in
more than half the samples, suggests more data-loader workers or a machine with more vCPUs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.collector.advise_seed import (
    GIB,
    T4,
    does_not_fire,
    fires_once,
    gpu_row,
    hours_cost,
    seed_run,
)

SAMPLES = 101  # 1000 s at 10 s


def starved(bound: int, cores: float = 3.8):
    """On a 4-vCPU g4dn.xlarge: ``bound`` samples (every other one first) with the tree at
    ``cores`` and the GPU at 5 %; the rest at 1 core and 80 %."""
    order = list(range(0, SAMPLES, 2)) + list(range(1, SAMPLES, 2))
    chosen = set(order[:bound])

    def host(k: int, t: float) -> dict:
        return {"cpu_cores": cores if k in chosen else 1.0, "rss_bytes": 4 * GIB}

    def gpu(k: int, i: int, t: float) -> dict:
        return gpu_row(5.0 if k in chosen else 80.0, 3 * GIB, T4[1], 3 * GIB, True)
    return host, gpu


def run_with(store, bound: int, cores: float = 3.8) -> str:
    host, gpu = starved(bound, cores)
    return seed_run(store, instance_type="g4dn.xlarge", gpu_count=1, cpu_count=4,
                    memory_gib=16, duration_s=1000, host_fn=host, gpu_fn=gpu)


def test_starved_in_just_over_half_the_samples_fires(store):
    """51 of 101 samples starved: fires once. The next T4 size up (g4dn.2xlarge, 8 vCPUs)
    halves the CPU-bound time (51 samples × 95 % not GPU-busy) but costs $0.752/h: more per
    run than the $0.526/h machine, so it is named with its predicted cost, not suggested."""
    rec = fires_once(store, run_with(store, 51), "cpu_bottleneck")
    assert rec.evidence["bottleneck_share"] == round(51 / 101, 4)
    assert (rec.suggested_instance, rec.saving_per_run, rec.severity) == (None, None, "warn")
    step = 1000 / SAMPLES
    predicted = 1000 - 51 * step * 0.95 / 2
    bigger = rec.evidence["more_vcpus"]
    assert bigger["instance_type"] == "g4dn.2xlarge"
    assert bigger["predicted_duration_s"] == pytest.approx(predicted, abs=1e-3)
    assert Decimal(bigger["extra_cost_per_run"]) == pytest.approx(
        Decimal("0.752") * Decimal(repr(predicted)) / 3600 - hours_cost("0.526", 1000),
        abs=Decimal("1e-6"))
    assert "data-loader workers" in rec.title and "costs more per run" in rec.title


def test_starved_all_run_suggests_more_vcpus_when_cheaper_per_run(store):
    """All 101 samples starved: 95 % of the 1,000 s is CPU-bound. With twice the vCPUs (the
    most the model credits) that halves: 525 s on g4dn.2xlarge, $0.752 × 525 s < $0.526 ×
    1,000 s: suggested, with the saving."""
    rec = fires_once(store, run_with(store, SAMPLES), "cpu_bottleneck")
    assert rec.suggested_instance == "g4dn.2xlarge"
    assert rec.predicted_duration_s == pytest.approx(525)
    assert rec.saving_per_run == hours_cost("0.526", 1000) - hours_cost("0.752", 525)


def test_starved_in_just_under_half_the_samples_does_not_fire(store):
    """50 of 101 samples starved is not over half the run."""
    does_not_fire(store, run_with(store, 50), "cpu_bottleneck")


def test_ninety_percent_of_vcpus_is_not_saturated(store):
    """The tree at exactly 90 % of 4 vCPUs (3.6 cores) is not CPU-bound."""
    does_not_fire(store, run_with(store, 80, cores=3.6), "cpu_bottleneck")
