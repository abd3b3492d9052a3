"""The leaderboard's page query over run_rollups at 1k / 10k / 100k runs (SQLite) and 100k /
1M runs (PostgreSQL), the cold leaderboard page at 100k runs, and the weekly report at 100k.

Goals (issue 20): page query <= 150 ms at 100k runs on SQLite and <= 3x its 1k figure;
<= 300 ms at 1M runs on PostgreSQL; the page cold <= 1.5 s at 100k; the report <= 5 s at 100k.

- SQLite stores are seeded as ``benchmarks/dashboard_render.py`` seeds them (one project,
  3 params, ``--epochs`` epochs x 2 metrics, an estimate for every run, a bill for one in
  ten) and their rollups computed with the migration's backfill (its time is printed).
- PostgreSQL stores (the private server of ``tests/pg_server.py``) are seeded in SQL
  (``generate_series``: same shape, 3 epochs), backfilled the same way, then
  ``VACUUM ANALYZE``d (what autovacuum would have done to a store that grew over months).
- query: ``board.page`` as the page calls it first (rank order, billed basis, no filter), plus
  a filtered one (status + instance type + a date range, list basis, sorted by cost); the
  sizes are measured in turn, ``--repeats`` times, and medians reported.
- page cold: ``AppTest`` run of the leaderboard page, Streamlit's caches cleared.
- report: ``build_report`` of one ISO week over ``benchmarks/report.py``'s 100k-run store.

Run: ``python benchmarks/leaderboard_query.py [--sqlite 1000,10000,100000]
[--pg 100000,1000000] [--repeats 7] [--no-page] [--no-report]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from dashboard_render import PAGE, PROJECT, seed  # noqa: E402

from tests.pg_server import PostgresServer, pg_bin  # noqa: E402
from xprof import rollups  # noqa: E402
from xprof.dashboard import board  # noqa: E402
from xprof.store import Store  # noqa: E402

FILTERED = board.Filters(statuses=("finished",), instance_types=("g5.xlarge", "p3.2xlarge"),
                         start=dt.datetime(2025, 1, 6, tzinfo=dt.UTC),
                         end=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))

PG_SEED = """
INSERT INTO runs (id, name, project, status, exit_code, started_at, ended_at, heartbeat_at,
                  duration_s, interval_s, flush_interval_s, command, host, "user",
                  instance_type, cloud_provider, objective_name, objective_mode, summary)
SELECT md5(i::text), 'run-' || i, :project, 'finished', 0,
       timestamptz '2025-01-06' + i * interval '7 minutes',
       timestamptz '2025-01-06' + i * interval '7 minutes' + interval '1 hour',
       timestamptz '2025-01-06' + i * interval '7 minutes' + interval '1 hour',
       3600, 1, 2, '["python", "train.py"]', 'bench', 'ada',
       (ARRAY['g5.xlarge', 'g5.2xlarge', 'p3.2xlarge', 'c5.4xlarge'])[1 + i % 4], 'aws',
       'val_acc', 'max',
       json_build_object('cpu_cores_p50', 1 + (i % 7), 'gpu_util_p50', (i * 37) % 95)
FROM generate_series(1::bigint, :n) AS i;
INSERT INTO metrics (run_id, host, seq, key, value, step, ts, source)
SELECT md5(i::text), 'bench', e, 'val_acc', 0.6 + ((i * 7919 + e * 104729) % 3900) / 10000.0,
       e, extract(epoch FROM timestamptz '2025-01-06') + i * 420 + e * 600, 'log'
FROM generate_series(1::bigint, :n) AS i, generate_series(1, 3) AS e;
INSERT INTO costs (kind, run_id, source, basis, period_start, period_end, amount, currency,
                   upper_bound, detail, computed_at)
SELECT 'run', md5(i::text), 'estimate', 'list', timestamptz '2025-01-06',
       timestamptz '2025-01-06' + interval '1 hour', 500000000 + (i * 7907) % 3500000000,
       'USD', false, '{}', now()
FROM generate_series(1::bigint, :n) AS i;
INSERT INTO costs (kind, run_id, source, basis, period_start, period_end, amount, currency,
                   upper_bound, detail, computed_at)
SELECT 'run', md5(i::text), 'billed', 'billed', timestamptz '2025-01-06',
       timestamptz '2025-01-06' + interval '1 hour', 400000000 + (i * 6007) % 3000000000,
       'USD', false, '{}', now()
