"""The predictor's datasheet ratios against published training speed-ups.

For each row of collector/data/gpu_benchmarks.csv, predicts a 1-hour, 1-GPU run on the slower
GPU moved to the faster one, once fully compute-bound (100 % SM, memory controller idle) and
once fully memory-bound (100 % SM, 100 % memory controller), with the same predictor
`xprof advise` uses, and prints the speed-ups next to the published one (within 25 %?).

    python benchmarks/hardware_ratios.py
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from xprof.collector.catalog import Price
from xprof.collector.hardware import benchmarks, gpu_specs
from xprof.collector.rightsizing.evidence import GpuDevice, Limits, RunEvidence
from xprof.collector.rightsizing.predict import predict, split_time
from xprof.sample_counts import SampleCounts

HOUR = 3600.0
MEMORY = {"A100": 80, "H100": 80, "V100": 16, "P100": 16, "L40S": 48}  # the benchmarked parts


def machine(gpu: str) -> Price:
    return Price("aws", f"one-{gpu}", "bench", 8, 64, 1, gpu, float(MEMORY[gpu]), Decimal(1),
                 None, "USD", dt.date(2026, 11, 1), "bench")


def speedup(slow: str, fast: str, mem_pct: float) -> float | None:
    current = machine(slow)
    n = 360
    counts = SampleCounts()
    for k in range(n):
        counts.add(k * HOUR / n, 1.0, 2**30, None, None, 100.0, mem_pct)
    gpu = GpuDevice(index=0, samples=n, util_counts={100.0: n}, util_max=100.0,
                    mem_used_max=None, mem_total=None, run_mem_max=None, used_by_run=True)
    ev = RunEvidence(
        run_id="bench", instance_type=current.instance_type, duration_s=HOUR, end_ts=HOUR,
        interval_s=HOUR / n, vcpus=8, memory_gib=64,
        counts=counts, gpus={0: gpu}, used_gpus=frozenset({0}), gpu_model=slow,
        gpu_memory_gib=float(MEMORY[slow]), current=current, offers=(), baseline=None,
        shared=False)
    prediction = predict(ev, split_time(ev), machine(fast), Limits())
    return None if prediction is None else HOUR / prediction.duration_s


def within(predicted: float | None, published: float) -> str:
    if predicted is None:
        return "n/a"
    off = predicted / published - 1
    return f"{off:+.0%} {'yes' if abs(off) <= 0.25 else 'NO'}"


def main() -> None:
    assert gpu_specs()
    print("| fast vs slow | workload (source) | published | compute-bound | within 25 % "
          "| memory-bound | within 25 % |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for b in benchmarks():
        compute, memory = speedup(b.gpu_slow, b.gpu_fast, 0.0), speedup(b.gpu_slow, b.gpu_fast,
                                                                          100.0)
        print(f"| {b.gpu_fast} vs {b.gpu_slow} | {b.workload.split(' (')[0]} ({b.source}) | "
              f"{b.published_speedup:g}× | {compute:.2f}× | {within(compute, b.published_speedup)}"
              f" | {memory:.2f}× | {within(memory, b.published_speedup)} |")


if __name__ == "__main__":
    main()
