"""Stores with old runs for the retention tests and benchmark: 1 Hz samples and GPU samples
written through Store.write_batch, summaries computed by the agent's own RunStats."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

import sqlalchemy as sa

from tests.collector.helpers import gpu_hardware
from xprof import schema
from xprof.agent.run_stats import RunStats
from xprof.store import Store

GIB = 2**30


def sample_rows(start_ts: float, seconds: int, rng: random.Random, gpus: int = 2
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A run's process-tree samples and per-GPU samples at 1 Hz, as the sampler makes them."""
    samples, gpu_rows = [], []
    cpu_total = 0.0
    for i in range(seconds):
        ts = start_ts + i + rng.random() * 0.01
        cores = None if i == 0 else round(rng.uniform(0.5, 7.5), 3)
        cpu_total += cores or 0.0
        samples.append({
            "ts": ts, "cpu_cores": cores, "cpu_seconds_total": round(cpu_total, 3),
            "rss_bytes": int(2 * GIB + rng.randint(0, 6 * GIB)), "threads": rng.randint(20, 40),
            "processes": rng.randint(4, 9), "read_bytes_total": i * 1_000_000,
            "write_bytes_total": i * 50_000, "host_cpu_pct": round(rng.uniform(10, 95), 2),
            "host_iowait_pct": round(rng.uniform(0, 5), 2),
            "host_mem_used_bytes": int(20 * GIB + rng.randint(0, GIB)),
            "host_mem_available_bytes": int(40 * GIB - rng.randint(0, GIB))})
        for g in range(gpus):  # GPU 0 trains; the others sit idle (advice: fewer GPUs)
            gpu_rows.append({
                "ts": ts, "gpu_index": g, "mig_index": -1, "uuid": f"GPU-{g:08d}",
                "util_gpu_pct": float(rng.randint(0, 100) if g == 0 else 0),
                "util_mem_pct": float(rng.randint(0, 60) if g == 0 else 0),
                "mem_used_bytes": int(rng.randint(1, 15) * GIB) if g == 0 else 300 * 2**20,
                "mem_total_bytes": 16 * GIB, "power_w": round(rng.uniform(60, 300), 1),
                "power_limit_w": 300.0, "temperature_c": float(rng.randint(40, 80)),
                "sm_clock_mhz": 1530.0, "energy_j": 1e6 + i * 200.0,
                "run_mem_used_bytes": int(rng.randint(1, 14) * GIB) if g == 0 else None,
                "run_sm_util_pct": float(rng.randint(0, 100)) if g == 0 else None,
                "used_by_run": g == 0, "attribution": "pid"})
    return samples, gpu_rows


def recorded_run(store: Store, started_at: dt.datetime, seconds: int, *, seed: int = 1,
                 status: str = "finished", project: str = "vision", gpus: int = 2,
                 heartbeat_at: dt.datetime | None = None) -> str:
    """A run with its series and its end-of-run summary, as `xprof run` leaves it."""
    rng = random.Random(seed)
    run_id = uuid.uuid4().hex
    host = "gpu-box-3"
    ended = started_at + dt.timedelta(seconds=seconds)
    running = status in ("running", "crashed")  # crashed: the agent died, no summary
    if status == "crashed":
        heartbeat_at = heartbeat_at or ended
    store.create_run({
        "id": run_id, "name": f"run-{seed}", "project": project, "status": "running",
        "started_at": started_at, "heartbeat_at": heartbeat_at or started_at,
        "interval_s": 1.0, "flush_interval_s": 2.0, "command": ["python", "train.py"],
        "host": host, "hardware": gpu_hardware("Tesla V100-SXM2-16GB", gpus, 16 * GIB, [0],
                                               8, 61),
        "cloud_provider": "aws", "cloud_region": "us-east-1", "instance_type": "p3.8xlarge",
        "instance_id": f"i-0{run_id[:16]}", "lifecycle": "on-demand"})
    samples, gpu_rows = sample_rows(started_at.timestamp(), seconds, rng, gpus)
    stats = RunStats()
    for row in samples:
        stats.add_sample(row)
    for row in gpu_rows:
        stats.add_gpu(row)
    final = None if running else {
        "status": status, "exit_code": 0 if status == "finished" else 1, "ended_at": ended,
        "duration_s": float(seconds), "cpu_seconds": stats.cpu_seconds,
        "peak_rss_bytes": stats.rss_peak, "summary": stats.summary(),
        "heartbeat_at": heartbeat_at or ended}
    host_update = dict(final) if final else {"heartbeat_at": heartbeat_at or started_at}
    host_update.pop("duration_s", None)
    metrics = [{"seq": i + 1, "key": "loss", "value": 2.0 / (i + 1), "step": i * 100,
                "ts": started_at.timestamp() + i * 60, "source": "log"}
               for i in range(max(1, seconds // 60))]
    store.write_batch(run_id, host, samples=samples, gpu_samples=gpu_rows, metrics=metrics,
                      host_update=host_update, run_update={"heartbeat_at": host_update[
                          "heartbeat_at"]}, finished=final is not None)
    return run_id


def snapshot(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table gc must not touch."""
    tables = (schema.runs, schema.run_hosts, schema.run_params, schema.run_tags,
              schema.metrics, schema.costs, schema.recommendations)
    with store.read() as conn:
        return {t.name: [dict(m) for m in conn.execute(
            sa.select(t).order_by(*t.primary_key.columns)).mappings()] for t in tables}


def counts(store: Store) -> dict[str, int]:
    tables = (schema.samples, schema.gpu_samples, schema.samples_1m, schema.gpu_samples_1m)
    with store.read() as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                for t in tables}
