"""A store seeded for the report tests: two ISO weeks (2026-W46, the previous one, and
2026-W47), USD and EUR, estimates and billed cost, idle cost, GPU machines shared by a sweep,
failed and killed runs, a run named with HTML, unpriced and unknown-cost runs, a multi-host run
and recommendations. Tests compute what they expect from these rows themselves."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from xprof import schema
from xprof.rollups import refresh_runs
from xprof.store import Store

UTC = dt.UTC
W46 = dt.datetime(2026, 11, 9, tzinfo=UTC)  # Monday of 2026-W46
W47 = dt.datetime(2026, 11, 16, tzinfo=UTC)  # Monday of 2026-W47
W48 = dt.datetime(2026, 11, 23, tzinfo=UTC)
XSS = "<script>alert(1)</script>"


def at(day: dt.datetime, hours: float) -> dt.datetime:
    return day + dt.timedelta(hours=hours)


def hardware(gpus: int, used: list[int] | None) -> dict[str, Any]:
    hw: dict[str, Any] = {"cpu_model": "Xeon", "cpu_count": 48, "memory_bytes": 192 * 1024**3}
    if gpus:
        hw.update({"gpu_count": gpus, "gpu_model": "NVIDIA A10G",
                   "gpus": [{"index": i, "name": "NVIDIA A10G"} for i in range(gpus)]})
        if used is not None:
            hw["gpus_used"] = used
    return hw


# name, project, user, status, instance type, provider, instance id, start, hours, GPUs on the
# machine, GPUs used (None: not recorded), objective value, cost rows
# [(source, basis, amount or None, currency, period start offset hours)]
RUNS: list[tuple] = [
    # -- 2026-W46 (the previous week)
    ("base-a", "vision", "ada", "finished", "g5.xlarge", "aws", "i-basea", at(W46, 34), 2.0,
     1, [0], 0.90, [("estimate", "list", "2.012", "USD", 0)]),
    ("base-b", "nlp", "bob", "finished", "n1-standard-8", "gcp", "gce-1", at(W46, 58), 1.0,
     0, None, 2.40, [("estimate", "list", "0.38", "EUR", 0)]),
    # -- 2026-W47
    ("sweep-a", "vision", "ada", "finished", "g5.12xlarge", "aws", "i-m1", at(W47, 34), 2.0,
     4, [0, 1], 0.93, [("estimate", "list", "5.672", "USD", 0)]),
    ("sweep-b", "vision", "ada", "finished", "g5.12xlarge", "aws", "i-m1", at(W47, 35), 2.0,
     4, [2, 3], 0.95, [("estimate", "list", "5.672", "USD", 0)]),
    ("lonely", "vision", "cy", "finished", "p3.8xlarge", "aws", "i-m2", at(W47, 48), 2.0,
     4, [0], 0.96, [("estimate", "list", "6.12", "USD", 0)]),
    ("cpu-on-gpu", "nlp", "bob", "finished", None, "none", None, at(W47, 60), 1.0,
     2, [], 2.20, [("estimate", "list", "2.00", "EUR", 0)]),
    ("no-gpu-record", "nlp", "bob", "finished", None, "none", None, at(W47, 62), 1.0,
     2, None, None, []),
    ("failed-run", "vision", "ada", "failed", "c5.xlarge", "aws", "i-f1", at(W47, 72), 0.5,
     0, None, None, [("estimate", "list", "0.085", "USD", 0)]),
    ("killed-run", "nlp", "bob", "killed", "n1-standard-8", "gcp", "gce-2", at(W47, 80), 2.5,
     0, None, None, [("estimate", "list", "1.25", "EUR", 0)]),
    (XSS, "vision", "ada", "finished", "t3.medium", "aws", "i-x1", at(W47, 90), 1.0,
     0, None, 0.91, [("estimate", "list", "0.0416", "USD", 0)]),
    ("unpriced-run", "vision", "cy", "finished", "t3.medium", "aws", "i-u1", at(W47, 96), 1.0,
     0, None, 0.94, []),
    ("unknown-run", "vision", "cy", "finished", "x9.huge", "aws", "i-k1", at(W47, 100), 1.0,
     0, None, 0.97, [("estimate", "list", None, "USD", 0)]),
    ("billed-run", "nlp", "bob", "finished", "n1-standard-8", "gcp", "gce-3", at(W47, 110), 2.0,
     0, None, 2.05, [("estimate", "list", "4.00", "EUR", 0), ("billed", "billed", "3.10", "EUR", 0),
                     ("billed", "billed", "0.55", "EUR", 1),
                     ("billed", "effective", "3.00", "EUR", 0)]),
    # starts Monday 02:00 UTC: still Sunday of W46 in New York
    ("early-monday", "vision", "ada", "finished", "c5.xlarge", "aws", "i-e1", at(W47, 2), 1.0,
     0, None, 0.92, [("estimate", "list", "0.17", "USD", 0)]),
]
# (resource, currency, amount, period start): idle cost, billed
IDLE = [("i-old", "USD", "1.50", at(W46, 20)), ("i-m1", "USD", "2.40", at(W47, 40)),
        ("gce-9", "EUR", "0.70", at(W47, 50))]
# (run, rule, saving per month, currency, status)
RECS = [("sweep-a", "gpu_underused", "30.00", "USD", "open"),
        ("lonely", "idle_gpus", "12.50", "USD", "open"),
        ("billed-run", "spot_candidate", "8.00", "EUR", "open"),
        ("base-a", "spot_candidate", "99.00", "USD", "dismissed")]
MULTI = ("multi-node", "vision", "ada", at(W47, 120), 1.0, "65.536")  # 2 hosts × 8 GPUs


def _row(run_id: str, name: str, project: str, user: str, status: str, instance: str | None,
         provider: str, instance_id: str | None, started: dt.datetime, hours: float,
         hw: dict, objective: tuple[str, str]) -> dict[str, Any]:
    ended = started + dt.timedelta(hours=hours)
    return {
        "id": run_id, "name": name, "project": project, "status": status,
        "exit_code": {"finished": 0, "failed": 1}.get(status),
        "signal": 9 if status == "killed" else None,
        "started_at": started, "ended_at": ended, "heartbeat_at": ended,
        "duration_s": hours * 3600, "interval_s": 1.0, "flush_interval_s": 2.0,
        "command": ["python", "train.py"], "host": f"host-{instance_id or name}", "user": user,
        "hardware": hw, "cloud_provider": provider, "instance_id": instance_id,
        "instance_type": instance, "objective_name": objective[0],
        "objective_mode": objective[1],
    }


def _cost(conn, run_id: str | None, started: dt.datetime, hours: float, source: str,
          basis: str, amount: str | None, currency: str, offset: float, kind: str = "run",
          resource: str | None = None) -> None:
    start = started + dt.timedelta(hours=offset)
    conn.execute(schema.costs.insert().values(
        kind=kind, run_id=run_id, resource_id=resource, source=source, basis=basis,
        period_start=start, period_end=start + dt.timedelta(hours=max(hours - offset, 1)),
        amount=None if amount is None else Decimal(amount), currency=currency,
        upper_bound=False, detail={"reason": "no price for x9.huge"} if amount is None else {},
        computed_at=W48))


def seed(store: Store) -> dict[str, str]:
    """Fill ``store``; returns run ids by name."""
    ids: dict[str, str] = {}
    for (name, project, user, status, instance, provider, instance_id, started, hours, gpus,
         used, value, costs) in RUNS:
        run_id = uuid.uuid4().hex
        ids[name] = run_id
        objective = ("val_acc", "max") if project == "vision" else ("val_loss", "min")
        store.create_run(_row(run_id, name, project, user, status, instance, provider,
                              instance_id, started, hours, hardware(gpus, used), objective))
        if value is not None:
            store.write_batch(run_id, f"host-{instance_id or name}", metrics=[
                {"seq": 1, "key": objective[0], "value": value + 0.5, "step": 0,
                 "ts": started.timestamp() + 60, "source": "log"},
                {"seq": 2, "key": objective[0], "value": value, "step": 1,
                 "ts": started.timestamp() + 120, "source": "log"}])
        with store.write() as conn:
            for source, basis, amount, currency, offset in costs:
                _cost(conn, run_id, started, hours, source, basis, amount, currency, offset,
                      resource=instance_id)
    name, project, user, started, hours, amount = MULTI
    run_id = ids[name] = uuid.uuid4().hex
    row = _row(run_id, name, project, user, "running", "p4d.24xlarge", "aws", None, started,
               hours, {}, ("val_acc", "max"))
    ended = started + dt.timedelta(hours=hours)
    row.update(ended_at=None, duration_s=None, exit_code=None)
    for host, instance_id in (("node-1", "i-n1"), ("node-2", "i-n2")):
        store.create_run(row, host={"host": host, "status": "running", "started_at": started,
                                    "heartbeat_at": started, "instance_id": instance_id,
                                    "hardware": hardware(8, list(range(8)))})
    for host in ("node-1", "node-2"):
        store.write_batch(run_id, host, host_update={"status": "finished", "exit_code": 0,
                                                     "ended_at": ended, "heartbeat_at": ended},
                          finished=True)
    with store.write() as conn:
        _cost(conn, run_id, started, hours, "estimate", "list", amount, "USD", 0)
        for resource, currency, idle_amount, start in IDLE:
            _cost(conn, None, start, 1, "billed", "billed", idle_amount, currency, 0,
                  kind="idle", resource=resource)
        for run, rule, month, currency, status in RECS:
            conn.execute(schema.recommendations.insert().values(
                run_id=ids[run], project=None, rule=rule, severity="warn",
                title=f"{rule.replace('_', ' ')} on {run}", evidence={"p95": 40.0},
                current_instance="g5.12xlarge", suggested_instance="g5.xlarge",
                saving_per_run=Decimal("1.00"), saving_per_month=Decimal(month),
                currency=currency, status=status, created_at=W48, updated_at=W48))
    refresh_runs(store)  # the rows above bypass the writers; recompute as `xprof collect` does
    return ids
