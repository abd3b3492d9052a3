"""Runs with generated sample series for the advice tests, written the way the agent writes
them (Store.create_run, then store.write_batch of samples and GPU samples)."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import sqlalchemy as sa

from xprof import schema
from xprof.store import Store

GIB = 2**30
MIB = 2**20
T4 = ("Tesla T4", 15360 * MIB)
V100 = ("Tesla V100-SXM2-16GB", 16384 * MIB)
A100_40 = ("NVIDIA A100-SXM4-40GB", 40960 * MIB)
A100_80 = ("NVIDIA A100-SXM4-80GB", 81920 * MIB)
L40S = ("NVIDIA L40S", 46068 * MIB)
START = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)

HostFn = Callable[[int, float], dict[str, Any]]
GpuFn = Callable[[int, int, float], dict[str, Any]]  # (sample k, gpu index, seconds) -> row


def nano(value: Decimal) -> Decimal:
    return value.quantize(Decimal("1e-9"), rounding=ROUND_HALF_EVEN).normalize()


def hours_cost(rate: str, seconds: float) -> Decimal:
    """What ``rate`` $/h costs for ``seconds`` (as xprof rounds money)."""
    return nano(Decimal(rate) * Decimal(repr(float(seconds))) / 3600)


def p95_series(n: int, p95: float, seed: int = 1, low: float = 0.0) -> list[float]:
    """``n`` values whose 95th percentile (linear interpolation) is exactly ``p95``: the top
    10 % equal it, the rest lie below, in shuffled order."""
    rng = random.Random(seed)
    top = max(1, -(-n // 10))
    values = [p95] * top + [rng.uniform(low, p95 * 0.99) for _ in range(n - top)]
    rng.shuffle(values)
    return values


def steady_host(cores: float = 1.5, rss_bytes: int = 6 * GIB, **extra: Any) -> HostFn:
    def host(k: int, t: float) -> dict[str, Any]:
        return {"cpu_cores": cores, "rss_bytes": rss_bytes, **extra}
    return host


def gpu_row(util: float | None, mem_used: int, total: int, own: int | None,
            used: bool) -> dict[str, Any]:
    return {"util_gpu_pct": util, "mem_used_bytes": mem_used, "mem_total_bytes": total,
            "run_mem_used_bytes": own, "used_by_run": used,
            "attribution": "pid" if used else "none"}


def seed_run(store: Store, *, gpu: tuple[str, int] | None = T4, gpu_count: int = 4,
             cpu_count: int = 48, memory_gib: float = 192, provider: str | None = "aws",
             instance_type: str | None = "g4dn.12xlarge", region: str | None = "us-east-1",
             lifecycle: str | None = "on-demand", duration_s: float = 3600,
             interval_s: float = 10.0, started_at: dt.datetime = START,
             project: str = "vision", host_fn: HostFn | None = None,
             gpu_fn: GpuFn | None = None, gpus_used: Sequence[int] | None = None,
             instance_id: str | None = None, host: str = "trainer-1",
             samples: int | None = None, params: dict[str, str] | None = None) -> str:
    """A finished run with ``samples`` (default: duration / interval + 1) host samples and,
    on a GPU machine, one GPU sample per device at each of those times."""
    run_id = uuid.uuid4().hex
    gpus = []
    if gpu is not None:
        gpus = [{"index": i, "name": gpu[0], "uuid": f"GPU-{uuid.UUID(int=i)}",
                 "memory_total_bytes": gpu[1]} for i in range(gpu_count)]
    n = samples if samples is not None else round(duration_s / interval_s) + 1
    host_fn = host_fn or steady_host()
    t0 = started_at.timestamp()
    times = [t0 + k * (duration_s / max(1, n - 1)) for k in range(n)]
    host_rows = [{"ts": ts, **host_fn(k, ts - t0)} for k, ts in enumerate(times)]
    gpu_rows = []
    used = set(gpus_used or [])
    if gpu is not None and gpu_fn is not None:
        for k, ts in enumerate(times):
            for i in range(gpu_count):
                row = gpu_fn(k, i, ts - t0)
                if row.get("used_by_run"):
                    used.add(i)
                gpu_rows.append({"ts": ts, "gpu_index": i, "mig_index": -1,
                                 "uuid": gpus[i]["uuid"], **row})
    hardware = {"cpu_model": "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz",
                "cpu_count": cpu_count, "memory_bytes": int(memory_gib * GIB),
                "gpu_count": gpu_count if gpu else 0, "gpu_model": gpu[0] if gpu else None,
                "gpu_memory_bytes": gpu[1] if gpu else None, "gpus": gpus,
                "gpus_used": sorted(used)}
    ended = started_at + dt.timedelta(seconds=duration_s)
    store.create_run({
        "id": run_id, "name": f"run-{run_id[:6]}", "project": project, "status": "finished",
        "exit_code": 0, "started_at": started_at, "ended_at": ended, "heartbeat_at": ended,
        "duration_s": duration_s, "interval_s": interval_s, "flush_interval_s": 2.0,
        "command": ["python", "train.py"], "cwd": "/home/me/proj", "host": host,
        "user": "me", "os": "Linux-6.8", "python": "3.11.7", "hardware": hardware,
        "cloud_provider": provider, "cloud_region": region, "instance_type": instance_type,
        "lifecycle": lifecycle,
        "instance_id": instance_id or (f"i-0{run_id[:16]}" if provider == "aws" else None),
        "agent_version": "0.1.0"},
        params={k: (v, "argv") for k, v in (params or {}).items()})
    for start in range(0, len(host_rows), 5000):
        store.write_batch(run_id, host, samples=host_rows[start:start + 5000])
    for start in range(0, len(gpu_rows), 5000):
        store.write_batch(run_id, host, gpu_samples=gpu_rows[start:start + 5000])
    return run_id


def stored(store: Store, run_id: str | None = None) -> list[dict[str, Any]]:
    """Recommendation rows (of one run, or all), by rule."""
    t = schema.recommendations
    query = sa.select(t).order_by(t.c.rule, t.c.id)
    if run_id is not None:
        query = query.where(t.c.run_id == run_id)
    with store.read() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def only(recs: Sequence[Any], rule: str) -> Any:
    """The one recommendation of ``rule`` (fails if there are none or several)."""
    found = [rec for rec in recs if rec.rule == rule]
    assert len(found) == 1, f"{rule}: {[r.rule for r in recs]}"
    return found[0]


def rules_of(recs: Sequence[Any]) -> list[str]:
    return sorted(rec.rule for rec in recs)


def fires_once(store: Store, run_id: str, rule: str, settings: Any = None) -> Any:
    """Advise the run; ``rule`` must be in the result once and stored once. Returns it."""
    from xprof.collector.advise import advise_run

    rec = only(advise_run(store, run_id, settings), rule)
    rows = [row for row in stored(store, run_id) if row["rule"] == rule]
    assert len(rows) == 1
    assert (rows[0]["saving_per_run"], rows[0]["suggested_instance"], rows[0]["status"]) == (
        rec.saving_per_run, rec.suggested_instance, "open")
    return rec


def does_not_fire(store: Store, run_id: str, rule: str, settings: Any = None) -> list[Any]:
    """Advise the run; ``rule`` must be neither returned nor stored. Returns the advice."""
    from xprof.collector.advise import advise_run

    recs = advise_run(store, run_id, settings)
    assert rule not in rules_of(recs)
    assert rule not in [row["rule"] for row in stored(store, run_id)]
    return recs
