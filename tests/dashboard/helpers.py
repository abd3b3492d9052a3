"""A seeded store the dashboard tests read: two projects, repeated runs, estimates, a billed
run, an unpriced run, an unknown price, a crashed run, a run named with HTML, idle cost and
recommendations. Every figure the tests expect is worked out by hand in the test files."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from xprof import schema
from xprof.rollups import refresh_runs
from xprof.store import Store

DAY1 = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)  # a Monday
XSS = "<script>alert(1)</script>"

# name, params, objective values over epochs, cost rows [(source, basis, amount,
# currency)], instance type, started (hours after DAY1), duration s
DIGITS = [
    ("svc-s0", {"model": "svc", "C": "1", "seed": "0"}, [0.95, 0.97],
     [("estimate", "list", "0.10")], "m5.xlarge", 0, 600),
    ("svc-s1", {"model": "svc", "C": "1", "seed": "1"}, [0.96, 0.975],
     [("estimate", "list", "0.10")], "m5.xlarge", 1, 600),
    ("svc-s2", {"model": "svc", "C": "1", "seed": "2"}, [0.95, 0.972],
     [("estimate", "list", "0.10")], "m5.xlarge", 2, 600),
    ("rf-s0", {"model": "rf", "n_estimators": "100", "seed": "0"}, [0.90, 0.930],
     [("estimate", "list", "0.05")], "c5.large", 3, 300),
    ("rf-s1", {"model": "rf", "n_estimators": "100", "seed": "1"}, [0.91, 0.935],
     [("estimate", "list", "0.05")], "c5.large", 4, 300),
    ("rf-s2", {"model": "rf", "n_estimators": "100", "seed": "2"}, [0.90, 0.925],
     [("estimate", "list", "0.05")], "c5.large", 5, 300),
    ("mlp-gpu", {"model": "mlp", "hidden": "512"}, [0.90, 0.95, 0.97, 0.98, 0.985],
     [("estimate", "list", "1.00"), ("billed", "billed", "0.70"), ("billed", "billed", "0.50"),
      ("billed", "effective", "0.90")], "g5.xlarge", 24, 3600),
    (XSS, {"model": "knn", "k": "3"}, [0.96], [("estimate", "list", "0.04")], "t3.medium", 25,
     120),
    ("unpriced", {"model": "knn", "k": "5"}, [0.955], [], "t3.medium", 26, 120),
    ("unknown-price", {"model": "knn", "k": "7"}, [0.95], [("estimate", "list", None)],
     "x9.weird", 27, 120),
]
LM = [
    ("lm-small", {"size": "small"}, [2.5, 2.10], [("estimate", "list", "3.00")], "g5.xlarge", 48,
     1800),
    ("lm-large", {"size": "large"}, [2.2, 1.80], [("estimate", "list", "12.00")], "p4d.24xlarge",
     49, 3600),
    ("lm-eu", {"size": "medium"}, [2.3, 1.95], [("estimate", "list", "5.00", "EUR")],
     "n1-standard-8", 50, 2400),
]


def _run_row(run_id: str, name: str, project: str, started: dt.datetime, seconds: int,
             instance: str, objective: tuple[str, str] | None, **extra) -> dict:
    ended = started + dt.timedelta(seconds=seconds)
    row = {
        "id": run_id, "name": name, "project": project, "status": "finished", "exit_code": 0,
        "started_at": started, "ended_at": ended, "heartbeat_at": ended,
        "duration_s": float(seconds), "interval_s": 1.0, "flush_interval_s": 2.0,
        "command": ["python", "train.py", "--model", name], "cwd": "/home/ml/digits",
        "host": "trainer-1", "user": "ada", "os": "Linux", "python": "3.11.9",
        "git": {"repo": "git@example.com:ml/digits.git", "commit": "a1b2c3d", "branch": "main",
                "dirty": False},
        "environment": {"cuda_visible_devices": None, "packages": ["numpy==2.0"]},
        "hardware": {"cpu_model": "Xeon", "cpu_count": 8, "memory_bytes": 32 * 1024**3,
                     "gpus": []},
        "cloud_provider": "aws", "cloud_region": "us-east-1", "instance_id": f"i-{run_id[:10]}",
        "instance_type": instance, "lifecycle": "on-demand",
        "objective_name": objective[0] if objective else None,
        "objective_mode": objective[1] if objective else None,
        "summary": {"cpu_cores_p50": 1.5, "cpu_cores_p95": 1.9, "cpu_cores_max": 2.0,
                    "rss_peak_bytes": 2 * 1024**3},
        "agent_version": "0.1.0",
    }
    row.update(extra)
    return row


def _add_run(store: Store, spec: tuple, project: str, objective: tuple[str, str],
             now: dt.datetime) -> str:
    name, params, values, costs, instance, hours, seconds = spec
    run_id = uuid.uuid4().hex
    started = DAY1 + dt.timedelta(hours=hours)
    store.create_run(_run_row(run_id, name, project, started, seconds, instance, objective),
                     params={k: (v, "flag") for k, v in params.items()},
                     tags={"team": "vision" if project == "digits" else "nlp",
                           **({"sweep": "seeds"} if "seed" in params else {})})
    key = objective[0]
    t0 = started.timestamp()
    metrics = []
    for step, value in enumerate(values):
        ts = t0 + (step + 1) * seconds / (len(values) + 1)
        metrics.append({"seq": 2 * step, "key": key, "value": value, "step": step, "ts": ts,
                        "source": "log"})
        metrics.append({"seq": 2 * step + 1, "key": "train_loss", "value": 1.0 / (step + 2),
                        "step": step, "ts": ts, "source": "log"})
    store.write_batch(run_id, "trainer-1", metrics=metrics)
    with store.write() as conn:
        for cost in costs:
            source, basis, amount = cost[:3]
            currency = cost[3] if len(cost) > 3 else "USD"
            conn.execute(schema.costs.insert().values(
                kind="run", run_id=run_id, resource_id=f"i-{run_id[:10]}", source=source,
                basis=basis, period_start=started,
                period_end=started + dt.timedelta(seconds=seconds),
                amount=None if amount is None else Decimal(amount), currency=currency,
                upper_bound=False,
                detail={"reason": "no price for x9.weird"} if amount is None else
                {"share": 1.0, "method": "catalog" if source == "estimate" else "time"},
                computed_at=now))
    return run_id


def seed(store: Store) -> dict[str, str]:
    """Fill ``store`` with the runs above; returns run ids by name."""
    now = dt.datetime.now(dt.UTC)
    ids = {}
    for spec in DIGITS:
        ids[spec[0]] = _add_run(store, spec, "digits", ("val_acc", "max"), now)
    for spec in LM:
        ids[spec[0]] = _add_run(store, spec, "lm", ("val_loss", "min"), now)

    crashed = uuid.uuid4().hex
    started = now - dt.timedelta(hours=1)
    store.create_run(_run_row(crashed, "crashed-run", "digits", started, 60, "m5.xlarge",
                              ("val_acc", "max"), status="running", ended_at=None,
                              heartbeat_at=started + dt.timedelta(seconds=30), exit_code=None,
                              duration_s=None),
                     params={"model": ("svc", "flag"), "C": ("10", "flag")})
    ids["crashed-run"] = crashed

    mlp = ids["mlp-gpu"]
    t0 = (DAY1 + dt.timedelta(hours=24)).timestamp()
    samples = [{"ts": t0 + i * 60, "cpu_cores": 3.0 + (i % 3) * 0.5,
                "rss_bytes": int((1 + i / 60) * 1024**3), "threads": 12, "processes": 3}
               for i in range(60)]
    gpus = [{"ts": t0 + i * 60, "gpu_index": g, "mig_index": -1, "uuid": f"GPU-{g}",
             "util_gpu_pct": 80.0 if g == 0 else 0.0, "mem_used_bytes": 6 * 1024**3 * (g == 0),
             "mem_total_bytes": 24 * 1024**3, "used_by_run": g == 0}
            for i in range(60) for g in (0, 1)]
    store.write_batch(mlp, "trainer-1", samples=samples, gpu_samples=gpus,
                      run_update={"summary": {"cpu_cores_p50": 3.5, "gpu_util_p50": 40.0,
                                              "gpu_util_p95": 80.0,
                                              "rss_peak_bytes": 2 * 1024**3}})
    with store.write() as conn:
        conn.execute(schema.costs.insert().values(
            kind="idle", run_id=None, resource_id="i-idle0001", source="billed", basis="billed",
            period_start=DAY1 + dt.timedelta(hours=30), period_end=DAY1 + dt.timedelta(hours=31),
            amount=Decimal("0.80"), currency="USD", upper_bound=False, detail={}, computed_at=now))
        for run, rule, per_run, per_month, status in (
                ("mlp-gpu", "gpu_underused", "0.60", "18.00", "open"),
                ("svc-s0", "spot_candidate", "0.03", "2.70", "open"),
                ("lm-large", "idle_gpus", "5.00", "150.00", "open"),
                ("lm-small", "memory_overprovisioned", "0.50", "5.00", "dismissed")):
            conn.execute(schema.recommendations.insert().values(
                run_id=ids[run], project=None, rule=rule, severity="warn",
                title=f"{rule.replace('_', ' ')} on {run}",
                evidence={"gpu_util_p95": 40.0, "threshold": 70.0},
                current_instance="g5.xlarge", suggested_instance="g4dn.xlarge",
                saving_per_run=Decimal(per_run), saving_per_month=Decimal(per_month),
                currency="USD", status=status, created_at=now, updated_at=now))
    refresh_runs(store)  # the rows above bypass the writers; recompute as `xprof collect` does
    return ids


class Seeded(NamedTuple):
    url: str
    ids: dict[str, str]


DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"


def plain(markdown: str) -> str:
    """Markdown source as the browser shows it (backslash escapes removed)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def frame_with(at, *columns: str):
    """The first dataframe on the page that has all ``columns``."""
    for element in at.dataframe:
        if set(columns) <= set(element.value.columns):
            return element.value
    raise AssertionError(f"no dataframe with columns {columns}")
