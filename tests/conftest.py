"""Fixtures every part's tests share: an isolated XPROF_HOME, a real SQLite store, a helper
that runs the real ``xprof`` command line in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

XPROF = [sys.executable, "-m", "xprof.cli"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``integrations`` skip, naming the install line, when the integrations
    extra (torch, transformers, lightning, mlflow, nbclient...) is not installed; in CI, which
    installs it, they run and fail instead."""
    from tests.integrations.extra import skip_reason

    reason = skip_reason()
    if reason is None or os.environ.get("CI"):
        return
    for item in items:
        if item.get_closest_marker("integrations"):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def xprof_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own XPROF_HOME; cloud detection is off unless a test turns it on."""
    home = tmp_path / "xprof-home"
    monkeypatch.setenv("XPROF_HOME", str(home))
    monkeypatch.delenv("XPROF_STORE", raising=False)
    monkeypatch.setenv("XPROF_PROVIDER", "none")
    for var in ("XPROF_AWS_IMDS_URL", "XPROF_GCP_METADATA_URL", "XPROF_AZURE_IMDS_URL"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # discard port: never a real endpoint
    return home


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for the session (needs Debian's postgresql package)."""
    from tests.pg_server import PostgresServer, pg_bin

    if pg_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; .ci/run installs it")
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    server = PostgresServer()
    yield server
    server.close()


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh, empty PostgreSQL database."""
    return pg_server.create_database()


@pytest.fixture
def store_url(xprof_home: Path) -> str:
    return f"sqlite:///{xprof_home / 'xprof.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store_url(request, xprof_home: Path) -> str:
    """The same test on both engines."""
    if request.param == "sqlite":
        return f"sqlite:///{xprof_home / 'xprof.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(store_url: str):
    from xprof.store import Store

    return Store.open(store_url)


def run_xprof(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
              cwd: str | Path | None = None, input: str | None = None
              ) -> subprocess.CompletedProcess:
    """Run the real xprof CLI; returns the completed process with text output."""
    full_env = dict(os.environ, **(env or {}))
    full_env.setdefault("XPROF_FLUSH_INTERVAL", "0.5")
    return subprocess.run([*XPROF, *args], capture_output=True, text=True, timeout=timeout,
                          env=full_env, cwd=cwd, input=input)


@pytest.fixture
def xprof():
    return run_xprof
