"""Fixtures of the integration tests: the store an in-process run writes to, reading a run
back, and one MLflow tracking store (SQLite) for the whole session (creating one takes
seconds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "scripts"


@pytest.fixture(autouse=True)
def quick_flushes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs flush every half second, so a short run leaves heartbeats and rows behind."""
    monkeypatch.setenv("XPROF_FLUSH_INTERVAL", "0.5")
    monkeypatch.delenv("XPROF_METRICS_FILE", raising=False)
    monkeypatch.delenv("XPROF_RUN_ID", raising=False)


def rows(store, table: str, run_id: str, order: str = "ts") -> list[dict[str, Any]]:
    """Every row of ``table`` for the run, ordered."""
    from xprof import schema

    t = schema.metadata.tables[table]
    with store.read() as conn:
        return [dict(r) for r in conn.execute(
            sa.select(t).where(t.c.run_id == run_id).order_by(t.c[order])).mappings()]


def params_of(store, run_id: str) -> dict[str, str]:
    return dict(store.run_details(run_id)["params"])


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real MLflow tracking store on SQLite, migrated once for the session."""
    from xprof.collector.mlflow_bridge import client_for

    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    uri = f"sqlite:///{path}"
    client_for(uri)  # creates and migrates the database
    return uri
