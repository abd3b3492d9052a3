"""The potential saving counts each run once: overlapping rules do not double a total."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from xprof import schema
from xprof.dashboard.queries import saving_totals


def _run(run_id: str, project: str) -> dict:
    t = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    return {"id": run_id, "name": run_id, "project": project, "status": "finished",
            "started_at": t, "heartbeat_at": t, "interval_s": 1.0, "flush_interval_s": 2.0,
            "command": ["python"], "host": "h"}


def test_overlapping_rules_count_once(store):
    """Run A has idle-GPU ($100/month) and underuse ($80/month) advice naming the same
    machine, run B $50: the total is $150, by rule each rule keeps its own figure."""
    t = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    store.create_run(_run("a" * 32, "p"))
    store.create_run(_run("b" * 32, "p"))
    rows = [("a" * 32, "idle_gpus", "100"), ("a" * 32, "gpu_underused", "80"),
            ("b" * 32, "idle_gpus", "50")]
    with store.write() as conn:
        conn.execute(schema.recommendations.insert(), [
            {"run_id": r, "project": "p", "rule": rule, "severity": "warn", "title": rule,
             "evidence": {}, "saving_per_run": Decimal(s) / 10, "saving_per_month": Decimal(s),
             "currency": "USD", "status": "open", "created_at": t, "updated_at": t}
            for r, rule, s in rows])
    total = saving_totals(store)
    assert len(total) == 1 and Decimal(str(total["saving_per_month"][0])) == Decimal("150")
    assert int(total["n"][0]) == 2
    by_project = saving_totals(store, by="project")
    assert Decimal(str(by_project["saving_per_month"][0])) == Decimal("150")
    by_rule = {r["rule"]: Decimal(str(r["saving_per_month"]))
               for r in saving_totals(store, by="rule").to_dict("records")}
    assert by_rule == {"idle_gpus": Decimal("150"), "gpu_underused": Decimal("80")}
