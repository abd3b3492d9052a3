"""Two agents of one run on one node (two ranks, one run id) each record exactly the metrics
their own command logged: one metrics file per agent, none read or removed by the other."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from tests.conftest import XPROF
from xprof import schema


def _rank_env(rank: int) -> dict[str, str]:
    return dict(os.environ, XPROF_FLUSH_INTERVAL="0.5", SLURM_PROCID=str(rank),
                SLURM_NTASKS="2", SLURM_NNODES="1")


def test_two_ranks_sharing_a_run_id_keep_their_own_metrics(store, tmp_path: Path):
    """`xprof run --run-id same` twice at once on one host, each command logging 8 values:
    each rank's host row has its own 8 values, nothing of the other's."""
    script = ("import os, time, xprof\n"
              "rank = int(os.environ['SLURM_PROCID'])\n"
              "for i in range(8):\n"
              "    xprof.log(step=i, value=rank * 100 + i)\n"
              "    time.sleep(0.15)\n")
    procs = [subprocess.Popen([*XPROF, "run", "--quiet", "--run-id", "same-job", "--",
                               sys.executable, "-c", script],
                              env=_rank_env(rank), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
             for rank in (0, 1)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
    m = schema.metrics
    with store.read() as conn:
        rows = conn.execute(sa.select(m.c.host, m.c.value, m.c.step).order_by(m.c.host, m.c.seq))
        by_host: dict[str, list[tuple[float, int]]] = {}
        for host, value, step in rows:
            by_host.setdefault(host, []).append((value, step))
    assert sorted(by_host.values()) == [[(float(i), i) for i in range(8)],
                                        [(100.0 + i, i) for i in range(8)]], by_host
    assert {h.rsplit("/", 1)[1] for h in by_host} == {"0", "1"}
