"""xprof exits with the command's own exit code: its code, 128+N for signal N, 127, 126."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import XPROF

PY = sys.executable


@pytest.mark.parametrize("code", [0, 3])
def test_exit_code_is_the_childs(xprof, code):
    """A command that exits N makes xprof exit N, and the run records N."""
    result = xprof("run", "--quiet", "--", PY, "-c", f"import sys; sys.exit({code})")
    assert result.returncode == code, result.stderr


def test_child_killed_by_sigkill_is_137(xprof, store):
    """A child that dies of SIGKILL makes xprof exit 128+9, and the run is `killed`."""
    result = xprof("run", "--quiet", "--", PY, "-c",
                   "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert result.returncode == 137, result.stderr
    [run] = store.list_runs()
    assert (run["status"], run["exit_code"], run["signal"]) == ("killed", 137, 9)


def test_sigterm_to_xprof_reaches_the_child(tmp_path: Path, store):
    """SIGTERM sent to xprof is forwarded to the child's group; xprof exits 143."""
    marker = tmp_path / "started"
    script = ("import pathlib, signal, sys, time\n"
              "def bye(n, f):\n"
              f"    pathlib.Path({str(tmp_path / 'got')!r}).write_text(str(n)); sys.exit(143)\n"
              "signal.signal(signal.SIGTERM, bye)\n"
              f"pathlib.Path({str(marker)!r}).write_text('x')\n"
              "time.sleep(60)\n")
    proc = subprocess.Popen([*XPROF, "run", "--quiet", "--", PY, "-c", script],
                            env=dict(os.environ, XPROF_FLUSH_INTERVAL="0.5"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "child never started"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    assert (tmp_path / "got").read_text() == str(int(signal.SIGTERM))


def test_sigterm_kills_default_child_143(tmp_path: Path, store):
    """A child with default SIGTERM handling dies of it; xprof exits 143 and records killed."""
    marker = tmp_path / "started"
    proc = subprocess.Popen(
        [*XPROF, "run", "--quiet", "--", PY, "-c",
         f"import pathlib, time; pathlib.Path({str(marker)!r}).touch(); time.sleep(60)"],
        env=dict(os.environ, XPROF_FLUSH_INTERVAL="0.5"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    [run] = store.list_runs()
    assert run["status"] == "killed" and run["signal"] == signal.SIGTERM


def test_missing_command_is_127(xprof):
    """A command that does not exist is exit 127 with a one-line message."""
    result = xprof("run", "--", "no-such-command-xprof")
    assert result.returncode == 127
    assert "command not found: no-such-command-xprof" in result.stderr


def test_not_executable_is_126(xprof, tmp_path: Path):
    """A file without execute permission is exit 126."""
    script = tmp_path / "train.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    result = xprof("run", "--", str(script))
    assert result.returncode == 126
    assert "not executable" in result.stderr or "cannot execute" in result.stderr


def test_no_zombies_left(tmp_path: Path, xprof):
    """Processes the command leaves behind are ended; none is left as a zombie or orphan."""
    pidfile = tmp_path / "pids"
    script = ("import subprocess, sys, pathlib\n"
              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
              f"pathlib.Path({str(pidfile)!r}).write_text(str(p.pid))\n")
    result = xprof("run", "--quiet", "--", PY, "-c", script)
    assert result.returncode == 0
    pid = int(pidfile.read_text())
    time.sleep(0.2)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        state = "gone"
    assert state == "gone"


def test_options_end_at_the_command(xprof, store):
    """Without `--`, xprof's options end at the first word of the command: the command's own
    --name reaches it, and xprof's --name is the run's."""
    result = xprof("run", "--quiet", "--name", "mine", sys.executable, "-c",
                   "import sys; print(sys.argv[1:])", "--name", "theirs")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['--name', 'theirs']"
    [run] = store.list_runs()
    assert run["name"] == "mine"
    assert store.run_details(run["id"])["params"] == {"name": "theirs"}


def test_leftover_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path, xprof):
    """A process the command left in its group that ignores SIGTERM gets SIGKILL after
    `leftover_grace_s`: nothing of the command outlives xprof."""
    pidfile = tmp_path / "pids"
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    script = ("import subprocess, sys, pathlib, time\n"
              f"p = subprocess.Popen([sys.executable, '-c', {stubborn!r}])\n"
              "time.sleep(0.5)\n"
              f"pathlib.Path({str(pidfile)!r}).write_text(str(p.pid))\n")
    result = xprof("run", "--quiet", "--", PY, "-c", script,
                   env={"XPROF_LEFTOVER_GRACE": "1"})
    assert result.returncode == 0, result.stderr
    pid = int(pidfile.read_text())
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        state = "gone"
    if state != "gone":
        os.kill(pid, signal.SIGKILL)
    assert state == "gone"
