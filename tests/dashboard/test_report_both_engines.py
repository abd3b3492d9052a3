"""The report's numbers are the same on SQLite and PostgreSQL (the team store)."""

from __future__ import annotations

from typing import Any

from tests.dashboard.report_seed import seed
from xprof.dashboard.report import build_report
from xprof.dashboard.report_period import iso_week
from xprof.dashboard.report_render import to_plain
from xprof.store import Store

VARYING = {"run_id", "id", "generated_at", "created_at"}  # uuids and clocks differ per seed


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VARYING}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def test_same_report_on_both_engines(pg_url, tmp_path) -> None:
    """Every figure of the W47 report (totals, breakdowns, GPU-hours, ranking) agrees."""
    reports = []
    for url in (f"sqlite:///{tmp_path / 'x.db'}", pg_url):
        store = Store.open(url)
        seed(store)
        reports.append(_strip(to_plain(build_report(store, iso_week("2026-W47")))))
        store.engine.dispose()
    sqlite, postgres = reports
    assert sqlite["totals"] and sqlite["gpu"]["hours_paid"] == 38.0
    for key in sqlite:
        assert postgres[key] == sqlite[key], key
