"""No rule fires without enough data: a minimum duration (advise.preliminary_s, 60 s; up to
advise.min_duration_s, 300 s, advice is preliminary) and sample count (advise.min_samples, 30),
all settings."""

from __future__ import annotations

import pytest

from tests.collector.advise_seed import (
    GIB,
    T4,
    does_not_fire,
    fires_once,
    gpu_row,
    seed_run,
    stored,
)
from xprof.collector.advise import advise_run
from xprof.settings import ConfigError, Settings


def idle_three(k: int, i: int, t: float) -> dict:
    if i == 0:
        return gpu_row(20.0, 2 * GIB, T4[1], 2 * GIB, True)
    return gpu_row(0.0, 0, T4[1], 0, False)


def test_run_shorter_than_a_minute_gets_nothing(store):
    """A 59 s run (advise.preliminary_s 60 s) gets no advice at all, and nothing is stored."""
    run = seed_run(store, duration_s=59, samples=60, gpu_fn=idle_three)
    assert advise_run(store, run) == []
    assert stored(store, run) == []


def test_run_shorter_than_the_minimum_gets_preliminary_advice(store):
    """A 299 s run (advise.min_duration_s 300 s) gets advice marked preliminary, confidence
    low, also for the machine it suggests."""
    rec = fires_once(store, seed_run(store, duration_s=299, gpu_fn=idle_three), "idle_gpus")
    assert rec.evidence["preliminary"] is True
    assert rec.confidence == "low"
    assert rec.evidence["candidates"][0]["confidence"] == "low"
    assert "(preliminary: a 299 s run)" in rec.title
    long = fires_once(store, seed_run(store, duration_s=300, gpu_fn=idle_three), "idle_gpus")
    assert "preliminary" not in long.evidence and long.confidence != "low"


def test_run_of_the_minimum_duration_is_advised(store):
    """A 300 s run with 31 samples is advised."""
    fires_once(store, seed_run(store, duration_s=300, gpu_fn=idle_three), "idle_gpus")


def test_too_few_samples_get_no_sample_advice(store):
    """29 samples (default minimum 30) give no sample-based advice."""
    run = seed_run(store, samples=29, gpu_fn=idle_three)
    for rule in ("idle_gpus", "gpu_underused", "gpu_memory_low"):
        does_not_fire(store, run, rule)


def test_thirty_samples_are_enough(store):
    """30 samples are enough."""
    fires_once(store, seed_run(store, samples=30, gpu_fn=idle_three), "gpu_underused")


def test_minimums_come_from_settings(store, monkeypatch):
    """Lowered in the environment and the config file, a 50 s run with 5 samples is advised."""
    run = seed_run(store, duration_s=50, samples=5, gpu_fn=idle_three)
    assert advise_run(store, run) == []
    monkeypatch.setenv("XPROF_ADVISE_MIN_SAMPLES", "5")
    settings = Settings(config={"advise.min_duration_s": 50, "advise.preliminary_s": 50})
    fires_once(store, run, "idle_gpus", settings)


def test_a_bad_minimum_is_a_config_error(monkeypatch):
    """XPROF_ADVISE_MIN_SAMPLES=0 is refused, naming the variable."""
    monkeypatch.setenv("XPROF_ADVISE_MIN_SAMPLES", "0")
    with pytest.raises(ConfigError, match="XPROF_ADVISE_MIN_SAMPLES"):
        Settings()
