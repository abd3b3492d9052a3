"""The run's GPU summary: util p50/p95 and memory peak per used GPU, and the GPUs left idle."""

from __future__ import annotations

import random

import pytest

from xprof.agent.gpu_summary import gpu_summary
from xprof.records import GpuSample
from xprof.stats import percentile

GIB = 2**30
HARDWARE = {"gpu_count": 4, "gpus": [{"index": i, "name": "NVIDIA H100 80GB HBM3"}
                                     for i in range(4)]}


def series(index: int, utils: list[float], used: list[bool], run_mem: int | None,
           mem: int = 20 * GIB, mig_index: int = -1, method: str = "pid") -> list[GpuSample]:
    return [GpuSample(ts=100.0 + t, gpu_index=index, mig_index=mig_index, util_gpu_pct=u,
                      mem_used_bytes=mem, run_mem_used_bytes=run_mem if on else 0,
                      used_by_run=on, attribution=method)
            for t, (u, on) in enumerate(zip(utils, used, strict=True))]


def test_used_gpus_percentiles_and_idle_gpus():
    """p50/p95 over the span the run held each GPU; run's memory peak; idle GPUs named."""
    utils = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    samples = (series(1, utils, [False, *[True] * 10], 3 * GIB)      # held from t=1
               + series(3, [50.0] * 11, [True] * 11, None, mem=7 * GIB)
               + series(0, [99.0] * 11, [False] * 11, 0))
    lines = gpu_summary(samples, HARDWARE)
    assert lines == [
        "GPU 1 (NVIDIA H100 80GB HBM3): util p50 55 %, p95 96 %; memory peak 3.0 GiB (run's own)",
        "GPU 3 (NVIDIA H100 80GB HBM3): util p50 50 %, p95 50 %; memory peak 7.0 GiB "
        "(whole device)",
        "GPUs the run never used: 0, 2 (2 of 4)",
    ]


def test_mig_instance_and_visible_devices():
    """A MIG instance has no utilisation; visible-devices attribution is said out loud."""
    samples = (series(0, [None] * 3, [True] * 3, None, method="visible-devices")
               + series(0, [None] * 3, [True] * 3, 5 * GIB, mig_index=2,
                        method="visible-devices"))
    lines = gpu_summary(samples, {"gpu_count": 1, "gpus": [{"index": 0, "name": "A100"}]})
    assert lines[0] == "GPU 0 MIG 2 (A100): util n/a under MIG; memory peak 5.0 GiB (run's own)"
    assert lines[1].startswith("GPU use attributed by CUDA_VISIBLE_DEVICES")
    assert len(lines) == 2


def test_no_gpu_used():
    """A CPU-only run on a GPU machine says it used none of them; no GPU at all, no lines."""
    samples = series(0, [5.0] * 3, [False] * 3, 0) + series(1, [5.0] * 3, [False] * 3, 0)
    assert gpu_summary(samples, {"gpu_count": 2}) == [
        "GPUs: the run used none of the 2 on this machine"]
    assert gpu_summary([], {}) == []


@pytest.mark.parametrize("q", [0, 5, 25, 50, 73.3, 95, 99.5, 100])
def test_percentile_matches_numpy(q):
    """percentile() interpolates linearly, as numpy.percentile does by default."""
    numpy = pytest.importorskip("numpy")
    rng = random.Random(q)
    for n in (1, 2, 7, 100):
        values = [rng.uniform(-50, 150) for _ in range(n)]
        assert percentile(values, q) == pytest.approx(float(numpy.percentile(values, q)))


def test_percentile_edges():
    """Empty input is None; None values are skipped."""
    assert percentile([], 50) is None
    assert percentile([None, 4.0, None, 2.0], 50) == 3.0
