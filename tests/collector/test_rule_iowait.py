"""I/O wait bottleneck: host iowait above 10 % while the GPUs are below 10 %, in more than a
quarter of the samples that carry iowait."""

from __future__ import annotations

from tests.collector.advise_seed import (
    GIB,
    T4,
    does_not_fire,
    fires_once,
    gpu_row,
    seed_run,
)

SAMPLES = 101


def waiting(count: int, iowait: float = 15.0, gpu: bool = True):
    chosen = set(range(0, SAMPLES, 3)[:count]) | set(range(1, SAMPLES, 3)[:max(0, count - 34)])

    def host(k: int, t: float) -> dict:
        return {"cpu_cores": 1.0, "rss_bytes": 4 * GIB,
                "host_iowait_pct": iowait if k in chosen else 1.0}

    def gpu_fn(k: int, i: int, t: float) -> dict:
        return gpu_row(3.0 if k in chosen else 85.0, 3 * GIB, T4[1], 3 * GIB, True)
    return host, (gpu_fn if gpu else None)


def gpu_run(store, count: int, iowait: float = 15.0) -> str:
    host, gpu = waiting(count, iowait)
    return seed_run(store, instance_type="g4dn.xlarge", gpu_count=1, cpu_count=4,
                    memory_gib=16, duration_s=1000, host_fn=host, gpu_fn=gpu)


def test_just_over_a_quarter_fires(store):
    """26 of 101 samples waiting on I/O with the GPU idle: fires once, names no instance."""
    rec = fires_once(store, gpu_run(store, 26), "iowait_bottleneck")
    assert rec.evidence["iowait_share"] == round(26 / 101, 4)
    assert (rec.suggested_instance, rec.saving_per_run, rec.severity) == (None, None, "warn")
    assert "I/O wait" in rec.title


def test_just_under_a_quarter_does_not_fire(store):
    """25 of 101 samples (24.8 %) is not enough."""
    does_not_fire(store, gpu_run(store, 25), "iowait_bottleneck")


def test_iowait_at_the_threshold_does_not_fire(store):
    """iowait of exactly 10 % is not high."""
    does_not_fire(store, gpu_run(store, 60, iowait=10.0), "iowait_bottleneck")


def test_cpu_only_run_waiting_on_io_fires(store):
    """A run without GPUs waiting on I/O in 40 % of samples fires too."""
    host, _ = waiting(40)
    run = seed_run(store, gpu=None, gpu_count=0, instance_type="m5.xlarge", cpu_count=4,
                   memory_gib=16, duration_s=1000, host_fn=host)
    fires_once(store, run, "iowait_bottleneck")


def test_samples_without_iowait_never_fire(store):
    """Samples that do not carry iowait (other platforms) give no I/O advice."""
    run = seed_run(store, gpu=None, gpu_count=0, instance_type="m5.xlarge", cpu_count=4,
                   memory_gib=16, duration_s=1000)
    does_not_fire(store, run, "iowait_bottleneck")
