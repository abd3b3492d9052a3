"""Weekly report time over 10k runs (budget: <= 5 s), as medians of repeats.

Seeds a SQLite store with N runs over two ISO weeks (N/2 in the reported week), 8 projects,
3 users, 6 instance types (half with GPUs: 4 or 8, sweeps sharing machines), USD and EUR,
an estimate for every run, billed cost for one in five, an unknown price for one in fifty,
failed and killed runs, 10 epochs of the objective, idle cost rows and recommendations.
Then measures:

- build: ``build_report`` (every query and the ranking: the numbers);
- html / md / json: build + render in that format;
- cli: ``xprof report`` in a fresh process, start to exit (imports included), writing HTML.

Run: ``python benchmarks/report.py [--runs 10000] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from xprof import rollups, schema
from xprof.store import Store

WEEK = dt.datetime(2026, 11, 16, tzinfo=dt.UTC)  # Monday of 2026-W47; W46 before it
TYPES = [("g5.12xlarge", 4, Decimal("5.672")), ("p4d.24xlarge", 8, Decimal("32.7726")),
         ("g5.xlarge", 1, Decimal("1.006")), ("c5.4xlarge", 0, Decimal("0.68")),
         ("m5.2xlarge", 0, Decimal("0.384")), ("t3.large", 0, Decimal("0.0832"))]


def seed(store: Store, n: int) -> None:
    """N runs written in bulk (see the module doc)."""
    rng = random.Random(n)
    runs, hosts, metrics, costs, recs = [], [], [], [], []
    start = WEEK - dt.timedelta(days=7)
    now = dt.datetime.now(dt.UTC)
    for i in range(n):
        run_id = uuid.UUID(int=rng.getrandbits(128)).hex
        began = start + dt.timedelta(seconds=rng.uniform(0, 14 * 86400 - 7200))
        seconds = rng.uniform(300, 7200)
        ended = began + dt.timedelta(seconds=seconds)
        instance, gpus, rate = rng.choice(TYPES)
        machine = f"i-{instance}-{rng.randrange(40):02d}"
        used = sorted(rng.sample(range(gpus), rng.randint(0, gpus))) if gpus else None
        hardware = {"cpu_count": 16, "gpu_count": gpus, "gpus_used": used} if gpus else {
            "cpu_count": 16}
        project = f"project-{i % 8}"
        status = rng.choices(["finished", "failed", "killed"], [90, 7, 3])[0]
        currency = "EUR" if project == "project-7" else "USD"
        runs.append({
            "id": run_id, "name": f"run-{i:06d}", "project": project, "status": status,
            "exit_code": 0 if status == "finished" else 1, "started_at": began,
            "ended_at": ended, "heartbeat_at": ended, "duration_s": seconds, "interval_s": 1.0,
            "flush_interval_s": 2.0, "command": ["python", "train.py"], "host": "bench",
            "user": rng.choice(["ada", "alan", "grace"]), "instance_type": instance,
            "cloud_provider": "aws", "instance_id": machine, "hardware": hardware,
            "objective_name": "val_acc", "objective_mode": "max"})
        hosts.append({"run_id": run_id, "host": "bench", "status": status, "started_at": began,
                      "ended_at": ended, "heartbeat_at": ended, "hardware": hardware,
                      "instance_id": machine})
        value = rng.uniform(0.5, 0.99)
        metrics += [{"run_id": run_id, "host": "bench", "seq": e, "key": "val_acc",
                     "value": value * (e + 1) / 10, "step": e,
                     "ts": began.timestamp() + e, "source": "log"} for e in range(10)]
        share = Decimal(len(used)) / gpus if gpus and used else Decimal(1)
        amount = None if i % 50 == 0 else (rate * Decimal(seconds) / 3600 * share).quantize(
            Decimal("1e-6"))
        base = {"kind": "run", "run_id": run_id, "resource_id": machine, "period_start": began,
                "period_end": ended, "currency": currency, "upper_bound": False,
                "detail": {"reason": "no price"} if amount is None else {},
                "computed_at": now}
        costs.append({**base, "source": "estimate", "basis": "list", "amount": amount})
        if i % 5 == 0 and amount is not None:
            costs.append({**base, "source": "billed", "basis": "billed",
                          "amount": amount * Decimal("0.93")})
        if i % 20 == 0:
            recs.append({"run_id": run_id, "rule": "gpu_underused", "severity": "warn",
                         "title": "GPU underused", "evidence": {}, "currency": currency,
                         "saving_per_run": Decimal("0.5"), "saving_per_month": Decimal("15"),
                         "status": "open", "created_at": now, "updated_at": now})
    for day in range(14):
        for m in range(20):
            began = start + dt.timedelta(days=day, hours=m)
            costs.append({"kind": "idle", "run_id": None, "resource_id": f"i-idle-{m}",
                          "source": "billed", "basis": "billed", "period_start": began,
                          "period_end": began + dt.timedelta(hours=1),
                          "amount": Decimal("0.75"), "currency": "USD", "upper_bound": False,
                          "detail": {}, "computed_at": now})
    with store.write() as conn:
        conn.execute(schema.runs.insert(), runs)
        conn.execute(schema.run_hosts.insert(), hosts)
        conn.execute(schema.metrics.insert(), metrics)
        conn.execute(schema.costs.insert(), costs)
        conn.execute(schema.recommendations.insert(), recs)
        rollups.refresh(conn)


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from xprof.dashboard.report import build_report
    from xprof.dashboard.report_period import iso_week
    from xprof.dashboard.report_render import render

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'xprof.db'}"
        store = Store.open(url)
        began = time.perf_counter()
        seed(store, args.runs)
        print(f"seeded {args.runs} runs in {time.perf_counter() - began:.1f} s", file=sys.stderr)
        period = iso_week("2026-W47")
        rows = [("build", median_time(lambda: build_report(store, period), args.repeats))]
        for fmt in ("html", "md", "json"):
            rows.append((fmt, median_time(
                lambda fmt=fmt: render(build_report(store, period), fmt), args.repeats)))
        out = Path(folder) / "r.html"
        command = [sys.executable, "-m", "xprof.cli", "report", "--week", "2026-W47",
                   "--store", url, "--out", str(out)]
        rows.append(("cli", median_time(lambda: subprocess.run(command, check=True,
                                                               capture_output=True),
                                        args.repeats)))
        size = out.stat().st_size
    print(f"| what | runs | median s (of {args.repeats}) | budget |")
    print("| --- | ---: | ---: | --- |")
    for what, seconds in rows:
        print(f"| {what} | {args.runs} | {seconds:.2f} | ≤ 5 s |")
    print(f"\nHTML report: {size / 1024:.0f} KiB", file=sys.stderr)


if __name__ == "__main__":
    main()
