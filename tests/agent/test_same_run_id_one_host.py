"""Two agents given the same `--run-id` on one host with no rank variables each keep every
sample of their own (issue 16): the first keeps the host name, the other gets
``host/<pid>``, so neither's rows replace the other's."""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from tests.conftest import XPROF
from xprof import schema
from xprof.agent.multinode import claim_host_key, release_host_key

SCRIPT = ("import time, xprof\n"
          "for i in range(6):\n"
          "    xprof.log(step=i, loss=1.0 / (i + 1))\n"
          "    time.sleep(0.3)\n")


def _env() -> dict[str, str]:
    env = dict(os.environ, XPROF_FLUSH_INTERVAL="0.5", XPROF_INTERVAL="0.2")
    for name in ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_NNODES", "SLURM_JOB_ID", "RANK",
                 "LOCAL_RANK", "TORCHELASTIC_RUN_ID", "XPROF_RUN_ID"):
        env.pop(name, None)
    return env


def test_two_agents_same_run_id_keep_both_hosts_samples(store):
    """`xprof run --run-id X` twice at once: two host rows of one run, each with its own
    samples and its own 6 metric values; the samples' count matches each host's summary."""
    procs = [subprocess.Popen([*XPROF, "run", "--quiet", "--run-id", "shared-x", "--",
                               sys.executable, "-c", SCRIPT], env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
    s, m, h = schema.samples, schema.metrics, schema.run_hosts
    with store.read() as conn:
        hosts = {row.host: row for row in conn.execute(sa.select(h))}
        samples = dict(conn.execute(sa.select(s.c.host, sa.func.count()).group_by(s.c.host))
                       .all())
        metrics = dict(conn.execute(sa.select(m.c.host, sa.func.count()).group_by(m.c.host))
                       .all())
    me = socket.gethostname()
    assert len(hosts) == 2 and me in hosts, hosts.keys()
    [other] = set(hosts) - {me}
    assert other.startswith(f"{me}/") and other.split("/")[1].isdigit()
    assert set(samples) == set(hosts) and all(n >= 3 for n in samples.values()), samples
    assert metrics == {me: 6, other: 6}
    for host, row in hosts.items():
        assert (row.summary or {}).get("samples") == samples[host], (host, row.summary)
    agents = Path(os.environ["XPROF_HOME"]) / "agents"
    assert list(agents.glob("*.lock")) == []  # each agent removed its lock file at its end


def test_one_agent_keeps_the_plain_host_name(store):
    """A lone agent with a given run id is recorded under the host name, as before."""
    proc = subprocess.run([*XPROF, "run", "--quiet", "--run-id", "alone", "--", sys.executable,
                           "-c", "pass"], env=_env(), capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with store.read() as conn:
        assert conn.execute(sa.select(schema.run_hosts.c.host)).scalars().all() == [
            socket.gethostname()]


def test_host_key_lock_file_goes_and_a_waiter_locks_a_new_one(tmp_path):
    """The first agent holds the key; a second meanwhile gets ``host/<pid>``; once the first
    releases it the file is gone, and an agent that had opened the removed file before does
    not hold the key on it: the next claim locks a new file and keeps the host name."""
    folder = tmp_path / "agents"
    host, first = claim_host_key("gpu-7", "run-a", folder)
    assert host == "gpu-7" and first is not None
    [path] = folder.glob("*.lock")
    assert claim_host_key("gpu-7", "run-a", folder) == (f"gpu-7/{os.getpid()}", None)
    assert claim_host_key("gpu-7", "run-b", folder)[0] == "gpu-7"  # another run: its own key
    with open(path, "ab") as stale:  # a waiter that opened the file before the release
        release_host_key(first)
        assert not path.exists()
        fcntl.flock(stale.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # it locks the removed file
        host, again = claim_host_key("gpu-7", "run-a", folder)
        assert host == "gpu-7" and again is not None and path.exists()
        assert os.fstat(again.fileno()).st_ino != os.fstat(stale.fileno()).st_ino
    release_host_key(again)
    release_host_key(again)  # twice: nothing more to do
