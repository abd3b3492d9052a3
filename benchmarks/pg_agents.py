"""Many agents sampling into one PostgreSQL store: throughput and agent CPU.

    python benchmarks/pg_agents.py                 # 32 agents at 10 Hz for 60 s
    python benchmarks/pg_agents.py --agents 8 --seconds 10

Starts a throw-away PostgreSQL cluster (Debian's postgresql package), runs N `xprof run`
agents at once (each wrapping `sleep`), then prints one table: samples stored per second,
missing or duplicated samples, and the agents' CPU (user+sys, from their rusage) per agent
and per sample.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pg_server import PostgresServer  # noqa: E402
from xprof.store import Store  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--hz", type=float, default=10)
    args = parser.parse_args()
    server = PostgresServer()
    try:
        url = server.create_database()
        Store.open(url)
        env = dict(os.environ, XPROF_STORE=url, XPROF_INTERVAL=str(1 / args.hz),
                   XPROF_FLUSH_INTERVAL="2", XPROF_PROVIDER="none",
                   XPROF_HOME=str(server.root / "home"))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        procs = [subprocess.Popen([sys.executable, "-m", "xprof.cli", "run", "--quiet", "--",
                                   "sleep", str(args.seconds)], env=env,
                                  stderr=subprocess.PIPE, text=True)
                 for _ in range(args.agents)]
        errors = [p.communicate()[1] for p in procs]
        wall = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        failed = [e for p, e in zip(procs, errors, strict=True) if p.returncode != 0]
        db = Store.open(url)
        with db.read() as conn:
            stored = conn.execute(sa.text("SELECT count(*) FROM samples")).scalar()
            dupes = conn.execute(sa.text(
                "SELECT count(*) FROM (SELECT run_id, ts FROM samples GROUP BY run_id, ts "
                "HAVING count(*) > 1) d")).scalar()
            taken = sum(int(s["samples"]) for (s,) in conn.execute(sa.text(
                "SELECT summary FROM runs")) if s)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        rows = [
            ("agents × rate × duration", f"{args.agents} × {args.hz:g} Hz × {args.seconds:g} s"),
            ("agents failed", str(len(failed))),
            ("samples taken / stored", f"{taken} / {stored}"),
            ("duplicated samples", str(dupes)),
            ("store throughput", f"{stored / wall:.0f} samples/s"),
            ("agent CPU, all agents (start-up included)", f"{cpu:.1f} s in {wall:.1f} s wall"),
            ("agent CPU per agent", f"{cpu / args.agents:.2f} s "
                                    f"({100 * cpu / args.agents / wall:.2f} % of a core)"),
            ("agent CPU per sample (amortised)", f"{1000 * cpu / max(taken, 1):.2f} ms"),
        ]
        width = max(len(r[0]) for r in rows)
        print(f"| {'what'.ljust(width)} | value |\n| {'-' * width} | --- |")
        for what, value in rows:
            print(f"| {what.ljust(width)} | {value} |")
        if failed:
            print("first failure:", failed[0][-500:], file=sys.stderr)
    finally:
        server.close()


if __name__ == "__main__":
    main()
