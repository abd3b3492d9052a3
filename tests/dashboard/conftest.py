"""Fixtures for the dashboard tests: seeded stores and a page runner (AppTest)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.helpers import DASHBOARD, Seeded, seed
from xprof.store import Store


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """A store seeded once for the tests that only read."""
    url = f"sqlite:///{tmp_path_factory.mktemp('seeded') / 'xprof.db'}"
    return Seeded(url, seed(Store.open(url)))


@pytest.fixture(scope="session")
def report_store(tmp_path_factory: pytest.TempPathFactory):
    """The report tests' store (two ISO weeks, two currencies, billed and estimated), seeded
    once: the report only reads."""
    from tests.dashboard.report_helpers import seeded_store

    return seeded_store(tmp_path_factory)


@pytest.fixture
def fresh(tmp_path: Path) -> Seeded:
    """A store seeded for one test that writes."""
    url = f"sqlite:///{tmp_path / 'xprof.db'}"
    return Seeded(url, seed(Store.open(url)))


@pytest.fixture
def open_page(monkeypatch: pytest.MonkeyPatch) -> Callable[..., AppTest]:
    """Run a dashboard page (path under dashboard/) on a store, with URL query parameters."""

    def _open(page: str, url: str, **params: str | list[str]) -> AppTest:
        monkeypatch.setenv("XPROF_STORE", url)
        at = AppTest.from_file(str(DASHBOARD / page), default_timeout=60)
        for key, value in params.items():
            at.query_params[key] = value
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return _open
