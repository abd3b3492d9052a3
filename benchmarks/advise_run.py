"""How long `advise_run` takes at a run's end, by run length and GPU count.

Creates a fresh SQLite store (seeded with the shipped catalog) in a temporary folder, writes
one run per case with 1 Hz samples (a lone run on GPU 0 of the machine, the other GPUs idle)
and its host summary as the agent leaves it (its RunStats fed every row, tick by tick), then
times `advise_run` (load the evidence, run the rules, store the advice) REPEAT times each way,
alternating: "SQL counts" (the summary without ``gpu_devices`` and ``advice_counts``, as an
older agent or a crashed run leaves it: the same counts grouped in SQL from the rows) and
"kept counts" (what the agent kept while sampling: no row is read back). Both must give the
same advice. Prints the medians in milliseconds and their ratio.

    python benchmarks/advise_run.py
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from xprof import schema
from xprof.agent.run_stats import RunStats
from xprof.collector.advise import advise_run
from xprof.settings import Settings
from xprof.store import Store

REPEAT = 5
GIB = 2**30
T4 = 15360 * 2**20
CASES = [  # (name, hours, GPUs, instance type)
    ("too short to advise (60 s, 4 GPUs)", 60 / 3600, 4, "g4dn.12xlarge"),
    ("1 h, 4 GPUs", 1, 4, "g4dn.12xlarge"),
    ("8 h, 4 GPUs", 8, 4, "g4dn.12xlarge"),
    ("24 h, 8 GPUs", 24, 8, "g4dn.metal"),
]


def _run(store: Store, hours: float, gpus: int, instance_type: str) -> str:
    run_id = uuid.uuid4().hex
    start = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
    seconds = int(hours * 3600)
    store.create_run({
        "id": run_id, "name": run_id[:8], "project": "bench", "status": "finished",
        "started_at": start, "ended_at": start + dt.timedelta(seconds=seconds),
        "heartbeat_at": start + dt.timedelta(seconds=seconds), "duration_s": float(seconds),
        "interval_s": 1.0, "flush_interval_s": 2.0, "command": ["python", "train.py"],
        "host": "bench", "cloud_provider": "aws", "cloud_region": "us-east-1",
        "instance_type": instance_type, "lifecycle": "on-demand",
        "hardware": {"cpu_count": 48, "memory_bytes": 192 * GIB, "gpu_count": gpus,
                     "gpu_model": "Tesla T4", "gpu_memory_bytes": T4, "gpus_used": [0]}})
    t0 = start.timestamp()
    samples, gpu_samples = [], []
    for k in range(seconds + 1):
        samples.append({"ts": t0 + k, "cpu_cores": 1.0 + (k % 7) / 10, "rss_bytes": 6 * GIB,
                        "host_iowait_pct": 0.5, "host_mem_available_bytes": 150 * GIB})
        for i in range(gpus):
            used = i == 0
            gpu_samples.append({"ts": t0 + k, "gpu_index": i, "mig_index": -1,
                                "util_gpu_pct": float(k % 40) if used else 0.0,
                                "mem_used_bytes": 3 * GIB if used else 0,
                                "mem_total_bytes": T4, "run_mem_used_bytes": 3 * GIB if used
                                else 0, "used_by_run": used})
    for chunk in range(0, len(samples), 20000):
        store.write_batch(run_id, "bench", samples=samples[chunk:chunk + 20000])
    for chunk in range(0, len(gpu_samples), 20000):
        store.write_batch(run_id, "bench", gpu_samples=gpu_samples[chunk:chunk + 20000])
    stats = RunStats()
    for k, row in enumerate(samples):
        stats.add_sample(row)
        for gpu_row in gpu_samples[k * gpus:(k + 1) * gpus]:
            stats.add_gpu(gpu_row)
    store.write_batch(run_id, "bench", host_update={"summary": stats.summary()})
    return run_id


def _summary(store: Store, run_id: str, summary: dict | None = None) -> dict:
    """The host summary (set it when given)."""
    h = schema.run_hosts
    with store.write() as conn:
        if summary is not None:
            conn.execute(h.update().where(h.c.run_id == run_id).values(summary=summary))
        return conn.execute(sa.select(h.c.summary).where(h.c.run_id == run_id)).scalar()


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'bench.db'}")
        settings = Settings(env={}, config={})
        for name, hours, gpus, instance_type in CASES:
            run_id = _run(store, hours, gpus, instance_type)
            kept = _summary(store, run_id)
            raw = {k: v for k, v in kept.items() if k not in ("gpu_devices", "advice_counts")}
            times: dict[str, list[float]] = {"raw": [], "kept": []}
            advice: dict[str, list] = {}
            for _ in range(REPEAT):
                for way, summary in (("raw", raw), ("kept", kept)):
                    _summary(store, run_id, summary)
                    t = time.perf_counter()
                    advice[way] = advise_run(store, run_id, settings)
                    times[way].append((time.perf_counter() - t) * 1000)
            assert [(a.rule, a.evidence) for a in advice["raw"]] == \
                [(a.rule, a.evidence) for a in advice["kept"]], name
            before, after = statistics.median(times["raw"]), statistics.median(times["kept"])
            rows.append((name, int(hours * 3600) + 1, before, after, len(advice["kept"])))
    print(f"{'case':38} {'samples':>8} {'SQL counts ms':>16} {'kept counts ms':>15} "
          f"{'ratio':>6} {'advice':>7}")
    for name, samples, before, after, count in rows:
        print(f"{name:38} {samples:8d} {before:16.1f} {after:15.1f} "
              f"{before / after if after else 0:6.2f} {count:7d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
