"""However an in-process run ends (block exit, exception, interrupt, interpreter exit, kill),
it is finished, failed, killed or crashed: never left `running`."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

import xprof
from tests.integrations.conftest import SCRIPTS
from xprof.store import effective_status


@pytest.mark.parametrize(("error", "status", "code", "signal"), [
    (ValueError("boom"), "failed", 1, None),
    (KeyboardInterrupt(), "killed", 130, 2),
    (SystemExit(3), "failed", 3, None),
    (SystemExit(0), "finished", 0, None),
])
def test_exception_in_block(store, error, status, code, signal):
    """An exception leaving the block ends the run as it says, and still propagates."""
    with pytest.raises(type(error)), xprof.profile(project="endings", quiet=True) as run:
        raise error
    stored = store.find_run(run.id)
    assert (stored["status"], stored["exit_code"], stored["signal"]) == (status, code, signal)
    assert stored["ended_at"] is not None


@pytest.mark.parametrize(("how", "status", "code"), [
    ("exit", "finished", 0), ("raise", "failed", 1), ("interrupt", "killed", 130)])
def test_interpreter_exit_finishes_open_run(store, how, status, code):
    """A run still open when the interpreter exits is finished by the atexit hook (failed or
    killed when an uncaught exception ends the script)."""
    result = subprocess.run([sys.executable, str(SCRIPTS / "open_run.py"), how],
                            capture_output=True, text=True, timeout=60)
    run_id = result.stdout.split()[0]
    stored = store.find_run(run_id)
    assert (stored["status"], stored["exit_code"]) == (status, code), result.stderr
    assert store.run_details(run_id)["counts"]["metrics"] == 1


def test_killed_process_reads_as_crashed(store):
    """A process killed with SIGKILL leaves a run that reads as crashed once its heartbeat is
    stale, never as running."""
    result = subprocess.run([sys.executable, str(SCRIPTS / "open_run.py"), "kill"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == -9
    stored = store.find_run(result.stdout.split()[0])
    later = stored["heartbeat_at"] + dt.timedelta(seconds=3 * stored["flush_interval_s"] + 1)
    assert effective_status("running", stored["heartbeat_at"], stored["flush_interval_s"],
                            now=later) == "crashed"
    assert stored["status"] in ("running", "crashed")
