"""GPU underused: p95 utilisation of the used GPUs below 70 % gives a larger-batch hint and,
where the catalog has one, an instance with fewer GPUs of the same model."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.collector.advise_seed import (
    GIB,
    T4,
    V100,
    does_not_fire,
    fires_once,
    gpu_row,
    p95_series,
    seed_run,
)

SAMPLES = 361  # one hour at 10 s


def used_gpus_at(p95: float, gpu: tuple[str, int], used: set[int], seed: int = 3):
    """The ``used`` GPUs follow a series with this p95; the others are idle."""
    series = {i: p95_series(SAMPLES, p95, seed + i) for i in used}

    def row(k: int, i: int, t: float) -> dict:
        if i in used:
            return gpu_row(series[i][k], 4 * GIB, gpu[1], 4 * GIB, True)
        return gpu_row(0.0, 0, gpu[1], 0, False)
    return row


def test_just_below_seventy_percent_fires(store):
    """p95 69.5 % on 1 of 4 T4s: fires once, names g4dn.xlarge and the whole-machine saving."""
    run = seed_run(store, gpu_fn=used_gpus_at(69.5, T4, {0}))
    rec = fires_once(store, run, "gpu_underused")
    assert rec.evidence["gpu_util_p95_pct"] == 69.5
    assert (rec.suggested_instance, rec.saving_per_run) == (
        "g4dn.xlarge", Decimal("3.912") - Decimal("0.526"))
    assert "raise the batch size" in rec.title


def test_seventy_percent_does_not_fire(store):
    """p95 exactly 70 % is not underused."""
    run = seed_run(store, gpu_fn=used_gpus_at(70.0, T4, {0}))
    does_not_fire(store, run, "gpu_underused")


def test_four_v100s_at_low_use_fit_on_one(store):
    """Four V100s each at p95 17 % (68 % in all) fit on one: p3.2xlarge instead of
    p3.8xlarge. On one GPU the GPU-busy time (the busiest GPU's, each sample) takes four times
    as long, the rest as long: the saving is $12.24 for the hour less $3.06/h for that."""
    run = seed_run(store, gpu=V100, instance_type="p3.8xlarge", cpu_count=32, memory_gib=244,
                   gpu_fn=used_gpus_at(17.0, V100, {0, 1, 2, 3}))
    rec = fires_once(store, run, "gpu_underused")
    assert rec.evidence["gpus_needed"] == 1
    series = [p95_series(SAMPLES, 17.0, 3 + i) for i in range(4)]
    busy = sum(max(s[k] for s in series) / 100 for k in range(SAMPLES)) / SAMPLES
    predicted = 3600 * (1 - busy) + 3600 * busy * 4
    assert rec.predicted_duration_s == pytest.approx(predicted, rel=1e-6)
    assert rec.suggested_instance == "p3.2xlarge"
    assert rec.saving_per_run == pytest.approx(Decimal("12.24") - Decimal("3.06") * Decimal(
        repr(predicted)) / 3600, abs=Decimal("1e-8"))


def test_busy_enough_gpus_get_the_batch_hint_only(store):
    """Four V100s at p95 69 % need all four: the advice names no instance and no saving."""
    run = seed_run(store, gpu=V100, instance_type="p3.8xlarge", cpu_count=32, memory_gib=244,
                   gpu_fn=used_gpus_at(69.0, V100, {0, 1, 2, 3}))
    rec = fires_once(store, run, "gpu_underused")
    assert (rec.suggested_instance, rec.saving_per_run, rec.severity) == (None, None, "info")
