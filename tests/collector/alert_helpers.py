"""Shared pieces of the alert tests: settings with rules, run rows as the agent writes them,
and the alerts_sent table read back."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from tests.collector.helpers import cpu_hardware
from xprof import schema
from xprof.settings import Settings
from xprof.store import Store


def settings_with(rules: list[dict[str, Any]], smtp: Any = None,
                  budgets: list[dict[str, Any]] | None = None, **extra: Any) -> Settings:
    """Settings whose config holds these [[alerts]] (and [[budgets]]) tables."""
    config: dict[str, Any] = {"alerts": rules, **extra}
    if budgets is not None:
        config["budgets"] = budgets
    if smtp is not None:
        config.update(smtp.settings())
    return Settings(config=config)


def agent_run(project: str = "vision", started_at: dt.datetime | None = None,
              name: str = "brisk-otter-17") -> dict[str, Any]:
    """A runs row as the agent creates it (status running)."""
    started = started_at or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    return {
        "id": uuid.uuid4().hex, "name": name, "project": project, "status": "running",
        "started_at": started, "heartbeat_at": started, "interval_s": 1.0,
        "flush_interval_s": 2.0, "command": ["python", "train.py", "--lr", "3e-4"],
        "cwd": "/home/me/vision", "host": "gpu-box-3", "user": "me", "os": "Linux-6.8",
        "python": "3.11.7", "hardware": cpu_hardware(8, 32 * 2**30),
        "objective_name": "val_acc", "objective_mode": "max", "agent_version": "0.1.0",
        "hypothesis": None, "expectation": None, "budget": None,
    }


def sent_rows(store: Store) -> list[dict[str, Any]]:
    t = schema.alerts_sent
    with store.read() as conn:
        return [dict(m) for m in conn.execute(
            sa.select(t).order_by(t.c.rule, t.c.subject, t.c.channel)).mappings()]


def stored_run(store: Store, *, started_at: dt.datetime, duration_s: float | None,
               status: str = "finished", exit_code: int | None = None,
               heartbeat_at: dt.datetime | None = None, project: str = "vision",
               name: str = "brisk-otter-17", host: str | None = None) -> dict[str, Any]:
    """A run in the store as its agent left it (ended, failed, running, or crashed: running
    with a stale heartbeat); returns the row. Runs overlapping on one host share it."""
    run = agent_run(project, started_at, name)
    if host is not None:
        run["host"] = host
    ended = started_at + dt.timedelta(seconds=duration_s) if duration_s is not None else None
    run.update(status=status, ended_at=ended, duration_s=duration_s,
               heartbeat_at=heartbeat_at or ended or started_at,
               exit_code=exit_code if exit_code is not None else
               (0 if status == "finished" else None))
    store.create_run(run)
    return run
