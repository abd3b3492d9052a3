"""On a terminal, the command gets a pty for its output and the terminal's foreground, so
progress bars, `input()` and pdb behave as without xprof."""

from __future__ import annotations

import fcntl
import os
import pty
import select
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
