"""Eight `xprof run` at once into one SQLite store all finish with all their samples."""

from __future__ import annotations

import os
import subprocess
import sys

import sqlalchemy as sa

from tests.conftest import XPROF
from xprof import schema


def test_eight_parallel_runs_into_one_sqlite_store(store):
    """8 concurrent agents flushing every 0.2 s: 8 finished runs, every sample stored, no
    'database is locked'."""
    env = dict(os.environ, XPROF_FLUSH_INTERVAL="0.2", XPROF_INTERVAL="0.1")
    script = ("import time, xprof\nfor i in range(20):\n    xprof.log(step=i, x=i)\n"
              "    time.sleep(0.1)\n")
    procs = [subprocess.Popen([*XPROF, "run", "--name", f"par-{i}", "--", sys.executable, "-c",
                               script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(8)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err
    runs = store.list_runs()
    assert sorted(r["name"] for r in runs) == [f"par-{i}" for i in range(8)]
    assert {r["status"] for r in runs} == {"finished"}
    with store.read() as conn:
        for run in runs:
            samples = conn.execute(sa.select(sa.func.count()).select_from(schema.samples)
                                   .where(schema.samples.c.run_id == run["id"])).scalar()
            metrics = conn.execute(sa.select(sa.func.count()).select_from(schema.metrics)
                                   .where(schema.metrics.c.run_id == run["id"])).scalar()
            # ~2 s at 10 Hz: every sample taken was stored (summary counts what was taken)
            assert samples == run["summary"]["samples"] and samples >= 10
            assert metrics == 20
