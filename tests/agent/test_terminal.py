"""On a terminal, the command gets a pty for its output and the terminal's foreground, so
progress bars, `input()` and pdb behave as without xprof."""

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

from tests.conftest import XPROF


def _read_until(fd: int, needle: bytes, timeout: float = 30) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while needle not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    return data


def test_input_and_tty_inside_a_terminal():
    """The child sees a terminal on stdout, can read input() from the user's terminal, and
    xprof exits with its code."""
    master, slave = pty.openpty()

    def controlling_tty() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    script = ("import sys\nprint('tty', sys.stdout.isatty(), flush=True)\n"
              "name = input('name? ')\nprint('got', name)\nsys.exit(5)\n")
    proc = subprocess.Popen([*XPROF, "run", "--quiet", "--", sys.executable, "-c", script],
                            stdin=slave, stdout=slave, stderr=slave, preexec_fn=controlling_tty,
                            env=dict(os.environ, XPROF_FLUSH_INTERVAL="0.5"))
    os.close(slave)
    try:
        seen = _read_until(master, b"name? ")
        assert b"tty True" in seen, seen
        os.write(master, b"ada\n")
        seen += _read_until(master, b"got ada")
        assert b"got ada" in seen, seen
        assert proc.wait(timeout=30) == 5
    finally:
        proc.kill()
        os.close(master)


def _state(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def _wait_state(pid: int, states: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    state = _state(pid)
    while state not in states and time.monotonic() < deadline:
        time.sleep(0.05)
        state = _state(pid)
    return state


def _ticking_under_a_terminal(tmp_path) -> tuple[subprocess.Popen, int, int]:
    """xprof on a terminal running a command that ticks 30 times, 0.1 s apart, then exits 7;
    returns (xprof, the pty master, the command's pid)."""
    pidfile = tmp_path / "pid"
    script = ("import os, pathlib, time\n"
              f"pathlib.Path({str(pidfile)!r}).write_text(str(os.getpid()))\n"
              "for i in range(30):\n"
              "    print('tick', i, flush=True)\n"
              "    time.sleep(0.1)\n"
              "raise SystemExit(7)\n")
    master, slave = pty.openpty()

    def controlling_tty() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([*XPROF, "run", "--quiet", "--", sys.executable, "-c", script],
                            stdin=slave, stdout=slave, stderr=slave, preexec_fn=controlling_tty,
                            env=dict(os.environ, XPROF_FLUSH_INTERVAL="0.5"))
    os.close(slave)
    assert b"tick 0" in _read_until(master, b"tick 0")
    return proc, master, int(pidfile.read_text())


def _stopped_then_continued(proc: subprocess.Popen, master: int, child: int) -> None:
    assert _wait_state(child, "T") == "T"
    assert _wait_state(proc.pid, "T") == "T", "xprof did not stop with its command"
    seen = _read_until(master, b"never printed", timeout=0.5)
    assert _state(child) == "T" and b"tick 29" not in seen
    os.kill(proc.pid, signal.SIGCONT)  # what the shell's `fg` sends
    seen += _read_until(master, b"tick 29")
    assert b"tick 29" in seen, seen
    assert proc.wait(timeout=30) == 7


def test_ctrl_z_stops_the_command_and_xprof_and_fg_continues_both(tmp_path):
    """Ctrl-Z on the terminal stops the command and xprof with it (the shell sees its job
    stopped, not hung); SIGCONT to xprof continues both, and the run ends with its code."""
    proc, master, child = _ticking_under_a_terminal(tmp_path)
    try:
        os.write(master, b"\x1a")  # Ctrl-Z: SIGTSTP to the terminal's foreground group
        _stopped_then_continued(proc, master, child)
    finally:
        proc.kill()
        os.close(master)


def test_sigtstp_to_xprof_stops_the_command_too(tmp_path):
    """SIGTSTP sent to xprof stops the command's group and xprof; SIGCONT continues both."""
    proc, master, child = _ticking_under_a_terminal(tmp_path)
    try:
        os.kill(proc.pid, signal.SIGTSTP)
        _stopped_then_continued(proc, master, child)
    finally:
        proc.kill()
        os.close(master)
