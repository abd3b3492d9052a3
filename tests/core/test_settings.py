"""Settings resolve flag > environment > config file > default, and bad ones name their place."""

from __future__ import annotations

import pytest

from xprof.settings import SETTINGS, ConfigError, Settings, read_config


def test_precedence(xprof_home, monkeypatch):
    """A flag beats the environment, which beats config.toml, which beats the default."""
    xprof_home.mkdir(parents=True)
    (xprof_home / "config.toml").write_text("interval = 5\nflush_interval = 4\ntail_bytes = 10\n")
    monkeypatch.setenv("XPROF_INTERVAL", "3")
    monkeypatch.setenv("XPROF_FLUSH_INTERVAL", "2.5")
    s = Settings(flags={"interval": 0.5})
    assert s["interval"] == 0.5
    assert s["flush_interval"] == 2.5
    assert s["tail_bytes"] == 10
    assert s["identity_timeout"] == 2.0


def test_nested_tables_flatten(xprof_home):
    """[billing.focus] paths = [...] is the key billing.focus.paths."""
    xprof_home.mkdir(parents=True)
    (xprof_home / "config.toml").write_text('[billing.focus]\npaths = ["/data/focus"]\n')
    assert Settings()["billing.focus.paths"] == ["/data/focus"]


def test_unknown_key_is_named(xprof_home):
    """A misspelt key is an error naming the file and the key."""
    xprof_home.mkdir(parents=True)
    (xprof_home / "config.toml").write_text("intervall = 1\n")
    with pytest.raises(ConfigError, match=r"config.toml: unknown setting 'intervall'"):
        read_config()


def test_retired_setting_still_loads(xprof_home):
    """A config written for an older xprof (``advise.exit_max_rows``, which no longer does
    anything: advice at a run's end is never skipped) loads; the other keys still apply."""
    xprof_home.mkdir(parents=True)
    (xprof_home / "config.toml").write_text("[advise]\nexit_max_rows = 1000\nmin_samples = 7\n")
    settings = Settings()
    assert settings["advise.min_samples"] == 7
    with pytest.raises(KeyError):
        settings["advise.exit_max_rows"]


def test_store_default_is_under_home(xprof_home):
    """With nothing set, the store is SQLite at $XPROF_HOME/xprof.db."""
    assert Settings().store_url == f"sqlite:///{xprof_home / 'xprof.db'}"


def test_every_setting_is_documented():
    """Each setting has a doc line, and env names follow XPROF_*."""
    for setting in SETTINGS:
        assert setting.doc and (setting.env is None or setting.env.startswith("XPROF_"))
