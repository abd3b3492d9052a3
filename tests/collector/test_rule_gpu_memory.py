"""GPU memory headroom: a peak under 40 % of the GPU's memory suggests a smaller-memory GPU
class; over 90 % is an out-of-memory risk and suggests a larger one."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from tests.collector.advise_seed import (
    A100_40,
    A100_80,
    does_not_fire,
    fires_once,
    gpu_row,
    seed_run,
)


def eight_busy_gpus(peak: int, total: int):
    """All 8 GPUs used at 95 %, each peaking at ``peak`` bytes (run's own) mid-run."""
    def row(k: int, i: int, t: float) -> dict:
        own = peak if k == 100 else peak // 2
        return gpu_row(95.0, own, total, own, True)
    return row


def p4de(store, share: str) -> str:
    return seed_run(store, gpu=A100_80, gpu_count=8, instance_type="p4de.24xlarge",
                    cpu_count=96, memory_gib=1152,
                    gpu_fn=eight_busy_gpus(int(Fraction(share) * A100_80[1]), A100_80[1]))


def p4d(store, share: str) -> str:
    return seed_run(store, gpu=A100_40, gpu_count=8, instance_type="p4d.24xlarge",
                    cpu_count=96, memory_gib=1152,
                    gpu_fn=eight_busy_gpus(int(Fraction(share) * A100_40[1]), A100_40[1]))


def test_low_peak_suggests_the_40gb_a100(store):
    """Peak 39.9 % of an 80 GB A100 (31.9 GiB + 20 % fits 40 GB): p4d.24xlarge instead of
    p4de.24xlarge, saving the hourly difference."""
    rec = fires_once(store, p4de(store, "0.399"), "gpu_memory_low")
    assert (rec.suggested_instance, rec.saving_per_run) == (
        "p4d.24xlarge", Decimal("27.44705") - Decimal("21.957642"))
    assert rec.evidence["gpu_memory_peak_share"] == 0.399
    assert rec.severity == "info"  # 19.99 % of what the run paid: under the 20 % of "warn"


def test_forty_percent_does_not_fire(store):
    """Peak exactly 40 % gets no low-memory advice."""
    does_not_fire(store, p4de(store, "0.40"), "gpu_memory_low")


def test_near_capacity_suggests_a_larger_gpu(store):
    """Peak 91 % of a 40 GB A100: OOM risk, high severity, the 80 GB A100 machine, no saving
    (it costs more, by the amount in the evidence)."""
    rec = fires_once(store, p4d(store, "0.91"), "gpu_memory_high")
    assert (rec.severity, rec.suggested_instance, rec.saving_per_run) == (
        "high", "p4de.24xlarge", None)
    assert Decimal(rec.evidence["extra_cost_per_run"]) == Decimal("27.44705") - Decimal(
        "21.957642")
    assert "out-of-memory risk" in rec.title


def test_ninety_percent_does_not_fire(store):
    """Peak exactly 90 % is not yet near capacity."""
    does_not_fire(store, p4d(store, "0.90"), "gpu_memory_high")
