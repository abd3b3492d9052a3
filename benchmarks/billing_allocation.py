"""Billing allocation at scale: 10 M hourly line items × 100 k runs (budget: ≤ 60 s, ≤ 4 GB).

Generates (untimed, cached in ``--dir``) a CUR 2.0-shaped Parquet export of ``--items``
hourly instance line items over 30 days (about 14 k instances with 8 GPUs each, a few partial
hours) and a Parquet file of ``--runs`` runs on those instances (random starts, 10 minutes to
a day, 1 to 8 GPUs). Then times, in one process:

1. **read**: the CUR normaliser reads and checks every row of the Parquet files (the same
   code and rules as ``xprof collect``), into DuckDB;
2. **allocate**: the allocation query (:func:`xprof.collector.allocate.run_allocation`) over
   all items and runs: matching, capacity, the interval rule (sub-intervals at every run's
   start and end, GPU shares), idle, largest-remainder rounding;
3. **write**: the cost rows (per run, resource, day and basis, and idle per resource and day)
   written into a fresh SQLite store.

It checks conservation (Σ shares + idle = bill per resource, day and basis) on the result and
prints one table: seconds per step (median of ``--repeats``), rows, and peak RSS of the
process (``ru_maxrss``, which includes DuckDB's memory).

    python benchmarks/billing_allocation.py [--items 10000000] [--runs 100000] [--repeats 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from xprof import schema
from xprof.collector.allocate import allocation_totals, run_allocation, write_costs
from xprof.collector.billing.aws_cur import SPEC, cur_column_name
from xprof.collector.billing.normalise import Normaliser, connect
from xprof.store import Store

HOURS = 720  # 30 days of September 2024
START = dt.datetime(2024, 9, 1, tzinfo=dt.UTC)
START_US = int(START.timestamp()) * 1_000_000


def generate(folder: Path, items: int, runs: int) -> tuple[list[Path], Path]:
    """The export's Parquet files and the runs file (made once per size)."""
    export = folder / f"cur-{items}" / "data" / "BILLING_PERIOD=2024-09"
    runs_path = folder / f"runs-{items}-{runs}.parquet"
    files = sorted(export.glob("*.parquet"))
    if files and runs_path.exists():
        return files, runs_path
    export.mkdir(parents=True, exist_ok=True)
    con = connect()
    instances = max(1, items // HOURS)
    print(f"generating {instances * HOURS:,} line items and {runs:,} runs in {folder} ...")
    for part in range(4):
        lo, hi = part * instances // 4, (part + 1) * instances // 4
        con.execute(f"""
        COPY (
            SELECT
                md5(r::VARCHAR || '-' || h::VARCHAR) AS identity_line_item_id,
                TIMESTAMP '2024-09-01' AS bill_billing_period_start_date,
                CASE WHEN r % 97 = 0 AND h % 24 = 23 THEN 'SavingsPlanCoveredUsage'
                     ELSE 'Usage' END AS line_item_line_item_type,
                TIMESTAMP '2024-09-01' + to_hours(h) AS line_item_usage_start_date,
                TIMESTAMP '2024-09-01' + to_hours(h + 1) AS line_item_usage_end_date,
                'i-0' || lpad(printf('%x', r), 16, '0') AS line_item_resource_id,
                '123456789012' AS line_item_usage_account_id,
                'AmazonEC2' AS line_item_product_code,
                'USE1-BoxUsage:p4d.24xlarge' AS line_item_usage_type,
                'RunInstances' AS line_item_operation,
                CASE WHEN h % 50 = 7 THEN 0.5 ELSE 1.0 END AS line_item_usage_amount,
                'USD' AS line_item_currency_code,
                round((20 + (r % 13)) * CASE WHEN h % 50 = 7 THEN 0.5 ELSE 1.0 END
                      + (r % 1000) / 1e6, 6)::DOUBLE AS line_item_unblended_cost,
                round((20 + (r % 13)) * CASE WHEN h % 50 = 7 THEN 0.5 ELSE 1.0 END, 6)::DOUBLE
                    AS pricing_public_on_demand_cost,
                CASE WHEN r % 97 = 0 AND h % 24 = 23 THEN 12.5 END::DOUBLE
                    AS savings_plan_savings_plan_effective_cost,
                'Hrs' AS pricing_unit, 'OnDemand' AS pricing_term,
                'p4d.24xlarge' AS product_instance_type, 'us-east-1' AS product_region_code
            FROM range({lo}, {hi}) AS i(r), range({HOURS}) AS j(h)
        ) TO '{export}/part-{part:05d}.snappy.parquet' (FORMAT parquet, COMPRESSION snappy)
        """)
    con.execute(f"""
    COPY (
        SELECT md5('run' || n::VARCHAR) AS run_id,
               'i-0' || lpad(printf('%x', (hash(n) % {instances})::BIGINT), 16, '0') AS key,
               {START_US} + (hash(n * 7) % ({HOURS} * 3600))::BIGINT * 1000000 AS start_us,
               600000000 + (hash(n * 13) % 86400)::BIGINT * 1000000 AS dur_us,
               (1 + hash(n * 31) % 8)::DOUBLE / 8 AS share,
               true AS ended
        FROM range({runs}) AS t(n)
    ) TO '{runs_path}' (FORMAT parquet)""")
    con.close()
    return sorted(export.glob("*.parquet")), runs_path


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _store_with_runs(con, work: Path) -> Store:
    """A fresh SQLite store holding the benchmark's runs (minimal rows, bulk-inserted)."""
    store = Store.open(f"sqlite:///{work / f'bench-{time.time_ns()}.db'}")
    ids = [r[0] for r in con.execute("SELECT DISTINCT run_id FROM bench_runs").fetchall()]
    now = dt.datetime.now(dt.UTC)
    rows = [{"id": rid, "name": rid[:12], "project": "bench", "status": "finished",
             "started_at": START, "heartbeat_at": START, "interval_s": 1.0,
             "flush_interval_s": 2.0, "command": ["python", "train.py"], "host": "bench"}
            for rid in ids]
    with store.write() as conn:
        for i in range(0, len(rows), 20_000):
            conn.execute(schema.runs.insert(), rows[i:i + 20_000])
    del now
    return store


def one_round(files: list[Path], runs_path: Path, work: Path, memory: str) -> dict:
    con = connect(memory_limit=memory, temp_directory=str(work / "duckdb-tmp"))
    t0 = time.perf_counter()
    normaliser = Normaliser(SPEC, con)
    for path in files:
        normaliser.add_file(path, rename=cur_column_name)
    con.execute(f"CREATE OR REPLACE TEMP VIEW bench_items AS SELECT 'aws-cur:bench' AS source, "
                f"* FROM {normaliser._table}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW bench_runs AS SELECT run_id, key, start_us, "
                f"start_us + dur_us AS end_us, share AS gpu_share, 1.0 AS weight, ended, "
                f"printf('%d/8 GPUs', (share * 8)::INTEGER) AS share_text "
                f"FROM read_parquet('{runs_path}')")
    t1 = time.perf_counter()
    table = run_allocation(con, "bench_items", "bench_runs")
    result = allocation_totals(con, table)
    t2 = time.perf_counter()
    bad = con.execute(f"""
        SELECT count(*) FROM (
            SELECT xkey(resource_id) AS key, period_start_us // 86400000000 AS day,
                   sum(billed_nanos) AS bill FROM bench_items GROUP BY ALL) b
        FULL JOIN (SELECT key, day, sum(amount_nanos) AS alloc FROM {table}
                   WHERE basis = 'billed' GROUP BY ALL) a USING (key, day)
        WHERE a.alloc IS DISTINCT FROM b.bill""").fetchall()[0][0]
    items = normaliser.count()
    store = _store_with_runs(con, work)  # untimed: the runs the costs refer to
    t3 = time.perf_counter()
    write_costs(store, con, table, "bench_runs", None, dt.datetime.now(dt.UTC))
    t4 = time.perf_counter()
    con.close()
    return {"read": t1 - t0, "allocate": t2 - t1, "write": t4 - t3,
            "total": (t1 - t0) + (t2 - t1) + (t4 - t3),
            "items": items, "cost_rows": result.rows, "runs_billed": result.runs_billed,
            "resources": result.resources, "conservation_errors": bad}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--memory", default="2500MB", help="DuckDB memory limit")
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "xprof-billing-bench"))
    args = parser.parse_args()
    folder = Path(args.dir)
    files, runs_path = generate(folder, args.items, args.runs)
    rounds = []
    with tempfile.TemporaryDirectory(prefix="xprof-bench-") as tmp:
        for _ in range(args.repeats):
            rounds.append(one_round(files, runs_path, Path(tmp), args.memory))
    med = {k: statistics.median(r[k] for r in rounds) for k in ("read", "allocate", "write",
                                                               "total")}
    last = rounds[-1]
    print(f"\nbilling allocation: {last['items']:,} hourly line items × {args.runs:,} runs "
          f"({last['resources']:,} instances, {os.cpu_count()} CPUs, median of {args.repeats})")
    print(f"{'step':<34}{'seconds':>9}")
    print(f"{'read + check CUR Parquet':<34}{med['read']:>9.1f}")
    print(f"{'allocate (DuckDB)':<34}{med['allocate']:>9.1f}")
    print(f"{'write ' + format(last['cost_rows'], ',') + ' cost rows (SQLite)':<34}"
          f"{med['write']:>9.1f}")
    print(f"{'total':<34}{med['total']:>9.1f}   budget 60")
    print(f"{'peak RSS (GiB)':<34}{peak_rss_gib():>9.2f}   budget 4")
    print(f"runs billed: {last['runs_billed']:,}; resource-days not conserving: "
          f"{last['conservation_errors']}")


if __name__ == "__main__":
    main()
