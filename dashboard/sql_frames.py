"""Query results as DataFrames, for :mod:`queries` and :mod:`report_queries`."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from xprof.store import effective_status, utcnow


def sql_frame(conn: sa.Connection, query: sa.Executable, params: dict | None = None
              ) -> pd.DataFrame:
    """The result as a DataFrame, built column-wise (Row objects are slow for pandas)."""
    result = conn.execute(query, params or {})
    names = list(result.keys())
    columns = list(zip(*result.fetchall(), strict=True)) or [()] * len(names)
    return pd.DataFrame({name: pd.Series(values, dtype=object)
                         for name, values in zip(names, columns, strict=True)}, columns=names)


def with_effective_status(frame: pd.DataFrame, now: dt.datetime | None = None) -> pd.DataFrame:
    """Replace ``status`` by the effective one (stale `running` -> `crashed`)."""
    now = now or utcnow()
    running = frame["status"] == "running"
    if running.any():
        frame.loc[running, "status"] = [
            effective_status(s, hb, fi, now) for s, hb, fi in zip(
                frame.loc[running, "status"], frame.loc[running, "heartbeat_at"],
                frame.loc[running, "flush_interval_s"], strict=True)]
    return frame.drop(columns=["heartbeat_at", "flush_interval_s"])
