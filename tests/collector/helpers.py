"""Realistic run rows for the collector's tests, written through Store.create_run."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from xprof.store import Store

GIB = 2**30


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def gpu_hardware(name: str, count: int, memory_bytes: int, used: list[int] | None,
                 cpu_count: int, memory_gib: float) -> dict[str, Any]:
    """The hardware JSON the agent records for a GPU machine."""
    gpus = [{"index": i, "name": name, "uuid": f"GPU-{uuid.UUID(int=i)}",
             "memory_total_bytes": memory_bytes} for i in range(count)]
    hardware: dict[str, Any] = {
        "cpu_model": "Intel(R) Xeon(R) Platinum 8175M CPU @ 2.50GHz", "cpu_count": cpu_count,
        "memory_bytes": int(memory_gib * GIB), "gpu_count": count, "gpu_model": name,
        "gpu_memory_bytes": memory_bytes, "gpus": gpus}
    if used is not None:
        hardware["gpus_used"] = used
    return hardware


def cpu_hardware(cpu_count: int, memory_bytes: int) -> dict[str, Any]:
    return {"cpu_model": "AMD EPYC 7R13 Processor", "cpu_count": cpu_count,
            "memory_bytes": memory_bytes, "gpu_count": 0, "gpu_model": None,
            "gpu_memory_bytes": None, "gpus": [], "gpus_used": []}


def make_run(store: Store, *, started_at: dt.datetime, duration_s: float | None,
             hardware: dict[str, Any], provider: str | None = None,
             instance_type: str | None = None, region: str | None = None,
             zone: str | None = None, lifecycle: str | None = None,
             status: str = "finished", heartbeat_at: dt.datetime | None = None,
             instance_id: str | None = None) -> str:
    """Insert a run row shaped like the agent's (through Store.create_run); return its id."""
    run_id = uuid.uuid4().hex
    ended = started_at + dt.timedelta(seconds=duration_s) if duration_s is not None else None
    store.create_run({
        "id": run_id, "name": f"run-{run_id[:6]}", "project": "digits", "status": status,
        "exit_code": 0 if status == "finished" else None, "started_at": started_at,
        "ended_at": ended, "heartbeat_at": heartbeat_at or ended or started_at,
        "duration_s": duration_s, "interval_s": 1.0, "flush_interval_s": 2.0,
        "command": ["python", "train.py", "--lr", "3e-4"], "cwd": "/home/me/proj",
        "host": "trainer-1", "user": "me", "os": "Linux-6.8", "python": "3.11.7",
        "hardware": hardware, "cloud_provider": provider, "cloud_region": region,
        "cloud_zone": zone, "instance_type": instance_type, "lifecycle": lifecycle,
        "instance_id": instance_id or (f"i-0{run_id[:16]}" if provider == "aws" else None),
        "agent_version": "0.1.0",
    })
    return run_id
