"""The training run outlives its agent: after ``kill -9`` of xprof the command keeps running
and every line it prints still reaches xprof's stdout (a log file, a pipe or a terminal)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

from tests.conftest import XPROF

LINES = 30
TICKER = ("import sys, time\n"
          f"for i in range({LINES}):\n"
          "    print('line', i, flush=True)\n"
          "    print('err', i, file=sys.stderr, flush=True)\n"
          "    time.sleep(0.2)\n"
          "print('done', flush=True)\n")


def _wait_for(path: Path, needle: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace")
        if needle in text:
            return text
        time.sleep(0.1)
    return path.read_text(errors="replace")


def _expected(text: str) -> None:
    lines = text.splitlines()
    for i in range(LINES):
        assert f"line {i}" in lines, (i, text)
        assert f"err {i}" in lines, (i, text)
    assert "done" in lines, text


def test_kill_9_of_xprof_leaves_the_command_and_its_output_alive(tmp_path: Path):
    """`xprof run -- train >log 2>&1`, xprof killed with SIGKILL after 1 s: the command runs
    to its end and the log has every line it printed."""
    log = tmp_path / "log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([*XPROF, "run", "--quiet", "--", sys.executable, "-c", TICKER],
                                stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ, XPROF_FLUSH_INTERVAL="0.5"))
    assert "line 0" in _wait_for(log, "line 0", 30)
    time.sleep(1)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    _expected(_wait_for(log, "done"))


def test_kill_9_of_xprof_with_output_to_a_pipe(tmp_path: Path):
    """Output into a pipe (`| tee log`): after kill -9 of xprof the reader still gets every
    line, and the command is not killed by SIGPIPE."""
    out = tmp_path / "out"
    status = tmp_path / "status"
    script = TICKER + f"open({str(status)!r}, 'w').write('finished')\n"
    with open(out, "wb") as sink:
        reader = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=sink)
    proc = subprocess.Popen([*XPROF, "run", "--quiet", "--", sys.executable, "-c", script],
                            stdout=reader.stdin, stderr=reader.stdin,
                            env=dict(os.environ, XPROF_FLUSH_INTERVAL="0.5"))
    reader.stdin.close()
    assert "line 0" in _wait_for(out, "line 0", 30)
    time.sleep(1)
    proc.kill()
    proc.wait(timeout=10)
    reader.wait(timeout=60)  # ends when the last writer (the relay) closes the pipe
    _expected(out.read_text())
    assert status.read_text() == "finished"


def test_kill_9_of_xprof_on_a_terminal(tmp_path: Path):
    """Under a terminal (a pty; a shell is the session leader), kill -9 of xprof leaves the
    command printing to the terminal until its end."""
    status = tmp_path / "status"
    pidfile = tmp_path / "xprof.pid"
    script = TICKER + f"open({str(status)!r}, 'w').write('finished')\n"
    command = " ".join(f"'{a}'" for a in [*XPROF, "run", "--quiet", "--", sys.executable, "-c",
                                          script.replace("'", "\"")])
    shell = f"{command} & echo $! > {pidfile}; wait; sleep 30"
    master, slave = pty.openpty()

    def controlling_tty() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    sh = subprocess.Popen(["sh", "-c", shell], stdin=slave, stdout=slave, stderr=slave,
                          preexec_fn=controlling_tty,
                          env=dict(os.environ, XPROF_FLUSH_INTERVAL="0.5"))
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        killed = False
        while b"done" not in seen and time.monotonic() < deadline:
            if not killed and b"line 3" in seen and pidfile.exists():
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
                killed = True
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
        assert killed, seen
        text = seen.decode(errors="replace").replace("\r", "")
        _expected(text)
        # the command writes its status just after printing "done": give it a moment
        wait_until = time.monotonic() + 10  # (the file exists, empty, before it is written)
        while (not status.exists() or not status.read_text()) and time.monotonic() < wait_until:
            time.sleep(0.05)
        assert status.read_text() == "finished"
    finally:
        _kill_session(sh.pid)
        sh.wait()
        os.close(master)


def _kill_session(sid: int) -> None:
    """Kill every process of the test's terminal session (the surviving command and relay), so
    a failure here leaves nothing running into later tests."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[3]) == sid:
                os.kill(int(entry), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            continue


def test_the_oom_killer_is_steered_to_the_agent(xprof):
    """The agent's oom_score_adj is above the command's: under memory pressure the kernel
    takes the agent, whose death the command survives."""
    script = ("import os\n"
              "own = open('/proc/self/oom_score_adj').read().split()[0]\n"
              "agent = open(f'/proc/{os.getppid()}/oom_score_adj').read().split()[0]\n"
              "print(own, agent)\n")
    result = xprof("run", "--quiet", "--", sys.executable, "-c", script)
    assert result.returncode == 0, result.stderr
    own, agent = map(int, result.stdout.split())
    assert agent > own or agent == 1000, result.stdout
