"""Bad input is a one-line error, exit 2, nothing written and no child started."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


def _assert_rejected(result, marker: Path, needle: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert not marker.exists(), "the child was started"


@pytest.fixture
def marker_cmd(tmp_path: Path) -> tuple[Path, list[str]]:
    marker = tmp_path / "child-ran"
    return marker, [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]


@pytest.mark.parametrize(("args", "needle"), [
    (["--bogus"], "No such option '--bogus'"),
    (["--tag", "novalue"], "--tag 'novalue': expected KEY=VALUE"),
    (["--param", "=x"], "--param '=x': expected KEY=VALUE"),
    (["--objective", "acc:up"], "--objective 'acc:up'"),
    (["--interval", "-1"], "--interval: expected a positive number"),
    (["--metric-pattern", "(unclosed"], "--metric-pattern"),
])
def test_bad_flags(xprof, xprof_home, marker_cmd, args, needle):
    """Each malformed flag names itself; nothing is stored and the child never runs."""
    marker, cmd = marker_cmd
    _assert_rejected(xprof("run", *args, "--", *cmd), marker, needle)
    assert not (xprof_home / "xprof.db").exists()


def test_no_command(xprof, xprof_home):
    """`xprof run` alone says how to give a command."""
    result = xprof("run")
    assert result.returncode == 2
    assert "no command given" in result.stderr
    assert not (xprof_home / "xprof.db").exists()


def test_unwritable_store_path(xprof, tmp_path, marker_cmd):
    """A store in a read-only folder is refused before the child starts."""
    marker, cmd = marker_cmd
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if __import__("os").access(ro, __import__("os").W_OK):
            pytest.skip("running as a user who can write anywhere (root without DAC checks)")
        _assert_rejected(xprof("run", "--store", f"sqlite:///{ro}/x.db", "--", *cmd), marker,
                         "not writable")
    finally:
        ro.chmod(0o700)


def test_store_path_under_a_file(xprof, tmp_path, marker_cmd):
    """A store path whose folder is a file is refused (even for root)."""
    marker, cmd = marker_cmd
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _assert_rejected(xprof("run", "--store", f"sqlite:///{blocker}/x.db", "--", *cmd), marker,
                     "not writable")


def test_bad_store_scheme(xprof, marker_cmd):
    """An unknown URL scheme is refused with the schemes that work."""
    marker, cmd = marker_cmd
    _assert_rejected(xprof("run", "--store", "mysql://x/y", "--", *cmd), marker,
                     "unsupported URL scheme")


def test_malformed_config_file(xprof, xprof_home, marker_cmd):
    """A config.toml with a syntax error is named with its path; nothing runs."""
    marker, cmd = marker_cmd
    xprof_home.mkdir(parents=True)
    (xprof_home / "config.toml").write_text("interval = [oops\n")
    _assert_rejected(xprof("run", "--", *cmd), marker, "config.toml: invalid TOML")
    assert not (xprof_home / "xprof.db").exists()


def test_config_with_bad_value(xprof, xprof_home, marker_cmd):
    """A config value of the wrong type names the file and the key."""
    marker, cmd = marker_cmd
    xprof_home.mkdir(parents=True)
    (xprof_home / "config.toml").write_text("interval = 'often'\n")
    _assert_rejected(xprof("run", "--", *cmd), marker, "config.toml: interval")


@pytest.mark.parametrize(("args", "env", "config", "needle"), [
    (["--interval", "inf"], {}, None, "--interval: expected a positive number"),
    (["--interval", "nan"], {}, None, "--interval: expected a positive number"),
    (["--interval", "0"], {}, None, "--interval: expected a positive number"),
    (["--interval", "-0.5"], {}, None, "--interval: expected a positive number"),
    ([], {}, b"interval = 1e10\n", "interval: expected a positive number of seconds up to"),
    ([], {"XPROF_INTERVAL": "inf"}, None, "XPROF_INTERVAL: expected a positive number"),
    ([], {"XPROF_TAIL_BYTES": "-1"}, None, "XPROF_TAIL_BYTES: expected a whole number of 0"),
    ([], {}, b"tail_bytes = 1.5\n", "tail_bytes: expected a whole number, got 1.5"),
    ([], {}, "interval = 2\n".encode("utf-16"), "line 1: not UTF-8 text"),
    ([], {}, b"# caf\xe9\ninterval = 2\n", "config.toml: line 1: not UTF-8 text"),
])
def test_bad_values_are_one_line(xprof, xprof_home, marker_cmd, args, env, config, needle):
    """Infinite, NaN, zero, negative or huge intervals, negative or fractional tail sizes and a
    config file that is not UTF-8: one line naming the place, exit 2, no child, no traceback."""
    marker, cmd = marker_cmd
    if config is not None:
        xprof_home.mkdir(parents=True)
        (xprof_home / "config.toml").write_bytes(config)
    result = xprof("run", *args, "--", *cmd, env=env)
    _assert_rejected(result, marker, needle)
    assert "Traceback" not in result.stderr
    assert not (xprof_home / "xprof.db").exists()
