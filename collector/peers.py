"""Comparable runs: the runs of a project with the same params as a run, seeds aside.

Rightsizing uses them to calibrate its run-time predictions: a project that ran the same
configuration on two GPU models has measured how much faster one is (see
:func:`xprof.collector.rightsizing.predict.calibrated_ratio`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from xprof import schema
from xprof.collector.gpu_names import normalise_gpu
from xprof.collector.rightsizing.evidence import PeerRun
from xprof.store import Store

MAX_PEERS = 500
"""The project's most recent finished runs looked at."""


def _comparable(params: dict[str, str]) -> dict[str, str]:
    """Params that define the experiment: every key but seeds."""
    return {k: v for k, v in params.items() if "seed" not in k.lower()}


def _peer(row: Any) -> PeerRun:
    hardware = row.hardware or {}
    gpu = normalise_gpu(hardware.get("gpu_model"), hardware.get("gpu_memory_bytes"))
    return PeerRun(run_id=row.id, gpu_model=gpu.model if gpu is not None and gpu.known else None,
                   gpu_memory_gib=gpu.memory_gib if gpu is not None else None,
                   gpus_used=len(hardware.get("gpus_used") or []),
                   duration_s=float(row.duration_s))


def comparable_runs(store: Store, run: dict[str, Any]) -> tuple[PeerRun, ...]:
    """Finished runs of the run's project (itself included) whose params, seeds aside, equal
    its own, with their GPU model and the number of GPUs they used."""
    r, p = schema.runs, schema.run_params
    with store.read() as conn:
        rows = conn.execute(
            sa.select(r.c.id, r.c.hardware, r.c.duration_s)
            .where(r.c.project == run["project"], r.c.status == "finished",
                   r.c.duration_s.is_not(None))
            .order_by(r.c.started_at.desc()).limit(MAX_PEERS)).all()
        ids = [row.id for row in rows] + [run["id"]]
        params: dict[str, dict[str, str]] = {}
        for run_id, key, value in conn.execute(
                sa.select(p.c.run_id, p.c.key, p.c.value).where(p.c.run_id.in_(ids))):
            params.setdefault(run_id, {})[key] = value
    mine = _comparable(params.get(run["id"], {}))
    return tuple(_peer(row) for row in rows
                 if _comparable(params.get(row.id, {})) == mine)
