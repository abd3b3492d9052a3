"""Self-calibration: when a project ran the same params (seeds aside) on two GPU models, the
measured ratio of their durations replaces the datasheet ratio, and the error the datasheet
model had on that pair is reported."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.collector.advise_seed import GIB, L40S, START, T4, fires_once, gpu_row, seed_run
from tests.collector.test_advise_frontier import CURRENT, REGION, offer
from xprof.collector import catalog


def busy(gpu: tuple[str, int]):
    def row(k: int, i: int, t: float) -> dict:
        return {**gpu_row(95.0, 4 * GIB, gpu[1], 4 * GIB, True), "util_mem_pct": 90.0}
    return row


def run_on(store, gpu, instance: str, duration: float, params: dict[str, str],
           hours_later: int) -> str:
    return seed_run(store, gpu=gpu, gpu_count=1, instance_type=instance, region=REGION,
                    cpu_count=4, memory_gib=16 if gpu is T4 else 32, duration_s=duration,
                    interval_s=10.0, gpu_fn=busy(gpu), params=params, project="lm",
                    started_at=START + dt.timedelta(hours=hours_later),
                    host_fn=lambda k, t: {"cpu_cores": 1.0, "rss_bytes": 3 * GIB})


def test_measured_ratio_replaces_the_datasheet(store):
    """The project ran lr=3e-4 on a T4 in 7,200 s (seed 2) and on the L40S in 3,600 s (seed
    1); a run with lr=1e-3 on a T4 took 30,000 s and is not comparable. The datasheet says
    0.95 × 864 / 320 + 0.05 = 2.615× for this memory-bound run; measured is 2.0×: the T4 is
    predicted at 7,200 s, $0.526 × 2 h, and the datasheet's error, +30.75 %, is reported."""
    catalog.write_prices(store, [CURRENT, offer("g4dn.xlarge", 4, 16, "T4", 16, "0.526")])
    run_on(store, T4, "g4dn.xlarge", 7200, {"lr": "3e-4", "seed": "2"}, 0)
    run_on(store, T4, "g4dn.xlarge", 30000, {"lr": "1e-3", "seed": "2"}, 3)
    run = run_on(store, L40S, "g6e.xlarge", 3600, {"lr": "3e-4", "seed": "1"}, 12)
    rec = fires_once(store, run, "gpu_memory_low")
    assert rec.suggested_instance == "g4dn.xlarge"
    assert rec.predicted_duration_s == pytest.approx(7200)
    assert rec.predicted_cost == Decimal("1.052")
    assert rec.saving_per_run == Decimal("1.861") - Decimal("1.052")
    calibration = rec.evidence["candidates"][0]["calibration"]
    assert calibration["measured_ratio"] == 2.0
    assert (calibration["runs_on_candidate_gpu"], calibration["runs_on_this_gpu"]) == (1, 1)
    assert calibration["datasheet_ratio"] == pytest.approx(2.615, abs=1e-4)
    assert calibration["datasheet_error_pct"] == pytest.approx(30.75, abs=0.06)  # rounded to 0.1
    assert rec.evidence["candidates"][0]["basis"] == "measured"


def test_without_comparable_runs_the_datasheet_is_used(store):
    """Only the lr=1e-3 run ran on a T4: not comparable, so the datasheet ratio holds."""
    catalog.write_prices(store, [CURRENT, offer("g4dn.xlarge", 4, 16, "T4", 16, "0.526")])
    run_on(store, T4, "g4dn.xlarge", 30000, {"lr": "1e-3", "seed": "2"}, 3)
    run = run_on(store, L40S, "g6e.xlarge", 3600, {"lr": "3e-4", "seed": "1"}, 12)
    rec = fires_once(store, run, "gpu_memory_low")
    assert rec.predicted_duration_s == pytest.approx(3600 * (0.95 * 864 / 320 + 0.05))
    assert rec.evidence["candidates"][0]["basis"] == "datasheet"
    assert rec.evidence["candidates"][0]["calibration"] is None
