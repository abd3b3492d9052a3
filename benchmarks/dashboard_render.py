"""Leaderboard render time at 1k and 10k runs (budget: 10k runs <= 2 s), and the leaderboard
query alone (budget: 100k runs <= 300 ms).

Seeds a SQLite store per size with one project of N runs (3 params, 10 epochs x 2 metrics,
an estimate for every run, a billed cost for one in ten), then measures, as medians:

- query: ``queries.leaderboard`` (SQL: per-run cost and the objective's last value);
- frame: query + ``rank_runs`` + ``pareto_frontier`` (everything the page computes);
- page cold: ``AppTest`` run of the leaderboard page with Streamlit's caches cleared;
- page warm: the same with the query cache warm (a user changing a filter).

Run: ``python benchmarks/dashboard_render.py [--sizes 1000,10000] [--query-sizes 100000]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from xprof import rollups, schema
from xprof.store import Store

PAGE = Path(__file__).resolve().parents[1] / "dashboard" / "views" / "leaderboard.py"
PAGE_ROWS = 500  # the page's table (xprof.dashboard.board.PAGE_ROWS)
PROJECT = "sweep"


def seed(store: Store, n: int, epochs: int = 10) -> None:
    """N finished runs of one project, written in bulk, with their rollups."""
    rng = random.Random(n)
    start = dt.datetime(2025, 1, 6, tzinfo=dt.UTC)
    runs, params, metrics, costs = [], [], [], []
    for i in range(n):
        run_id = uuid.UUID(int=rng.getrandbits(128)).hex
        began = start + dt.timedelta(minutes=7 * i)
        seconds = rng.uniform(300, 7200)
        ended = began + dt.timedelta(seconds=seconds)
        instance = rng.choice(["g5.xlarge", "g5.2xlarge", "p3.2xlarge", "c5.4xlarge"])
        runs.append({
            "id": run_id, "name": f"run-{i:06d}", "project": PROJECT, "status": "finished",
            "exit_code": 0, "started_at": began, "ended_at": ended, "heartbeat_at": ended,
            "duration_s": seconds, "interval_s": 1.0, "flush_interval_s": 2.0,
            "command": ["python", "train.py", "--lr", "3e-4"], "host": "bench",
            "user": rng.choice(["ada", "alan", "grace"]), "instance_type": instance,
            "cloud_provider": "aws", "cloud_region": "us-east-1", "instance_id": f"i-{i:08x}",
            "objective_name": "val_acc", "objective_mode": "max",
            "summary": {"cpu_cores_p50": rng.uniform(1, 8), "gpu_util_p50": rng.uniform(5, 95),
                        "rss_peak_bytes": rng.randint(2, 30) * 1024**3},
        })
        lr = rng.choice(["1e-4", "3e-4", "1e-3"])
        params += [{"run_id": run_id, "key": "lr", "value": lr, "source": "argv"},
                   {"run_id": run_id, "key": "batch_size", "value": rng.choice(["64", "128"]),
                    "source": "argv"},
                   {"run_id": run_id, "key": "seed", "value": str(i % 5), "source": "argv"}]
        acc = rng.uniform(0.6, 0.8)
        for epoch in range(epochs):
            acc = min(0.999, acc + rng.uniform(0, 0.02))
            ts = began.timestamp() + (epoch + 1) * seconds / 11
            metrics += [{"run_id": run_id, "host": "bench", "seq": 2 * epoch, "key": "val_acc",
                         "value": acc, "step": epoch, "ts": ts, "source": "log"},
                        {"run_id": run_id, "host": "bench", "seq": 2 * epoch + 1, "key": "loss",
                         "value": 1 - acc, "step": epoch, "ts": ts, "source": "log"}]
        price = Decimal(str(round(seconds / 3600 * rng.uniform(0.5, 4.0), 6)))
        base = {"kind": "run", "run_id": run_id, "period_start": began, "period_end": ended,
                "currency": "USD", "upper_bound": False, "computed_at": ended}
        costs.append({**base, "source": "estimate", "basis": "list", "amount": price,
                      "detail": {"share": 1.0}})
        if i % 10 == 0:
            costs.append({**base, "source": "billed", "basis": "billed",
                          "amount": price * Decimal("0.97"), "detail": {"share": 1.0}})
    with store.write() as conn:
        conn.execute(schema.runs.insert(), runs)
        conn.execute(schema.run_params.insert(), params)
        conn.execute(schema.metrics.insert(), metrics)
        conn.execute(schema.costs.insert(), costs)
        rollups.refresh(conn)


def median_s(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(n: int, folder: Path, page: bool, repeats: int) -> dict[str, float]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from xprof.dashboard import queries, ranking

    url = f"sqlite:///{folder / f'runs-{n}.db'}"
    store = Store.open(url)
    t0 = time.perf_counter()
    seed(store, n)
    seeded_s = time.perf_counter() - t0

    def frame() -> None:
        runs = queries.leaderboard(store, PROJECT, "val_acc")
        ranked = ranking.rank_runs(runs, "max")
        ranking.pareto_frontier(ranked, "max")

    row = {"runs": n, "seed_s": seeded_s,
           "query_s": median_s(lambda: queries.leaderboard(store, PROJECT, "val_acc"), repeats),
           "frame_s": median_s(frame, repeats)}
    if page:
        os.environ["XPROF_STORE"] = url

        def render() -> None:
            at = AppTest.from_file(str(PAGE), default_timeout=120)
            at.query_params["project"] = PROJECT
            at.run()
            if at.exception or len(at.dataframe[0].value) != min(n, PAGE_ROWS):
                raise SystemExit(f"page failed at {n} runs: {at.exception}")

        def cold() -> None:
            st.cache_data.clear()
            render()

        render()  # imports and first-run costs out of the way
        row["page_cold_s"] = median_s(cold, repeats)
        row["page_warm_s"] = median_s(render, repeats)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="run counts to render the page at")
    parser.add_argument("--query-sizes", default="100000",
                        help="run counts to time the query only at ('' for none)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(s) for s in args.sizes.split(",") if s]:
            rows.append(measure(n, Path(tmp), page=True, repeats=args.repeats))
        for n in [int(s) for s in args.query_sizes.split(",") if s]:
            rows.append(measure(n, Path(tmp), page=False, repeats=args.repeats))
    print(f"leaderboard, SQLite, medians of {args.repeats} (python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs)")
    print(f"{'runs':>8} {'query ms':>9} {'query+rank+frontier ms':>23} {'page cold ms':>13} "
          f"{'page warm ms':>13}")
    for row in rows:
        cold = f"{row['page_cold_s'] * 1000:13.0f}" if "page_cold_s" in row else f"{'-':>13}"
        warm = f"{row['page_warm_s'] * 1000:13.0f}" if "page_warm_s" in row else f"{'-':>13}"
        print(f"{row['runs']:>8} {row['query_s'] * 1000:9.0f} {row['frame_s'] * 1000:23.0f} "
              f"{cold} {warm}")


if __name__ == "__main__":
    main()