FROM generate_series(1::bigint, :n, 10) AS i;
"""


def _timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def sqlite_store(folder: Path, n: int, epochs: int) -> tuple[Store, float, float]:
    """A seeded SQLite store; (store, seed s, rollup backfill s)."""
    store = Store.open(f"sqlite:///{folder / f'runs-{n}.db'}")
    began = time.perf_counter()
    seed(store, n, epochs)  # includes the backfill; time it again on its own below
    seeded = time.perf_counter() - began
    backfill = _timed(lambda: rollups.refresh_runs(store))
    return store, seeded - backfill, backfill


def pg_store(server: PostgresServer, n: int) -> tuple[Store, float, float]:
    store = Store.open(server.create_database())
    with store.write() as conn:
        began = time.perf_counter()
        for statement in PG_SEED.split(";"):
            if statement.strip():
                conn.execute(sa.text(statement), {"n": n, "project": PROJECT})
        seeded = time.perf_counter() - began
    backfill = _timed(lambda: rollups.refresh_runs(store))
    with store.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    return store, seeded, backfill


def queries(store: Store) -> dict[str, float]:
    """One timing of the page's first query and of a filtered, cost-sorted one."""
    first = _timed(lambda: board.page(store, PROJECT, "val_acc", "max", "billed"))
    filtered = _timed(lambda: board.page(store, PROJECT, "val_acc", "max", "list", FILTERED,
                                         sort="cost"))
    return {"first": first, "filtered": filtered}


def page_cold(url: str, repeats: int) -> float:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["XPROF_STORE"] = url

    def render() -> None:
        at = AppTest.from_file(str(PAGE), default_timeout=300)
        at.query_params["project"] = PROJECT
        at.run()
        if at.exception or len(at.dataframe[0].value) != board.PAGE_ROWS:
            raise SystemExit(f"page failed: {at.exception}")

    def cold() -> None:
        st.cache_data.clear()
        render()

    render()  # imports out of the way
    return statistics.median(_timed(cold) for _ in range(repeats))


def report_100k(folder: Path, repeats: int) -> tuple[float, float]:
    import report as report_bench

    from xprof.dashboard.report import build_report
    from xprof.dashboard.report_period import iso_week

    store = Store.open(f"sqlite:///{folder / 'report.db'}")
    seeded = _timed(lambda: report_bench.seed(store, 100_000))
    period = iso_week("2026-W47")
    return seeded, statistics.median(_timed(lambda: build_report(store, period))
                                     for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite", default="1000,10000,100000")
    parser.add_argument("--pg", default="100000,1000000")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-page", action="store_true")
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args()
    sizes = [("SQLite", int(n)) for n in args.sqlite.split(",") if n]
    sizes += [("PostgreSQL", int(n)) for n in args.pg.split(",") if n]
    stores: dict[tuple[str, int], tuple[Store, float, float]] = {}
    server = None
    extra: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for engine, n in sizes:
                if engine == "SQLite":
                    stores[engine, n] = sqlite_store(Path(tmp), n, args.epochs)
                elif pg_bin() is not None:
                    if server is None:
                        server = PostgresServer()  # started
                    stores[engine, n] = pg_store(server, n)
                print(f"seeded {engine} {n}", file=sys.stderr, flush=True)
            times: dict[tuple[str, int], dict[str, list[float]]] = {
                key: {"first": [], "filtered": []} for key in stores}
            for _ in range(args.repeats):  # sizes in turn, so load drifts hit them alike
                for key, (store, _s, _b) in stores.items():
                    for name, value in queries(store).items():
                        times[key][name].append(value)
            if not args.no_page and ("SQLite", 100_000) in stores:
                cold = page_cold(stores["SQLite", 100_000][0].url, max(3, args.repeats // 2))
                extra.append(f"leaderboard page, cold (AppTest, caches cleared), SQLite "
                             f"100k runs: {cold * 1000:.0f} ms")
            if not args.no_report:
                seeded, build = report_100k(Path(tmp), max(3, args.repeats // 2))
                extra.append(f"weekly report (build_report), SQLite 100k runs over two weeks: "
                             f"{build * 1000:.0f} ms (seeded in {seeded:.0f} s)")
        finally:
            if server is not None:
                server.close()
    print(f"leaderboard page query (board.page), medians of {args.repeats}, python "
          f"{sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"{'engine':<11} {'runs':>8} {'first ms':>9} {'x 1k':>6} {'filtered ms':>12} "
          f"{'backfill s':>11}")
    base = {}
    for (engine, n), (_store, _seeded, backfill) in stores.items():
        first = statistics.median(times[engine, n]["first"]) * 1000
        filtered = statistics.median(times[engine, n]["filtered"]) * 1000
        base.setdefault(engine, first)
        print(f"{engine:<11} {n:>8} {first:9.1f} {first / base[engine]:6.2f} {filtered:12.1f} "
              f"{backfill:11.1f}")
    for line in extra:
        print(line)


if __name__ == "__main__":
    main()
