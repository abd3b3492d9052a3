"""`xprof config` says where each value came from: the default, the config file (path and
key), the environment variable, or the flag."""

from __future__ import annotations

import json

from tests.conftest import run_xprof


def test_each_value_names_its_source(xprof_home, tmp_path) -> None:
    """interval from config.toml, flush_interval from XPROF_FLUSH_INTERVAL, store from
    --store, tail_bytes from the default; the table and --json agree."""
    xprof_home.mkdir(parents=True)
    config = xprof_home / "config.toml"
    config.write_text("interval = 5\nflush_interval = 9\n")
    store = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    env = {"XPROF_FLUSH_INTERVAL": "3"}
    result = run_xprof("config", "--json", "--store", store, env=env)
    assert result.returncode == 0, result.stderr
    settings = json.loads(result.stdout)
    assert settings["interval"] == {"value": 5.0, "from": f"{config}: interval"}
    assert settings["flush_interval"] == {"value": 3.0, "from": "XPROF_FLUSH_INTERVAL"}
    assert settings["store"] == {"value": store, "from": "--store"}
    assert settings["tail_bytes"] == {"value": 65536, "from": "default"}
    assert settings["home"]["from"] == "XPROF_HOME"

    table = run_xprof("config", "--store", store, env=env)
    assert table.returncode == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert header.split()[:5] == ["KEY", "VALUE", "FROM", "ENV", "MEANING"]
    rows = {line.split()[0]: line for line in lines}
    assert rows["interval"].split()[1:4] == ["5.0", f"{config}:", "interval"]
    assert rows["flush_interval"].split()[1:3] == ["3.0", "XPROF_FLUSH_INTERVAL"]
    assert rows["tail_bytes"].split()[1:3] == ["65536", "default"]


def test_bad_value_names_its_source(xprof_home) -> None:
    """A value that does not parse is one line naming where it came from, exit 2."""
    result = run_xprof("config", env={"XPROF_INTERVAL": "soon"})
    assert result.returncode == 2
    assert "XPROF_INTERVAL" in result.stderr and len(result.stderr.strip().splitlines()) == 1
