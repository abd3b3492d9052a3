"""`xprof dashboard` checks its store and address before starting, with one-line errors."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

XPROF = str(Path(sys.executable).with_name("xprof"))


def _xprof(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([XPROF, *args], capture_output=True, text=True, timeout=60)


def test_help_lists_the_command_and_its_flags() -> None:
    """`xprof --help` lists dashboard; its own help shows --store, --port, --host, an example."""
    assert "dashboard" in _xprof("--help").stdout
    out = _xprof("dashboard", "--help").stdout
    for flag in ("--store", "--port", "--host", "127.0.0.1", "xprof dashboard --port"):
        assert flag in out


def test_bad_store_is_one_line_exit_2(tmp_path) -> None:
    """An unusable store URL fails before Streamlit starts: exit 2, one line naming it."""
    result = _xprof("dashboard", "--store", "mysql://db/x", "--port", "1")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "mysql://db/x" in result.stderr
    (tmp_path / "not-a-db").write_text("hello")
    result = _xprof("dashboard", "--store", f"sqlite:///{tmp_path / 'not-a-db'}")
    assert result.returncode == 2 and "not a SQLite database" in result.stderr


def test_busy_port_is_one_line_exit_2(tmp_path) -> None:
    """A port already taken is refused with a hint, and no store is touched beyond a check."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _xprof("dashboard", "--store", f"sqlite:///{tmp_path / 'x.db'}",
                        "--port", str(port))
    assert result.returncode == 2
    assert f"--port {port}" in result.stderr and "pick another --port" in result.stderr
    assert result.stderr.count("\n") == 1


def test_bad_port_is_a_usage_error() -> None:
    """--port outside 1..65535 is a usage error, exit 2."""
    result = _xprof("dashboard", "--port", "70000")
    assert result.returncode == 2 and "--port" in result.stderr
