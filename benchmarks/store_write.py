"""Store write throughput: 1 M samples into SQLite through the agent's own write path.

    python benchmarks/store_write.py               # 1,000,000 samples, 3 repeats
    python benchmarks/store_write.py --samples 100000 --batch 500

Writes process-tree samples with every field filled, in batches the size of an agent flush
(``Store.write_batch``, one transaction each), into a fresh SQLite store per repeat; prints
one table with the median time and rows per second against the DESIGN.md budget (1 M ≤ 5 s).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xprof.store import Store


def one_repeat(samples: int, batch: int, runs: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        store = Store.open(f"sqlite:///{folder}/xprof.db")
        t0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
        ids = [f"{i:032x}" for i in range(runs)]
        for run_id in ids:
            store.create_run({"id": run_id, "name": run_id[-6:], "project": "bench",
                              "status": "running", "started_at": t0, "heartbeat_at": t0,
                              "interval_s": 1.0, "flush_interval_s": 2.0,
                              "command": ["python", "train.py"], "host": "h"})
        per_run = samples // runs
        start = time.perf_counter()
        for run_id in ids:
            for first in range(0, per_run, batch):
                rows = [{"ts": 1_790_000_000.0 + i, "cpu_cores": 1.5, "cpu_seconds_total": i * 1.5,
                         "rss_bytes": 2_000_000_000 + i, "threads": 40, "processes": 5,
                         "read_bytes_total": i * 4096, "write_bytes_total": i * 512,
                         "host_cpu_pct": 55.0, "host_iowait_pct": 0.5,
                         "host_mem_used_bytes": 10_000_000_000,
                         "host_mem_available_bytes": 14_000_000_000}
                        for i in range(first, min(first + batch, per_run))]
                store.write_batch(run_id, "h", samples=rows)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=2000, help="rows per transaction")
    parser.add_argument("--runs", type=int, default=10, help="runs the samples belong to")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times = [one_repeat(args.samples, args.batch, args.runs) for _ in range(args.repeats)]
    median = statistics.median(times)
    print(f"| what | median of {args.repeats} | budget |\n| --- | --- | --- |")
    print(f"| write {args.samples:,} samples to SQLite, {args.batch} per transaction "
          f"| {median:.2f} s ({args.samples / median:,.0f} rows/s) | 1 M ≤ 5 s |")


if __name__ == "__main__":
    main()
