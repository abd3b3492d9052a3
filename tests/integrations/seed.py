"""A store with three ended runs written through the Store API: params, tags, samples, GPU
samples, metrics, a cost each (billed or estimate) and a recommendation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from xprof import schema
from xprof.store import Store

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
RUNS: list[dict[str, Any]] = [
    {"name": "resnet-a", "lr": "0.1", "batch": "64", "optimizer": "sgd", "accuracy": 0.91,
     "cost": Decimal("1.234567891"), "source": "billed", "status": "finished"},
    {"name": "resnet-b", "lr": "0.01", "batch": "128", "optimizer": "adam", "accuracy": 0.95,
     "cost": Decimal("2.5"), "source": "estimate", "status": "finished"},
    {"name": "resnet-c", "lr": "3e-4", "batch": "256", "optimizer": "adam", "accuracy": 0.5,
     "cost": Decimal("0.75"), "source": "estimate", "status": "failed"},
]


def seed_runs(store: Store, project: str = "vision") -> list[str]:
    """Write the three runs; returns their ids in order."""
    ids = []
    for i, spec in enumerate(RUNS):
        run_id = f"{i + 1:032x}"
        started = T0 + dt.timedelta(hours=i)
        ended = started + dt.timedelta(minutes=30)
        summary = {"cpu_cores_p50": 1.5 + i, "cpu_cores_p95": 2.0 + i, "gpu_util_p50": 40.0,
                   "gpu_util_p95": 80.0 + i, "gpus_used": [0], "energy_kwh": 0.25 * (i + 1),
                   "energy_gpu_kwh": 0.2 * (i + 1), "energy_cpu_kwh": 0.05 * (i + 1),
                   "energy_method": "measured"}
        row = {
            "id": run_id, "name": spec["name"], "project": project, "status": "running",
            "started_at": started, "heartbeat_at": started, "interval_s": 1.0,
            "flush_interval_s": 2.0, "command": ["python", "train.py"], "host": "gpu-box",
            "user": "ada", "hardware": {"gpu_model": "NVIDIA A10G", "gpu_count": 1,
                                        "cpu_count": 4, "memory_bytes": 16 * 2**30},
            "cloud_provider": "aws", "cloud_region": "us-east-1",
            "instance_type": "g5.xlarge", "lifecycle": "on-demand",
            "objective_name": "accuracy", "objective_mode": "max",
        }
        params = {k: (spec[k], "argv") for k in ("lr", "batch", "optimizer")}
        store.create_run(row, params=params, tags={"team": "vision", "seed": str(i)})
        ts0 = started.timestamp()
        samples = [{"ts": ts0 + s, "cpu_cores": 1.0 + s / 10, "cpu_seconds_total": 1.5 * s,
                    "rss_bytes": 2**30 + s, "threads": 8, "processes": 2,
                    "read_bytes_total": None, "write_bytes_total": 4096 * s,
                    "host_cpu_pct": 25.0, "host_iowait_pct": 0.5,
                    "host_mem_used_bytes": 2**33, "host_mem_available_bytes": 2**33}
                   for s in range(5)]
        gpu = [{"ts": ts0 + s, "gpu_index": 0, "mig_index": -1, "uuid": "GPU-1",
                "util_gpu_pct": 40.0 + s, "util_mem_pct": None, "mem_used_bytes": 2**32,
                "mem_total_bytes": 24 * 2**30, "power_w": 150.5, "power_limit_w": 300.0,
                "temperature_c": 50.0, "sm_clock_mhz": 1710.0, "energy_j": 1000.0 + 150 * s,
                "run_mem_used_bytes": 2**31, "run_sm_util_pct": None, "used_by_run": True,
                "attribution": "pid"} for s in range(5)]
        metrics = [{"seq": s + 1, "key": "accuracy", "value": spec["accuracy"] - 0.1 + s / 40,
                    "step": s, "ts": ts0 + s, "source": "log"} for s in range(5)]
        metrics.append({"seq": 6, "key": "loss", "value": 0.125, "step": None, "ts": ts0 + 5,
                        "source": "stdout"})
        store.write_batch(run_id, "gpu-box", samples=samples, gpu_samples=gpu, metrics=metrics,
                          run_update={"summary": summary},
                          host_update={"status": spec["status"], "ended_at": ended,
                                       "heartbeat_at": ended, "summary": summary,
                                       "exit_code": 0 if spec["status"] == "finished" else 1,
                                       "cpu_seconds": 100.0 * (i + 1),
                                       "peak_rss_bytes": 2**30 + 4,
                                       **{k: row[k] for k in ("hardware", "cloud_provider",
                                                              "cloud_region", "instance_type",
                                                              "lifecycle")}},
                          finished=True)
        with store.write() as conn:
            conn.execute(schema.costs.insert().values(
                kind="run", run_id=run_id, resource_id="i-0abc", source=spec["source"],
                basis="billed" if spec["source"] == "billed" else "list",
                period_start=started, period_end=ended, amount=spec["cost"], currency="USD",
                upper_bound=False, detail={"method": "seed", "share": 1.0},
                computed_at=ended))
            conn.execute(schema.recommendations.insert().values(
                run_id=run_id, project=project, rule="gpu_underused", severity="warn",
                title=f"GPU 0 at 40 % p50: try g5.xlarge -> g4dn.xlarge ({spec['name']})",
                evidence={"util_p50": 40.0}, current_instance="g5.xlarge",
                suggested_instance="g4dn.xlarge", saving_per_run=Decimal("0.3"),
                saving_per_month=Decimal("12"), currency="USD", status="open",
                created_at=ended, updated_at=ended))
        ids.append(run_id)
    return ids
