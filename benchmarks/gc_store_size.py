"""Store size before and after `xprof gc --keep-raw 30d`, and how long the pass takes.

For each case, builds a SQLite store in a temporary folder with runs 40 days old (1 Hz
process samples and GPU samples shaped like the agent's, written through Store.write_batch),
folds it WAL-checkpointed, then copies it REPEAT times and runs ``downsample`` (with its
VACUUM) on each copy. Prints one table: rows and bytes before and after, the size ratio,
and the median (and max) seconds of the pass.

    python benchmarks/gc_store_size.py            # about a minute on a 2-core machine
    python benchmarks/gc_store_size.py --scale 0.25
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the generator

from tests.collector.gc_helpers import counts, recorded_run
from xprof.collector.gc import downsample
from xprof.store import Store

REPEAT = 3
NOW = dt.datetime(2026, 11, 13, 12, tzinfo=dt.UTC)
CASES = (  # name, runs, hours each, GPUs on the machine
    ("CPU only, 20 runs x 2 h", 20, 2.0, 0),
    ("1 GPU, 10 runs x 4 h", 10, 4.0, 1),
    ("8 GPUs, 4 runs x 4 h", 4, 4.0, 8),
)


def _mb(path: Path) -> float:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists()) / 1e6


def build(path: Path, runs: int, hours: float, gpus: int) -> None:
    store = Store.open(f"sqlite:///{path}")
    random.seed(7)
    for i in range(runs):
        start = NOW - dt.timedelta(days=40, hours=i * hours)
        recorded_run(store, start, int(hours * 3600), seed=i, gpus=gpus)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the run hours")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, runs, hours, gpus in CASES:
            template = Path(tmp) / "template.db"
            build(template, runs, hours * args.scale, gpus)
            before_rows = counts(Store.open(f"sqlite:///{template}"))
            before_mb = _mb(template)
            seconds, after_mb, after_rows = [], 0.0, {}
            for i in range(REPEAT):
                copy = Path(tmp) / f"copy{i}.db"
                shutil.copyfile(template, copy)
                store = Store.open(f"sqlite:///{copy}")
                t0 = time.perf_counter()
                downsample(store, dt.timedelta(days=30), now=NOW)
                seconds.append(time.perf_counter() - t0)
                after_mb, after_rows = _mb(copy), counts(store)
                store.engine.dispose()
                copy.unlink()
            template.unlink()
            raw_before = before_rows["samples"] + before_rows["gpu_samples"]
            after = (after_rows["samples"] + after_rows["gpu_samples"]
                     + after_rows["samples_1m"] + after_rows["gpu_samples_1m"])
            rows.append([name, f"{raw_before:,}", f"{after:,}", f"{before_mb:.1f}",
                         f"{after_mb:.1f}", f"{before_mb / after_mb:.1f}x",
                         f"{statistics.median(seconds):.2f}", f"{max(seconds):.2f}"])
    headers = ["case", "rows before", "rows after", "MB before", "MB after", "smaller by",
               "gc s (median)", "gc s (max)"]
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    print(f"xprof gc --keep-raw 30d on SQLite, {REPEAT} passes per case (Python "
          f"{sys.version.split()[0]}, SQLite {sqlite3.sqlite_version})")
    for row in [headers, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
