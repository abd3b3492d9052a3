"""The whole process tree is measured through `xprof run`: workers, short-lived children and
memory, as the children themselves account for them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import sqlalchemy as sa

from xprof import schema

TREE_SCRIPT = """
import json, multiprocessing as mp, resource, sys, time

def busy(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass

if __name__ == "__main__":
    ctx = mp.get_context("fork")
    workers = [ctx.Process(target=busy, args=(1.5,)) for _ in range(2)]
    for w in workers:
        w.start()
    short = ctx.Process(target=busy, args=(0.3,))   # exits between samples
    short.start(); short.join()
    for w in workers:
        w.join()
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    open(sys.argv[1], "w").write(json.dumps({"cpu_seconds": total}))
"""


def test_tree_cpu_seconds_match_the_childrens_rusage(xprof, store, tmp_path: Path):
    """2 busy workers plus one short-lived one: recorded CPU-seconds within 10 % of rusage."""
    script = tmp_path / "tree.py"
    script.write_text(TREE_SCRIPT)
    report = tmp_path / "rusage.json"
    result = xprof("run", "--quiet", "--interval", "0.5", "--", sys.executable, str(script),
                   str(report))
    assert result.returncode == 0, result.stderr
    expected = json.loads(report.read_text())["cpu_seconds"]
    [run] = store.list_runs()
    assert abs(run["cpu_seconds"] - expected) <= 0.10 * expected, (run["cpu_seconds"], expected)
    with store.read() as conn:
        last = conn.execute(sa.select(schema.samples.c.cpu_seconds_total)
                            .where(schema.samples.c.run_id == run["id"])
                            .order_by(schema.samples.c.ts.desc()).limit(1)).scalar()
        peak_procs = conn.execute(sa.select(sa.func.max(schema.samples.c.processes))
                                  .where(schema.samples.c.run_id == run["id"])).scalar()
    assert abs(last - expected) <= 0.10 * expected
    assert peak_procs >= 3  # the parent and both workers were seen together


def test_peak_rss_of_a_500_mb_child(xprof, store):
    """A child that allocates and touches 500 MB: peak RSS within 10 %."""
    script = ("import time\nblock = bytearray(500 * 1024 * 1024)\n"
              "for i in range(0, len(block), 4096): block[i] = 1\n"
              "time.sleep(1.5)\n")
    result = xprof("run", "--quiet", "--interval", "0.2", "--", sys.executable, "-c", script)
    assert result.returncode == 0, result.stderr
    [run] = store.list_runs()
    expected = 500 * 1024 * 1024
    # the interpreter itself adds ~10 MB on top of the block
    assert expected * 0.95 <= run["peak_rss_bytes"] <= expected * 1.10, run["peak_rss_bytes"]
