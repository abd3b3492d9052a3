"""kill -9 of the agent loses at most one flush of samples and leaves the run `crashed`."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import sqlalchemy as sa

from tests.conftest import XPROF
from xprof import schema


def test_agent_killed_mid_run_leaves_samples_and_a_crashed_run(store, tmp_path):
    """Samples flushed before the kill are stored; once the heartbeat is stale, the run reads
    as crashed, not running."""
    env = dict(os.environ, XPROF_FLUSH_INTERVAL="0.5", XPROF_INTERVAL="0.1")
    pidfile = tmp_path / "child.pid"
    child_script = (f"import os, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
                    "while True: time.sleep(0.05)\n")
    agent = subprocess.Popen([*XPROF, "run", "--quiet", "--", sys.executable, "-c", child_script],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        count = 0
        while time.monotonic() < deadline and count < 15:
            time.sleep(0.2)
            with store.read() as conn:
                count = conn.execute(
                    sa.select(sa.func.count()).select_from(schema.samples)).scalar()
        assert count >= 15, "agent never flushed samples"
        running = store.list_runs()[0]
        assert running["status"] == "running"
        agent.send_signal(signal.SIGKILL)
        agent.wait(timeout=10)
        killed_at = time.time()
        with store.read() as conn:
            last_ts = conn.execute(sa.select(sa.func.max(schema.samples.c.ts))).scalar()
        assert killed_at - last_ts <= 5.0  # at most one flush (plus a sample) was lost
        time.sleep(3 * 0.5 + 0.6)
        [run] = store.list_runs()
        assert run["status"] == "crashed"
        assert store.list_runs(status="crashed")[0]["id"] == run["id"]
        assert store.list_runs(status="running") == []
    finally:
        agent.kill()
        if pidfile.exists():  # the orphaned child lives on in its own group: end it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pidfile.read_text()), signal.SIGKILL)
