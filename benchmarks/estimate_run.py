"""How long `estimate_run` takes at a run's end (the agent's budget: < 50 ms), per case.

Creates a fresh SQLite store (seeded with the shipped catalog) in a temporary folder, inserts
one run per case, then times `estimate_run` (read run, look up the price, store the cost row)
REPEAT times each and prints the median and p95 in milliseconds.

    python benchmarks/estimate_run.py
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from xprof.collector.estimate import estimate_run
from xprof.settings import Settings
from xprof.store import Store

REPEAT = 200
GIB = 2**30


def _run(store: Store, **fields) -> str:
    run_id = uuid.uuid4().hex
    start = dt.datetime(2026, 11, 20, 23, 30, tzinfo=dt.UTC)
    store.create_run({
        "id": run_id, "name": run_id[:8], "project": "bench", "status": "finished",
        "started_at": start, "ended_at": start + dt.timedelta(hours=2),
        "heartbeat_at": start + dt.timedelta(hours=2), "duration_s": 7200.0,
        "interval_s": 1.0, "flush_interval_s": 2.0, "command": ["python", "train.py"],
        "host": "bench", **fields})
    return run_id


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        store = Store.open(f"sqlite:///{Path(tmp) / 'bench.db'}")
        create_ms = (time.perf_counter() - t0) * 1000
        gpu = {"cpu_count": 96, "memory_bytes": 1152 * GIB, "gpu_count": 8,
               "gpu_model": "NVIDIA A100-SXM4-40GB", "gpu_memory_bytes": 40 * GIB,
               "gpus_used": [0, 1]}
        cases = {
            "aws p4d.24xlarge, 2 of 8 GPUs": _run(
                store, cloud_provider="aws", instance_type="p4d.24xlarge",
                cloud_region="us-east-1", lifecycle="on-demand", hardware=gpu),
            "off-cloud CPU laptop (equivalent)": _run(
                store, cloud_provider="none",
                hardware={"cpu_count": 8, "memory_bytes": 31 * GIB, "gpu_count": 0}),
            "off-cloud 1x T4 (equivalent)": _run(
                store, cloud_provider="none",
                hardware={"cpu_count": 8, "memory_bytes": 31 * GIB, "gpu_count": 1,
                          "gpu_model": "Tesla T4", "gpus_used": [0]}),
            "unknown instance type": _run(
                store, cloud_provider="aws", instance_type="x9.huge",
                cloud_region="us-east-1", hardware={"cpu_count": 4}),
        }
        settings = Settings(env={}, config={})
        rows = []
        for name, run_id in cases.items():
            times = []
            for _ in range(REPEAT):
                t = time.perf_counter()
                estimate_run(store, run_id, settings)
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            rows.append((name, statistics.median(times), times[int(0.95 * len(times)) - 1]))
    print(f"store create + seed: {create_ms:.0f} ms (once per new store)")
    print(f"{'case':38} {'median ms':>10} {'p95 ms':>8}")
    for name, median, p95 in rows:
        print(f"{name:38} {median:10.2f} {p95:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
