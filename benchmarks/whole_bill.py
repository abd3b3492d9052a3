"""How long the whole bill (runs + idle + other, by provider/service/region/account) takes on
a large store: the one GROUP BY over ``billing_items`` that `xprof collect` adds to its
summary and `xprof report` / the Spend page run per period.

Fills a SQLite store with N hourly line items (instances and other services, two
currencies) written straight to the table, then times :func:`whole_bill` (all time, and one
week) several times; prints medians.

    python benchmarks/whole_bill.py --items 1000000 --repeat 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from xprof.collector.billing.bill import whole_bill
from xprof.store import Store

SERVICES = ("Amazon Elastic Compute Cloud", "Amazon Simple Storage Service", "AWS Data Transfer",
            "Amazon Relational Database Service", "Tax")
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


def fill(store: Store, items: int, resources: int) -> None:
    start = dt.datetime(2024, 9, 1)
    rows = []
    for i in range(items):
        hour = start + dt.timedelta(hours=(i // resources) % 720)
        service = SERVICES[i % len(SERVICES)]
        rows.append(("bench", f"g|{i}", "aws", "123456789012", f"i-{i % resources:017x}",
                     "us-east-1", service, "usage" if service != "Tax" else "tax",
                     hour.strftime(SQLITE_TIME),
                     (hour + dt.timedelta(hours=1)).strftime(SQLITE_TIME), 1.0, "Hours",
                     384_000_000 + i % 1000, "USD" if i % 10 else "EUR",
                     "2024-10-01 00:00:00.000000"))
    with store.write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO billing_items (source, row_key, provider, account_id, resource_id, "
            "region, service, charge_category, charge_period_start, charge_period_end, "
            "usage_quantity, usage_unit, billed_cost, currency, imported_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--resources", type=int, default=13_888)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'xprof.db'}")
        fill(store, args.items, args.resources)
        week = (dt.datetime(2024, 9, 9, tzinfo=dt.UTC), dt.datetime(2024, 9, 16, tzinfo=dt.UTC))
        cases = {"all time": {}, "one week": {"start": week[0], "end": week[1]}}
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeat):
            for name, kwargs in cases.items():  # alternate the cases
                t0 = time.perf_counter()
                whole_bill(store, **kwargs)
                times[name].append(time.perf_counter() - t0)
    print(f"whole_bill on SQLite, {args.items:,} items, {args.resources:,} resources, "
          f"median of {args.repeat}")
    print("| period | median s | min s |")
    print("| --- | ---: | ---: |")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} |")


if __name__ == "__main__":
    main()
