"""Fixtures of the collector's tests: a seeded store (copied from one built per session, so
each test still gets its own real SQLite file)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from xprof.store import Store


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file created and seeded with the shipped catalog once per session."""
    path = tmp_path_factory.mktemp("template") / "xprof.db"
    Store.open(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:  # fold the WAL into the file so a copy is complete
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")
    return path


@pytest.fixture
def store(xprof_home: Path, seeded_template: Path) -> Store:
    """This test's own store at $XPROF_HOME/xprof.db, already holding the shipped catalog."""
    xprof_home.mkdir(parents=True, exist_ok=True)
    path = xprof_home / "xprof.db"
    shutil.copyfile(seeded_template, path)
    return Store.open(f"sqlite:///{path}")
