"""Advice compares predicted cost per run, not price per hour: a machine cheaper by the hour
but slow enough to cost more per run is never suggested; up to three machines of the
time/cost frontier are listed (cheapest, fastest, balanced); the CPU architecture stays
unless advise.allow_arch_change; the host memory covers peak RSS plus 20 %.

Each test prices its own catalog region (``test-1``), so the candidates are exactly these.
A 1-hour run on an L40S (g6e.xlarge, $1.861/h) with 4 GiB of its 45 GiB used (GPU memory
low) is either compute-bound (95 % SM, 30 % memory controller) or memory-bound (95 % SM,
90 %): 5 % of its time the GPU waits and does not scale.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.collector.advise_seed import GIB, L40S, does_not_fire, fires_once, gpu_row, seed_run
from xprof.collector import catalog
from xprof.settings import Settings

REGION = "test-1"
CHARGED = Decimal("1.861")


def offer(name: str, vcpus: int, memory: float, gpu: str, gpu_gib: float, rate: str
          ) -> catalog.Price:
    return catalog.Price("aws", name, REGION, vcpus, memory, 1, gpu, gpu_gib, Decimal(rate),
                         None, "USD", dt.date(2026, 11, 1), "test")


CURRENT = offer("g6e.xlarge", 4, 32, "L40S", 44.703125, "1.861")


def l40s_run(store, mem_pct: float, rss_gib: float = 3.0, **kwargs) -> str:
    def row(k: int, i: int, t: float) -> dict:
        return {**gpu_row(95.0, 4 * GIB, L40S[1], 4 * GIB, True), "util_mem_pct": mem_pct}
    return seed_run(store, gpu=L40S, gpu_count=1, instance_type="g6e.xlarge", region=REGION,
                    cpu_count=4, memory_gib=32, duration_s=3600, gpu_fn=row,
                    host_fn=lambda k, t: {"cpu_cores": 1.0, "rss_bytes": int(rss_gib * GIB)},
                    **kwargs)


def memory_bound_ratio(bandwidth: float) -> float:
    return 0.95 * 864 / bandwidth + 0.05


def test_cheaper_per_hour_but_dearer_per_run_is_not_suggested(store):
    """A T4 at $0.526/h is 72 % cheaper by the hour, but a compute-bound run takes
    0.95 × 362.05 / 65 + 0.05 = 5.34× as long there: $2.81 a run instead of $1.861. No
    machine is suggested; the GPU memory advice keeps its larger-batch hint."""
    catalog.write_prices(store, [CURRENT, offer("g4dn.xlarge", 4, 16, "T4", 16, "0.526")])
    rec = fires_once(store, l40s_run(store, 30.0), "gpu_memory_low")
    assert (rec.suggested_instance, rec.saving_per_run, rec.predicted_cost) == (None, None, None)
    assert "g4dn" not in rec.title


def test_memory_bound_run_is_cheaper_on_the_t4(store):
    """The same machines, a memory-bound run: 0.95 × 864 / 320 + 0.05 = 2.615× as long on the
    T4, $0.526 × 2.615 = $1.376 a run: suggested, with the trade-off in the title."""
    catalog.write_prices(store, [CURRENT, offer("g4dn.xlarge", 4, 16, "T4", 16, "0.526")])
    rec = fires_once(store, l40s_run(store, 90.0), "gpu_memory_low")
    duration = 3600 * memory_bound_ratio(320)
    cost = Decimal("0.526") * Decimal(repr(duration)) / 3600
    assert rec.suggested_instance == "g4dn.xlarge"
    assert rec.predicted_duration_s == pytest.approx(duration)
    assert rec.predicted_cost == pytest.approx(cost, abs=Decimal("1e-8"))
    assert rec.saving_per_run == pytest.approx(CHARGED - cost, abs=Decimal("1e-8"))
    assert "≈ 2.6× longer, 26 % cheaper per run" in rec.title
    assert "1× T4 16 GB" in rec.title


def test_three_candidates_of_the_frontier(store):
    """T4 $0.40 (2.615×, $1.046), L4 $0.55 (2.786×: slower and dearer than the T4, off the
    frontier), V100 $1.50 (0.962×, $1.443), A100 $2.60 (0.578×, $1.502), a 48-vCPU L40S at $2
    (dearer per run than the run): cheapest T4, fastest A100, balanced V100."""
    catalog.write_prices(store, [
        CURRENT, offer("t4.small", 4, 16, "T4", 16, "0.40"),
        offer("l4.small", 4, 16, "L4", 22.351562, "0.55"),
        offer("v100.small", 8, 61, "V100", 16, "1.50"),
        offer("a100.small", 12, 85, "A100", 40, "2.60"),
        offer("l40s.big", 48, 384, "L40S", 44.703125, "2.0")])
    rec = fires_once(store, l40s_run(store, 90.0), "gpu_memory_low")
    listed = [(c["role"], c["instance_type"]) for c in rec.evidence["candidates"]]
    assert listed == [("cheapest", "t4.small"), ("fastest", "a100.small"),
                      ("balanced", "v100.small")]
    by_name = {c["instance_type"]: c for c in rec.evidence["candidates"]}
    for name, rate, bandwidth in (("t4.small", "0.40", 320), ("v100.small", "1.50", 900),
                                  ("a100.small", "2.60", 1555)):
        duration = 3600 * memory_bound_ratio(bandwidth)
        assert by_name[name]["predicted_duration_s"] == pytest.approx(duration, abs=1e-3)
        assert Decimal(by_name[name]["predicted_cost"]) == pytest.approx(
            Decimal(rate) * Decimal(repr(duration)) / 3600, abs=Decimal("1e-6"))
    assert rec.suggested_instance == "t4.small"


def test_arm_instance_needs_the_setting(store):
    """g5g.xlarge (Graviton, arm64; T4g $0.42) is cheaper than g4dn.xlarge (x86_64, $0.526)
    but the run's x86_64 environment does not exist there: g4dn.xlarge, unless
    advise.allow_arch_change."""
    catalog.write_prices(store, [CURRENT, offer("g4dn.xlarge", 4, 16, "T4", 16, "0.526"),
                                 offer("g5g.xlarge", 4, 8, "T4g", 16, "0.42")])
    run = l40s_run(store, 90.0)
    assert fires_once(store, run, "gpu_memory_low").suggested_instance == "g4dn.xlarge"
    allowed = Settings(config={"advise.allow_arch_change": True})
    assert fires_once(store, run, "gpu_memory_low", allowed).suggested_instance == "g5g.xlarge"


def test_host_memory_covers_peak_rss_with_headroom(store):
    """Peak RSS 14 GiB needs 16.8 GiB: g4dn.xlarge (16 GiB) is out, g4dn.2xlarge (32 GiB)
    is suggested (priced here at $0.60: 2.615 × $0.60 < $1.861)."""
    catalog.write_prices(store, [CURRENT, offer("g4dn.xlarge", 4, 16, "T4", 16, "0.526"),
                                 offer("g4dn.2xlarge", 8, 32, "T4", 16, "0.60")])
    rec = fires_once(store, l40s_run(store, 90.0, rss_gib=14), "gpu_memory_low")
    assert rec.suggested_instance == "g4dn.2xlarge"


def test_gpu_without_datasheet_figures_is_not_guessed(store):
    """An A10G has no TFLOP/s in the shipped table: it is never suggested for a run whose
    time is compute-bound, however cheap."""
    catalog.write_prices(store, [CURRENT, offer("g5.xlarge", 4, 16, "A10G", 22.35, "0.10")])
    does_not_fire(store, l40s_run(store, 90.0, rss_gib=1), "memory_overprovisioned")
    rec = fires_once(store, l40s_run(store, 30.0), "gpu_memory_low")
    assert rec.suggested_instance is None
